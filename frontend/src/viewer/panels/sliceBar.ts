/**
 * Under the image: "Slice z / n" with the slice's embedding readiness, the slider, and a thin bar with a
 * green mark per slice whose embedding is ready (white: the slice shown).
 */

import { h } from "../../ui/dom";
import type { Dispatch } from "../bus";
import type { ViewerState } from "../state";

export type SliceBarState = Pick<ViewerState, "slice" | "ready"> & { depth: number };

export function sliceLabel(state: SliceBarState): { text: string; ready: boolean } {
  return { text: `Slice ${state.slice + 1} / ${state.depth}`, ready: state.ready.has(state.slice) };
}

/** The readiness bar's marks, in pixels of a bar `width` wide: ready slices, then the current one. */
export function readinessMarks(state: SliceBarState, width: number): { x: number; width: number; current: boolean }[] {
  const w = Math.max(1, Math.ceil(width / state.depth));
  const at = (z: number) => Math.floor((z * width) / state.depth);
  return [...[...state.ready].map((z) => ({ x: at(z), width: w, current: false })), { x: at(state.slice), width: w, current: true }];
}

export class SliceBar {
  readonly slider = h("input", { type: "range", min: 0, max: 0, value: 0, class: "slice-slider", "aria-label": "Slice" });
  readonly readiness = h("canvas", { class: "readiness", height: 6, title: "Green: the slice's embedding is ready" });
  readonly label = h("span", { class: "slice-label" });

  readonly element = h("div", { class: "slice-bar" }, this.label, h("div", { class: "slider-wrap" }, this.slider, this.readiness));

  /** Moving the slider goes to its slice. */
  listen(dispatch: Dispatch): void {
    this.slider.addEventListener("input", () => dispatch({ type: "slice.go", index: Number(this.slider.value) }));
  }

  /** Size the slider and the bar for a series of `depth` slices. */
  setDepth(depth: number): void {
    this.slider.max = String(depth - 1);
    this.slider.disabled = depth <= 1;
    this.readiness.width = Math.min(depth, 1024);
  }

  render(state: SliceBarState): void {
    this.slider.value = String(state.slice);
    const ctx = this.readiness.getContext("2d");
    if (ctx) {
      const w = this.readiness.width;
      ctx.fillStyle = "#3a4150";
      ctx.fillRect(0, 0, w, 6);
      for (const mark of readinessMarks(state, w)) {
        ctx.fillStyle = mark.current ? "#fff" : "#43a047";
        ctx.fillRect(mark.x, 0, mark.width, 6);
      }
      this.readiness.title = `${state.ready.size} of ${state.depth} slices have their embedding ready`;
    }
    const { text, ready } = sliceLabel(state);
    this.label.textContent = text;
    const title = ready ? "Embedding ready: prompts answer fast" : "Embedding not computed yet: the first prompt waits for it";
    this.label.append(h("span", { class: `embed ${ready ? "ready" : "pending"}`, title }, ready ? " ● ready" : " ○ computing"));
  }
}
