/** The status line (connection, saving, the last hint) and the keyboard help overlay. */

import { describeStatus, type SocketStatus } from "../../socket";
import { h } from "../../ui/dom";
import { describeAutosave, type AutosaveState } from "../autosave";
import { SHORTCUTS } from "../tools";

export function connectionText(status: SocketStatus): string {
  return status.state === "open" ? "● Live" : `○ ${describeStatus(status) ?? "Offline"}`;
}

export class StatusLine {
  readonly connection = h("span", { class: "status-conn" });
  readonly save = h("span", { class: "status-save" });
  readonly hint = h("span", { class: "status-hint" });

  showConnection(status: SocketStatus): void {
    this.connection.textContent = connectionText(status);
    this.connection.className = `status-conn ${status.state}`;
  }

  showSave(state: AutosaveState): void {
    this.save.textContent = describeAutosave(state);
    this.save.className = `status-save ${state.state}`;
  }

  showHint(text: string): void {
    this.hint.textContent = text;
  }
}

/** The serving model as the project payload describes it. */
export interface ModelInfo {
  name: string;
  clicks_trained: boolean;
}

/** What the + / − point tools do with the model prompts are decoded with (the server's guard, ml_worker/click_guard.py). */
export function pointsHelp(model: ModelInfo | null | undefined): string {
  if (!model) return "Points (P, N) refine the model's mask on the slice.";
  if (model.clicks_trained) return `Points (P, N) refine the mask: ${model.name} was trained on corrective clicks.`;
  return (
    `Points (P, N) with ${model.name}: this model learnt from boxes, not clicks, so a point only corrects the mask ` +
    "near it (within the mask's box grown by a margin), and a point after which the model rates its mask lower " +
    "is ignored: the mask stays as it was. For larger corrections use the brush (D) and eraser (E), or draw a new box."
  );
}

/** The help overlay: every row of the tools and shortcuts table, and what points do. Hidden until `?`;
 * its Close button is wired by the screen (it dispatches the help action). */
export function buildHelp(): HTMLElement {
  const close = h("button", { type: "button", class: "help-close" }, "Close");
  const el = h(
    "div",
    { class: "help", hidden: true, role: "dialog", "aria-label": "Keyboard shortcuts", tabindex: -1 },
    close, // first, so it stays in sight (sticky) while the overlay scrolls
    h("h2", {}, "Keyboard shortcuts"),
    h("table", {}, h("tbody", {}, ...SHORTCUTS.map((s) => h("tr", {}, h("th", {}, h("kbd", {}, s.keys)), h("td", {}, s.description))))),
    h("p", { class: "help-points" }, pointsHelp(null)),
  );
  return el;
}

/** Say in the help overlay what points do with this model. */
export function showPointsHelp(help: HTMLElement, model: ModelInfo | null | undefined): void {
  const line = help.querySelector(".help-points");
  if (line) line.textContent = pointsHelp(model);
}
