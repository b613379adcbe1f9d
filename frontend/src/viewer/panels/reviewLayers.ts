/**
 * The review layers panel: one row per annotator and label (and the consensus), in the annotator's colour,
 * with an eye that shows or hides it and a History button; under it the revision history of the chosen
 * layer (who, when, how, which model) with Restore where this viewer may restore.
 */

import { clear, h } from "../../ui/dom";
import type { Dispatch } from "../bus";
import { layerRows, revisionLine } from "../reviewState";
import type { ViewerState } from "../state";

export function renderReviewLayers(el: HTMLElement, state: ViewerState, dispatch: Dispatch): void {
  clear(el);
  const review = state.review;
  if (review.mode === "annotate") {
    // One's own masks of the task's labels: their history (and restore).
    const wanted = new Set(review.caseInfo?.task.labels ?? []);
    for (const label of state.labels.filter((l) => !wanted.size || wanted.has(l.id))) {
      const button = h("button", { type: "button", class: "link-button" }, "History");
      button.addEventListener("click", () => dispatch({ type: "review.history", key: `mine:${label.id}` }));
      el.append(h("div", { class: "layer-row own" }, h("span", { class: "swatch", style: `background:${label.color}` }), h("span", { class: "name" }, `My ${label.name}`), button));
    }
  }
  for (const row of layerRows(review, state.labels)) {
    const eye = h("button", { type: "button", class: "eye", title: "Show / hide", "aria-pressed": row.visible }, row.visible ? "●" : "◌");
    eye.addEventListener("click", () => dispatch({ type: "review.layer.toggle", key: row.key }));
    const history = h("button", { type: "button", class: "link-button" }, "History");
    history.addEventListener("click", () => dispatch({ type: "review.history", key: row.key }));
    el.append(
      h(
        "div",
        { class: `layer-row${row.visible ? "" : " hidden-layer"}`, "data-layer": row.key },
        h("span", { class: "swatch", style: `background:${row.color}` }),
        h("span", { class: "name" }, `${row.name} · ${row.label}`),
        h("span", { class: "muted layer-detail", title: row.model }, ` ${row.detail}`),
        eye,
        history,
      ),
    );
  }
}

export function renderHistory(el: HTMLElement, state: ViewerState, dispatch: Dispatch): void {
  clear(el);
  const history = state.review.history;
  el.hidden = !history;
  if (!history) return;
  const label = state.labels.find((l) => l.id === history.labelId)?.name ?? "";
  el.append(h("div", { class: "muted" }, `${history.username ?? "Consensus"} · ${label}`));
  if (!history.revisions.length) el.append(h("p", { class: "muted" }, "Nothing saved yet."));
  history.revisions.forEach((revision, i) => {
    const row = h("div", { class: "revision-row", "data-revision-id": revision.id }, h("span", { title: revision.model_version ?? "" }, revisionLine(revision)));
    if (history.canRestore && i > 0) {
      const restore = h("button", { type: "button", class: "link-button" }, "Restore");
      restore.addEventListener("click", () => dispatch({ type: "review.restore", revisionId: revision.id }));
      row.append(" ", restore);
    }
    el.append(row);
  });
}
