/**
 * The case panel and the comments panel. The case: whose it is, its state and instructions, and the
 * actions of the mode (annotating: Submit and next; reviewing: Approve). Comments: numbered as their
 * markers on the image, each with its slice (a link there) and Resolve; a form to write one, pinned where
 * the Comment tool (C) was clicked, sent as a comment or, reviewing a submitted case, as Request changes.
 */

import { stateLabel } from "../../team";
import { clear, h } from "../../ui/dom";
import type { Dispatch } from "../bus";
import { pinText } from "../reviewState";
import type { ViewerState } from "../state";

export function renderCase(el: HTMLElement, state: ViewerState, dispatch: Dispatch): void {
  clear(el);
  const info = state.review.caseInfo;
  el.hidden = !info;
  if (!info) return;
  const a = info.assignment;
  const mode = state.review.mode;
  el.append(h("div", { class: "case-head" }, h("strong", {}, mode === "annotate" ? "My case" : `${a.username}'s case`), " ", h("span", { class: "chip case-state", "data-state": a.state }, stateLabel(a.state))));
  if (info.task.instructions) el.append(h("p", { class: "muted" }, info.task.instructions));
  if (mode === "annotate") {
    const submit = h("button", { type: "button", class: "primary submit-next" }, "Submit and next");
    submit.disabled = a.state !== "in_progress";
    submit.addEventListener("click", () => dispatch({ type: "case.submit-next" }));
    el.append(submit);
  } else if (mode === "review") {
    const approve = h("button", { type: "button", class: "primary approve" }, "Approve");
    approve.disabled = a.state !== "submitted";
    approve.addEventListener("click", () => dispatch({ type: "review.approve" }));
    el.append(approve);
  }
}

export class CommentsPanel {
  readonly element: HTMLElement;
  private readonly list = h("ol", { class: "comment-list" });
  private readonly pin = h("div", { class: "muted comment-pin" });
  private readonly text = h("textarea", { class: "comment-text", rows: 3, placeholder: "Write a comment…", "aria-label": "Comment" });
  private readonly send = h("button", { type: "button", class: "send-comment" }, "Comment");
  private readonly requestChanges = h("button", { type: "button", class: "request-changes" }, "Request changes");
  private readonly listDispatch: Dispatch;

  constructor(dispatch: Dispatch) {
    this.element = h("div", { class: "comments" }, this.list, this.pin, this.text, h("div", { class: "row" }, this.send, this.requestChanges));
    const submit = (requestChanges: boolean) => {
      const text = this.text.value.trim();
      if (!text) return this.text.focus();
      dispatch({ type: "comment.send", text, requestChanges });
      this.text.value = "";
    };
    this.send.addEventListener("click", () => submit(false));
    this.requestChanges.addEventListener("click", () => submit(true));
    this.listDispatch = dispatch;
  }

  render(state: ViewerState): void {
    const review = state.review;
    this.element.hidden = !review.caseInfo;
    clear(this.list);
    review.comments.forEach((c) => {
      const where = c.slice_index !== null && c.slice_index !== undefined ? h("button", { type: "button", class: "link-button goto" }, `slice ${c.slice_index + 1}`) : null;
      where?.addEventListener("click", () => this.listDispatch({ type: "slice.go", index: c.slice_index! }));
      const resolve = h("button", { type: "button", class: "link-button resolve" }, c.resolved ? "Reopen" : "Resolve");
      resolve.addEventListener("click", () => this.listDispatch({ type: "comment.resolve", id: c.id, resolved: !c.resolved }));
      this.list.append(
        h(
          "li",
          { class: `comment${c.resolved ? " resolved" : ""}${c.requests_changes ? " requests-changes" : ""}`, "data-comment-id": c.id },
          h("strong", {}, c.author),
          c.requests_changes ? h("span", { class: "chip" }, "changes requested") : null,
          " ",
          h("span", { class: "comment-body" }, c.text),
          " ",
          where,
          " ",
          resolve,
        ),
      );
    });
    if (!review.comments.length) this.list.append(h("li", { class: "muted empty" }, "No comments."));
    this.pin.textContent = review.pin ? `Pinned at ${pinText(review.pin)}` : "Click the image with the Comment tool (C) to pin it to a place.";
    this.requestChanges.hidden = review.mode !== "review";
    this.requestChanges.disabled = review.caseInfo?.assignment.state !== "submitted";
  }
}
