/**
 * One place where the user hears about problems: a status line for the connection and saving, and
 * dismissible error messages. Uncaught errors end up here too, so a failure never leaves a frozen screen.
 */

import { ApiError } from "../api";
import { ConnectionLostError, ServerError, SupersededError } from "../socket";
import { h } from "./dom";

export type Tone = "info" | "ok" | "warn" | "error";

export class Banner {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;

  constructor() {
    this.list = h("div", { class: "banner-list" });
    this.element = h("div", { class: "banner", role: "status", "aria-live": "polite" }, this.list);
  }

  /** Show a message; errors stay until dismissed, others fade after `ms`. Returns a function to remove it. */
  show(
    message: string,
    tone: Tone = "info",
    ms: number | null = tone === "error" ? null : 4000,
    actions: { label: string; run: () => void }[] = [],
  ): () => void {
    const close = h("button", { class: "banner-close", "aria-label": "Dismiss", type: "button" }, "×");
    const buttons = actions.map((a) => h("button", { type: "button", class: "banner-action" }, a.label));
    const item = h("div", { class: `banner-item ${tone}`, role: tone === "error" ? "alert" : "status" }, h("span", {}, message), ...buttons, close);
    const remove = () => item.remove();
    close.addEventListener("click", remove);
    buttons.forEach((b, i) =>
      b.addEventListener("click", () => {
        remove();
        actions[i]!.run();
      }),
    );
    // the same message twice in a row is shown once
    const last = this.list.lastElementChild;
    if (last?.firstElementChild?.textContent === message) last.remove();
    this.list.appendChild(item);
    while (this.list.children.length > 4) this.list.firstElementChild!.remove();
    if (ms !== null) setTimeout(remove, ms);
    return remove;
  }

  error(error: unknown, context?: string): void {
    const message = readableError(error);
    if (message) this.show(context ? `${context}: ${message}` : message, "error");
  }

  /** Route uncaught errors and rejected promises here. */
  catchGlobal(win: Window = window): void {
    win.addEventListener("error", (ev) => this.error(ev.error ?? ev.message));
    win.addEventListener("unhandledrejection", (ev) => this.error(ev.reason));
  }
}

/** A sentence for any error; null for ones the user need not hear about (a superseded prompt). */
export function readableError(error: unknown): string | null {
  if (error instanceof SupersededError) return null;
  if (error instanceof ApiError || error instanceof ServerError || error instanceof ConnectionLostError) return error.message;
  if (error instanceof Error) return `Something went wrong: ${error.message}`;
  if (typeof error === "string") return error;
  return "Something went wrong.";
}
