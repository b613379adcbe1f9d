/** The project list: every project the user is a member of, with its labels and the user's role. */

import { Api } from "../api";
import { endpoints, type ProjectInfo } from "../endpoints";
import type { PageContext } from "../pageContext";
import { header } from "../ui/chrome";
import { h } from "../ui/dom";
import { mountMyInvitations } from "./invitePanel";
import { mountNewProject } from "./newProject";

export function projectCard(project: ProjectInfo): HTMLElement {
  return h(
    "a",
    { class: "card project-card", href: `/projects/${project.id}/`, "data-project-id": project.id },
    h("h2", {}, project.name),
    project.description ? h("p", { class: "muted" }, project.description) : null,
    h(
      "div",
      { class: "chips" },
      ...project.labels.map((l) => h("span", { class: "chip", style: `--chip:${l.color}` }, l.name)),
    ),
    h("p", { class: "role" }, `Your role: ${project.role ?? "—"}`),
  );
}

export async function mount(ctx: PageContext): Promise<void> {
  const api = new Api();
  const list = h("div", { class: "grid" }, h("p", { class: "muted" }, "Loading projects…"));
  const load = async () => {
    try {
      const projects = await api.get<ProjectInfo[]>(endpoints.projects());
      list.replaceChildren(
        ...(projects.length
          ? projects.map(projectCard)
          : [h("p", { class: "muted" }, "You are not a member of any project yet. Create one, or ask a project owner for an invitation.")]),
      );
    } catch (error) {
      list.replaceChildren(h("p", { class: "error" }, "The projects could not be loaded."));
      ctx.banner.error(error, "Loading projects");
    }
  };
  const invitations = mountMyInvitations((accepted) => {
    ctx.banner.show(`You joined ${accepted.project_name} as ${accepted.role}.`, "ok");
    void load();
  }, api);
  ctx.root.append(header(ctx.username), h("main", { class: "page" }, h("h1", {}, "Projects"), invitations.element, mountNewProject(api), list));
  await load();
}
