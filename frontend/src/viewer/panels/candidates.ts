/** The "Mask" panel: the model's candidate masks with their predicted IoU, or what to do next. */

import { clear, h } from "../../ui/dom";
import type { Dispatch } from "../bus";
import type { ViewerState } from "../state";

export interface CandidatePanel {
  /** the muted lines shown above or instead of the choices */
  notes: string[];
  choices: { text: string; active: boolean }[];
}

export function candidatePanel(state: Pick<ViewerState, "candidate" | "promptPending" | "ready" | "slice" | "readOnly">): CandidatePanel {
  const notes: string[] = [];
  if (state.promptPending) notes.push(state.ready.has(state.slice) ? "Segmenting…" : "Computing this slice's embedding, then segmenting…");
  const c = state.candidate;
  if (!c) {
    if (!state.promptPending) notes.push(state.readOnly ? "Read-only." : "Draw a box around a structure.");
    return { notes, choices: [] };
  }
  return { notes, choices: c.masks.map((m, i) => ({ text: `Mask ${i + 1} · IoU ${m.iou.toFixed(2)}`, active: i === c.index })) };
}

export function renderCandidates(el: HTMLElement, state: ViewerState, dispatch: Dispatch): void {
  clear(el);
  const panel = candidatePanel(state);
  for (const note of panel.notes) el.append(h("p", { class: "muted" }, note));
  if (!state.candidate) return;
  const row = h("div", { class: "candidate-choices" });
  panel.choices.forEach((choice, index) => {
    const b = h("button", { type: "button", class: choice.active ? "active" : "", title: "Tab cycles the candidates" }, choice.text);
    b.addEventListener("click", () => dispatch({ type: "candidate.choose", index }));
    row.append(b);
  });
  el.append(row, h("p", { class: "muted" }, "Enter accepts · Esc discards · points refine"));
}
