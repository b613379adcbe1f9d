/**
 * A project's page: studies with thumbnails and progress, members, labels, the task queue and the model
 * versions. Each section loads on its own, so one endpoint failing (or not existing yet) leaves the others.
 */

import { Api, ApiError } from "../api";
import { endpoints, type ProjectInfo, type SeriesInfo, type StudyInfo, type WindowPresetInfo } from "../endpoints";
import type { PageContext } from "../pageContext";
import { header } from "../ui/chrome";
import { mountExportPanel } from "./exportPanel";
import { mountInvitePanel } from "./invitePanel";
import { mountLabelsPanel } from "./labelsPanel";
import { mountMyTasks } from "./myTasks";
import { mountPacsPanel } from "./pacsPanel";
import { mountTasksPanel } from "./tasksPanel";
import { mountUploadPanel } from "./uploadPanel";
import { h } from "../ui/dom";
import { stateLabel, type MemberInfo } from "../team";
import { mountTimingPanel } from "../timing/projectPanel";

type Member = MemberInfo;

/** The active version's line of the model versions card (pages/models.ts has the page). */
interface ModelVersion {
  number: number;
  version: string;
  active: boolean;
}

function section(title: string): { el: HTMLElement; body: HTMLElement } {
  const body = h("div", { class: "section-body" }, h("p", { class: "muted" }, "Loading…"));
  return { el: h("section", { class: "card" }, h("h2", {}, title), body), body };
}

async function fill<T>(body: HTMLElement, load: () => Promise<T>, render: (value: T) => Node[], empty: string): Promise<void> {
  try {
    const nodes = render(await load());
    body.replaceChildren(...(nodes.length ? nodes : [h("p", { class: "muted" }, empty)]));
  } catch (error) {
    const message =
      error instanceof ApiError && error.status === 404 ? "Not available on this server yet." : (error as Error).message;
    body.replaceChildren(h("p", { class: "muted" }, message));
  }
}

function progressBar(series: SeriesInfo): HTMLElement | null {
  const p = series.progress;
  if (!p || !p.total) return null;
  const done = p.annotated_slices ?? 0;
  const pct = Math.round((100 * done) / p.total);
  return h(
    "div",
    { class: "progress", title: `${done} of ${p.total} slices annotated` },
    h("div", { class: "progress-fill", style: `width:${pct}%` }),
    h("span", {}, `${pct}%`),
  );
}

function thumbnail(series: SeriesInfo): HTMLElement {
  const placeholder = () => h("div", { class: "thumb-placeholder" }, series.modality);
  if (!series.thumbnail_url) return placeholder();
  const img = h("img", { src: series.thumbnail_url, alt: "", loading: "lazy", width: 96, height: 96 });
  img.addEventListener("error", () => img.replaceWith(placeholder()));
  return img;
}

export function seriesTile(series: SeriesInfo): HTMLElement {
  const [depth, height, width] = series.shape;
  return h(
    "a",
    { class: "series-tile", href: `/series/${series.id}/`, "data-series-id": series.id },
    thumbnail(series),
    h("div", {}, h("strong", {}, series.description || `${series.modality} series`), h("div", { class: "muted" }, `${series.modality} · ${width}×${height}${series.kind === "volume" ? ` × ${depth}` : ""}`)),
    progressBar(series),
    series.progress?.state ? h("span", { class: "chip case-state" }, stateLabel(series.progress.state)) : null,
  );
}

