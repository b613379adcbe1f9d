/**
 * The case's side panels (case, layers, history, comments, agreement), built by the page and inserted
 * into the viewer's side column; `review()` redraws them from `state.review` (the review part's view).
 */

import { h } from "../ui/dom";
import type { Dispatch } from "./bus";
import { renderAgreement } from "./panels/agreement";
import { CommentsPanel, renderCase } from "./panels/comments";
import { renderHistory, renderReviewLayers } from "./panels/reviewLayers";
import type { ReviewView } from "./review";
import type { ViewerState } from "./state";

export class ReviewScreen implements ReviewView {
  readonly element: HTMLElement;
  private readonly caseBox = h("div", { class: "case-panel" });
  private readonly layers = h("div", { class: "review-layers" });
  private readonly history = h("div", { class: "revision-history" });
  private readonly agreement = h("div", { class: "agreement" });
  private readonly comments: CommentsPanel;
  private readonly layersTitle = h("h3", {}, "Layers");
  private readonly commentsTitle = h("h3", {}, "Comments");
  private readonly agreementTitle = h("h3", {}, "Agreement");

  constructor(
    private readonly state: ViewerState,
    private readonly dispatch: Dispatch,
    private readonly screen: Pick<ReviewView, "mask" | "redraw">,
  ) {
    this.comments = new CommentsPanel(dispatch);
    this.element = h(
      "div",
      { class: "review-side" },
      this.caseBox,
      this.layersTitle,
      this.layers,
      this.history,
      this.commentsTitle,
      this.comments.element,
      this.agreementTitle,
      this.agreement,
    );
    this.review();
  }

  review(): void {
    const { state, dispatch } = this;
    const mode = state.review.mode;
    renderCase(this.caseBox, state, dispatch);
    renderReviewLayers(this.layers, state, dispatch);
    renderHistory(this.history, state, dispatch);
    this.comments.render(state);
    renderAgreement(this.agreement, state, dispatch);
    this.layersTitle.hidden = this.layers.hidden = mode === null;
    this.commentsTitle.hidden = this.comments.element.hidden;
    this.agreementTitle.hidden = this.agreement.hidden;
  }

  mask(): void {
    this.screen.mask();
  }

  redraw(): void {
    this.screen.redraw();
  }
}
