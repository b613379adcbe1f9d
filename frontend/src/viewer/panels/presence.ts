/** Who else is on this series, and on which slice of which plane: a click goes there. */

import type { PresenceUser } from "../../protocol";
import { clear, h } from "../../ui/dom";
import type { Dispatch } from "../bus";
import type { Plane } from "../planes";

export interface PresenceEntry {
  text: string;
  slice: number | null;
  /** set when they look at another plane than the axial one */
  plane?: Plane;
}

/** Everyone but me, as the panel lists them ("jon · slice 12", "ines · coronal 240"). */
export function presenceEntries(users: readonly PresenceUser[], me: string): PresenceEntry[] {
  return users
    .filter((u) => u.username !== me)
    .map((u) => {
      const plane = u.plane && u.plane !== "axial" ? u.plane : undefined;
      const where = u.slice_index !== null ? ` · ${plane ?? "slice"} ${u.slice_index + 1}` : "";
      return { text: `${u.username}${where}`, slice: u.slice_index, ...(plane ? { plane } : {}) };
    });
}

export function renderPresence(el: HTMLElement, users: readonly PresenceUser[], me: string, dispatch: Dispatch): void {
  clear(el);
  const others = presenceEntries(users, me);
  if (!others.length) el.append(h("p", { class: "muted" }, "Only you."));
  for (const entry of others) {
    const b = h("button", { type: "button", class: "link-button", title: "Go to their slice" }, entry.text);
    b.addEventListener("click", () => {
      if (entry.slice === null) return;
      dispatch({ type: "plane.select", plane: entry.plane ?? "axial" });
      dispatch({ type: "slice.go", index: entry.slice });
    });
    el.append(h("div", { class: "presence-user" }, b));
  }
}
