/**
 * Under the image: "Slice z / n" (or "Coronal y / n") with the slice's embedding readiness, the slider, a
 * thin bar with a green mark per slice whose embedding is ready (white: the slice shown), and under it a
 * mark per slice holding a mask, in its label's colour (`[` / `]` jump between them).
 */

import { h } from "../../ui/dom";
import { annotationRects, type SliceMarks } from "../annotations";
import type { Dispatch } from "../bus";
import { planeName, type Plane } from "../planes";
import type { ViewerState } from "../state";

export type SliceBarState = Pick<ViewerState, "slice" | "ready"> & { depth: number; plane?: Plane; marks?: readonly SliceMarks[] };

export function sliceLabel(state: SliceBarState): { text: string; ready: boolean } {
  const name = !state.plane || state.plane === "axial" ? "Slice" : planeName(state.plane);
  return { text: `${name} ${state.slice + 1} / ${state.depth}`, ready: state.ready.has(state.slice) };
}

/** The annotation bar's title: which slices (numbered from 1) hold a mask. */
export function annotatedTitle(marks: readonly SliceMarks[]): string {
  const slices = [...new Set(marks.flatMap((m) => m.slices))].sort((a, b) => a - b);
  if (!slices.length) return "No slice holds a mask yet";
  const shown = slices.slice(0, 20).map((z) => z + 1).join(", ");
  return `Masks on slice${slices.length > 1 ? "s" : ""} ${shown}${slices.length > 20 ? ", …" : ""} ([ / ] to jump)`;
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
  readonly annotated = h("canvas", { class: "annotated", height: 6, title: "No slice holds a mask yet" });
  readonly label = h("span", { class: "slice-label" });

  readonly element = h("div", { class: "slice-bar" }, this.label, h("div", { class: "slider-wrap" }, this.slider, this.readiness, this.annotated));

  /** Moving the slider goes to its slice. */
  listen(dispatch: Dispatch): void {
    this.slider.addEventListener("input", () => dispatch({ type: "slice.go", index: Number(this.slider.value) }));
  }

  /** Size the slider and the bar for a series of `depth` slices. */
  setDepth(depth: number): void {
    this.slider.max = String(depth - 1);
    this.slider.disabled = depth <= 1;
    this.readiness.width = this.annotated.width = Math.min(depth, 1024);
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
    const marks = state.marks ?? [];
    const annotated = this.annotated.getContext("2d");
    if (annotated) {
      const w = this.annotated.width;
      annotated.clearRect(0, 0, w, 6);
      for (const r of annotationRects(marks, state.depth, w, 6)) {
        annotated.fillStyle = r.color;
        annotated.fillRect(r.x, r.y, r.width, r.height);
      }
    }
    this.annotated.title = annotatedTitle(marks);
    this.annotated.dataset.slices = [...new Set(marks.flatMap((m) => m.slices))].sort((a, b) => a - b).join(",");
    const { text, ready } = sliceLabel(state);
    this.label.textContent = text;
    const title = ready ? "Embedding ready: prompts answer fast" : "Embedding not computed yet: the first prompt waits for it";
    this.label.append(h("span", { class: `embed ${ready ? "ready" : "pending"}`, title }, ready ? " ● ready" : " ○ computing"));
  }
}
