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

/** The help overlay: every row of the tools and shortcuts table. Hidden until `?`. */
export function buildHelp(): HTMLElement {
  const close = h("button", { type: "button", class: "help-close" }, "Close");
  const el = h(
    "div",
    { class: "help", hidden: true, role: "dialog", "aria-label": "Keyboard shortcuts" },
    h("h2", {}, "Keyboard shortcuts"),
    h("table", {}, h("tbody", {}, ...SHORTCUTS.map((s) => h("tr", {}, h("th", {}, h("kbd", {}, s.keys)), h("td", {}, s.description))))),
    close,
  );
  close.addEventListener("click", () => (el.hidden = true));
  return el;
}
