/** The header every page shares: product name, breadcrumbs, user and log out. */

import { h } from "./dom";

export function header(username: string, crumbs: { text: string; href?: string }[] = []): HTMLElement {
  const logout = h("button", { type: "button", class: "link-button" }, "Log out");
  logout.addEventListener("click", () => (document.getElementById("logout-form") as HTMLFormElement | null)?.submit());
  return h(
    "header",
    { class: "topbar" },
    h("a", { href: "/", class: "brand" }, "Delineate"),
    h(
      "nav",
      { class: "crumbs", "aria-label": "Breadcrumbs" },
      ...crumbs.flatMap((c) => [h("span", { class: "sep" }, "/"), c.href ? h("a", { href: c.href }, c.text) : h("span", {}, c.text)]),
    ),
    h("span", { class: "spacer" }),
    h("span", { class: "user" }, username),
    logout,
  );
}
