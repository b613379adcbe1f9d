/**
 * The agreement panel (reviewing): pairwise Dice between the task's annotators per label, over the volume
 * and on the current slice, and buttons that build the consensus of the active label (majority vote or
 * STAPLE), saved on the server as the consensus layer's next revision.
 */

import { clear, h } from "../../ui/dom";
import type { Dispatch } from "../bus";
import { agreementRows } from "../reviewState";
import type { ViewerState } from "../state";

export function renderAgreement(el: HTMLElement, state: ViewerState, dispatch: Dispatch): void {
  clear(el);
  el.hidden = state.review.mode !== "review";
  if (el.hidden) return;
  const rows = agreementRows(state.review.agreement, state.slice, state.labels);
  el.append(
    rows.length
      ? h(
          "table",
          { class: "agreement-table" },
          h("thead", {}, h("tr", {}, ...["Label", "Annotators", "Dice", `Slice ${state.slice + 1}`].map((t) => h("th", {}, t)))),
          h("tbody", {}, ...rows.map((r) => h("tr", { class: "agreement-row" }, h("td", {}, r.label), h("td", {}, r.pair), h("td", { class: "dice-volume" }, r.volume), h("td", { class: "dice-slice" }, r.slice)))),
        )
      : h("p", { class: "muted" }, "Agreement needs masks from two annotators."),
  );
  const label = state.activeLabel;
  if (!label) return;
  for (const [method, text] of [
    ["majority", "Consensus: majority vote"],
    ["staple", "Consensus: STAPLE"],
  ] as const) {
    const button = h("button", { type: "button", class: `consensus-${method}` }, `${text} (${label.name})`);
    button.addEventListener("click", () => dispatch({ type: "review.consensus", labelId: label.id, method }));
    el.append(button);
  }
}
