/** The label picker: one row per label (click chooses it, 1–9 too) with an eye that hides its masks. */

import type { LabelInfo } from "../../endpoints";
import { clear, h } from "../../ui/dom";
import type { Dispatch } from "../bus";
import type { ViewerState } from "../state";

export interface LabelRow {
  label: LabelInfo;
  active: boolean;
  hidden: boolean;
  /** the digit that chooses it, for the first nine */
  key: string | null;
}

export function labelRows(state: Pick<ViewerState, "labels" | "activeLabel" | "hiddenLabels">): LabelRow[] {
  return state.labels.map((label, i) => ({
    label,
    active: label.id === state.activeLabel?.id,
    hidden: state.hiddenLabels.has(label.id),
    key: i < 9 ? String(i + 1) : null,
  }));
}

export function renderLabels(el: HTMLElement, state: ViewerState, dispatch: Dispatch): void {
  clear(el);
  if (!state.labels.length) el.append(h("p", { class: "muted" }, "This project has no labels yet."));
  for (const { label, active, hidden, key } of labelRows(state)) {
    const eye = h("button", { type: "button", class: "eye", title: "Show / hide", "aria-pressed": !hidden }, hidden ? "◌" : "●");
    eye.addEventListener("click", (ev) => {
      ev.stopPropagation();
      dispatch({ type: "label.visibility", labelId: label.id });
    });
    const row = h(
      "div",
      { class: `label-item${active ? " active" : ""}`, role: "button", tabindex: 0, "data-label-id": label.id },
      h("span", { class: "swatch", style: `background:${label.color}` }),
      h("span", { class: "name" }, label.name),
      key ? h("kbd", {}, key) : null,
      eye,
    );
    row.addEventListener("click", () => dispatch({ type: "label.select", labelId: label.id }));
    el.append(row);
  }
}
