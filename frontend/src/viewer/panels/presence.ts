/** Who else is on this series, and on which slice: a click goes to their slice. */

import type { PresenceUser } from "../../protocol";
import { clear, h } from "../../ui/dom";
import type { Dispatch } from "../bus";

export interface PresenceEntry {
  text: string;
  slice: number | null;
}

/** Everyone but me, as the panel lists them ("jon · slice 12"). */
export function presenceEntries(users: readonly PresenceUser[], me: string): PresenceEntry[] {
  return users
    .filter((u) => u.username !== me)
    .map((u) => ({ text: `${u.username}${u.slice_index !== null ? ` · slice ${u.slice_index + 1}` : ""}`, slice: u.slice_index }));
}

export function renderPresence(el: HTMLElement, users: readonly PresenceUser[], me: string, dispatch: Dispatch): void {
  clear(el);
  const others = presenceEntries(users, me);
  if (!others.length) el.append(h("p", { class: "muted" }, "Only you."));
  for (const entry of others) {
    const b = h("button", { type: "button", class: "link-button", title: "Go to their slice" }, entry.text);
    b.addEventListener("click", () => entry.slice !== null && dispatch({ type: "slice.go", index: entry.slice }));
    el.append(h("div", { class: "presence-user" }, b));
  }
}
