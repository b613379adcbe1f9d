/** The 3D propagation's progress bar and line under the mask panel, with its Cancel button while it runs. */

import { clear, h } from "../../ui/dom";
import type { Dispatch } from "../bus";
import type { RunPhase } from "../propagation";
import type { ViewerState } from "../state";
import { prettyPreset } from "./windowPresets";

export type JobPanel =
  | { kind: "none" }
  | { kind: "starting"; line: string }
  | { kind: "run"; phase: RunPhase; percent: number; title: string; label: string; line: string; cancellable: boolean };

export function jobPanel(state: Pick<ViewerState, "propagation" | "startingJob">): JobPanel {
  if (state.startingJob) return { kind: "starting", line: "Starting the propagation…" };
  const run = state.propagation;
  if (!run) return { kind: "none" };
  const percent = Math.round(100 * run.progress);
  const label = run.phase === "running" ? `Propagating… ${percent}%` : prettyPreset(run.phase);
  return { kind: "run", phase: run.phase, percent, title: run.message, label, line: run.describe(), cancellable: run.phase === "running" };
}

/** Whether a propagation is starting or running (the Propagate button is disabled meanwhile). */
export function propagationBusy(state: Pick<ViewerState, "propagation" | "startingJob">): boolean {
  return state.startingJob || (state.propagation !== null && !state.propagation.ended);
}

export class JobBox {
  // One button element for the whole run: re-rendering on every slice must not swap it under the mouse.
  private readonly cancelButton = h("button", { type: "button", class: "job-cancel", title: "Stop the propagation; slices already filled are kept" }, "Cancel");

  constructor(
    readonly element: HTMLElement,
    dispatch: Dispatch,
  ) {
    this.cancelButton.addEventListener("click", () => dispatch({ type: "propagation.cancel" }));
  }

  render(state: ViewerState): void {
    const el = this.element;
    clear(el);
    const panel = jobPanel(state);
    if (panel.kind === "none") return;
    if (panel.kind === "starting") {
      el.append(h("div", { class: "job-line" }, panel.line));
      return;
    }
    el.dataset.state = panel.phase;
    el.append(
      h(
        "div",
        { class: `progress job-${panel.phase}`, title: panel.title },
        h("div", { class: "progress-fill", style: `width:${panel.percent}%` }),
        h("span", { class: "job-state" }, panel.label),
      ),
      h("div", { class: "job-line" }, panel.line),
    );
    if (panel.cancellable) el.append(this.cancelButton);
  }
}