export async function mount(ctx: PageContext): Promise<void> {
  const api = new Api();
  const id = ctx.projectId!;
  const title = h("h1", {}, "Project");
  const crumb = { text: "Project" };
  const head = header(ctx.username, [crumb]);
  const studies = section("Studies");
  const labels = section("Labels");
  const members = section("Members");
  const models = section("Model versions");
  // The team workflow (pages/myTasks.ts, tasksPanel.ts, labelsPanel.ts): my cases and Next case, cases to
  // review, and for owners the tasks and the label editor.
  let seriesList: SeriesInfo[] = [];
  const myTasks = mountMyTasks({ projectId: id, role: ctx.role, seriesNames: () => new Map(seriesList.map((s) => [s.id, s.description || `${s.modality} series ${s.id}`])) });
  const tasks = { el: h("div", { class: "tasks-slot" }) };
  ctx.root.append(
    head,
    h(
      "main",
      { class: "page wide" },
      title,
      myTasks.element,
      h("div", { class: "columns" }, h("div", { class: "col-main" }, studies.el, tasks.el), h("div", { class: "col-side" }, labels.el, members.el, models.el, mountExportPanel(id, api).element)),
    ),
  );

  let project: ProjectInfo;
  try {
    project = await api.get<ProjectInfo>(endpoints.project(id));
  } catch (error) {
    ctx.banner.error(error, "Loading the project");
    return;
  }
  title.textContent = project.name;
  title.after(
    h(
      "p",
      { class: "muted project-deid", "data-retain-uids": project.settings.retain_uids === true },
      deidText(project.settings),
    ),
  );
  document.title = `${project.name} · Delineate`;
  head.querySelector(".crumbs span:last-child")!.textContent = project.name;
  labels.body.replaceChildren(
    ...(project.labels.length
      ? project.labels.map((l) => h("div", { class: "label-row" }, h("span", { class: "swatch", style: `background:${l.color}` }), `${l.value}. ${l.name}`, l.window_preset ? h("span", { class: "muted" }, ` (model window: ${l.window_preset})`) : null))
      : [h("p", { class: "muted" }, "No labels yet.")]),
  );

  const loadStudies = () =>
    fill(
      studies.body,
      async () => {
        const list = await api.get<StudyInfo[]>(endpoints.studies(id));
        seriesList = list.flatMap((study) => study.series);
        return list;
      },
      (list) =>
        list.map((study) =>
          h("div", { class: "study" }, h("h3", {}, study.description || "Study", study.study_date ? h("span", { class: "muted" }, ` · ${study.study_date}`) : null), h("div", { class: "series-grid" }, ...study.series.map(seriesTile))),
        ),
      "No studies yet.",
    );
  const loadMembers = () =>
    fill(
      members.body,
      () => api.get<Member[]>(endpoints.members(id)),
      (list) => list.map((m) => h("div", { class: "member", "data-username": m.username }, m.username, h("span", { class: "muted" }, ` · ${m.role}`))),
      "No members.",
    );
  // Annotation time: timing studies (the owner designs them), CSV of active time, time per model version.
  tasks.el.after(mountTimingPanel(project, api));
  // Owner-only actions (the API refuses them to other roles anyway).
  let tasksPanel: ReturnType<typeof mountTasksPanel> | null = null;
  if (project.role === "owner") {
    studies.el.before(mountUploadPanel(id, () => void loadStudies(), api).element);
    studies.el.before(mountPacsPanel(id, () => void loadStudies(), api).element);
    members.el.after(mountInvitePanel(id, () => void loadMembers(), api).element);
    const reload = async () => (await api.get<ProjectInfo>(endpoints.project(id))).labels;
    labels.el.replaceWith(mountLabelsPanel({ projectId: id, api, reload }, project.labels, (project as { window_presets?: WindowPresetInfo[] }).window_presets ?? []).element);
    tasksPanel = mountTasksPanel({ projectId: id, perCase: Number(project.settings.annotations_per_task ?? 1), api, onChanged: () => void Promise.all([loadStudies(), myTasks.refresh()]) });
    tasks.el.replaceWith(tasksPanel.element);
  }

  const loadTeam = async () => {
    await Promise.all([loadStudies(), loadMembers()]);
    await myTasks.refresh();
    if (tasksPanel) {
      const memberList = await api.get<Member[]>(endpoints.members(id)).catch(() => [] as Member[]);
      await tasksPanel.load({ series: seriesList, labels: project.labels, members: memberList });
    }
  };

  await Promise.all([
    loadTeam(),
    fill(
      models.body,
      () => api.get<{ versions: ModelVersion[] }>(endpoints.modelVersions(id)),
      (body) => [
        ...body.versions
          .filter((m) => m.active)
          .map((m) => h("div", { class: "model-version" }, `Active: v${m.number} · ${m.version}`)),
        h("a", { href: `/projects/${id}/models/`, class: "models-link" }, "Model versions, training and metrics →"),
      ],
      "Only the base model so far.",
    ),
  ]);
}

/** The project's de-identification profile and options, as the project page states it. */
export function deidText(settings: Record<string, unknown>): string {
  const uids = settings.retain_uids === true;
  const descriptors = settings.clean_descriptors === true;
  const options = [uids ? "the Retain UIDs Option" : "", descriptors ? "the Clean Descriptors Option" : ""].filter(Boolean).join(" and ");
  const what = [
    "identities removed",
    uids ? "original UIDs kept: exports line up with the PACS" : "UIDs replaced by pseudonymous ones",
    descriptors ? "series descriptions kept, cleaned of names, IDs and dates" : "descriptions removed",
  ].join("; ");
  return `De-identification: PS3.15 basic profile${options ? ` with ${options}` : ""} (${what}).`;
}
