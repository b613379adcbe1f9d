/**
 * The project page's "Annotation time" card: the timing studies one takes part in (or, for the owner, all
 * of them, with their reports), the owner's study designer (series × label cases, participants, the
 * assisted condition's model, seed, washout, instructions) and idle threshold, the CSV exports of active
 * time, and the dashboard per model version for owners and reviewers.
 */

import { ApiError, type Api } from "../api";
import type { LabelInfo, ProjectInfo, SeriesInfo, StudyInfo } from "../endpoints";
import { clear, h } from "../ui/dom";
import { cellKey, planSummary, studyBody } from "./designer";
import { endpointsTiming, type StudySummary } from "./endpoints";
import { dashboardTable, type VersionRow } from "./tables";

interface Member {
  id?: number;
  user?: number;
  username: string;
  role: string;
}

export function mountTimingPanel(project: ProjectInfo, api: Api): HTMLElement {
  const list = h("div", { class: "timing-studies" }, h("p", { class: "muted" }, "Loading…"));
  const card = h("section", { class: "card timing-panel" }, h("h2", {}, "Annotation time"), list);
  const owner = project.role === "owner";
  const reviews = owner || project.role === "reviewer";
  const loadList = async () => {
    try {
      const studies = await api.get<StudySummary[]>(endpointsTiming.studies(project.id));
      clear(list);
      if (!studies.length) list.append(h("p", { class: "muted" }, owner ? "No timing study yet." : "You are in no timing study."));
      for (const s of studies) {
        list.append(
          h(
            "div",
            { class: "timing-study", "data-study-id": s.id },
            h("strong", {}, s.name),
            s.simulated ? h("span", { class: "chip simulated" }, "simulated") : null,
            h("span", { class: "muted" }, ` · ${s.cases} cases × ${s.participants} participants · seed ${s.seed}`),
            " ",
            h("a", { href: endpointsTiming.studyPage(project.id, s.id), class: "study-open" }, "My tasks"),
            reviews ? h("span", {}, " · ", h("a", { href: endpointsTiming.reportPage(project.id, s.id), class: "study-report" }, "Report")) : null,
          ),
        );
      }
    } catch (error) {
      list.replaceChildren(h("p", { class: "muted" }, (error as Error).message));
    }
  };
  void loadList();
  if (reviews) {
    const dashboard = h("div", { class: "model-dashboard" }, h("p", { class: "muted" }, "Loading…"));
    card.append(
      h("h3", {}, "Time per model version"),
      dashboard,
      h(
        "p",
        {},
        "Active time as CSV: ",
        h("a", { href: endpointsTiming.csv(project.id, "tasks"), download: "" }, "tasks"),
        " · ",
        h("a", { href: endpointsTiming.csv(project.id, "masks"), download: "" }, "masks"),
      ),
    );
    api
      .get<VersionRow[]>(endpointsTiming.modelVersions(project.id))
      .then((rows) => dashboard.replaceChildren(rows.length ? dashboardTable(rows) : h("p", { class: "muted" }, "No logged work yet.")))
      .catch((error) => dashboard.replaceChildren(h("p", { class: "muted" }, (error as Error).message)));
  }
  if (owner) card.append(designer(project, api, () => void loadList()));
  return card;
}

function designer(project: ProjectInfo, api: Api, created: () => void): HTMLElement {
  const form = h("form", { class: "study-designer" });
  const name = h("input", { name: "name", placeholder: "e.g. Nodule timing, round 1", required: true });
  const grid = h("div", { class: "case-grid" }, h("p", { class: "muted" }, "Loading the series…"));
  const people = h("div", { class: "participants" });
  const model = h("select", { name: "model_version" });
  const seed = h("input", { name: "seed", type: "number", min: 0, placeholder: "random (recorded)" });
  const washout = h("input", { name: "washout", type: "number", min: 0, max: 20, value: 1 });
  const instructions = h("textarea", { name: "instructions", rows: 3, placeholder: "Instructions shown to participants (a default text is used if empty)" });
  const idle = h("input", { name: "idle", type: "number", min: 5, max: 600, step: 1 });
  const summary = h("p", { class: "muted plan-summary" });
  const status = h("p", { class: "designer-status", role: "status" });
  const cells = new Set<string>();
  const participants = new Set<number>();
  const refresh = () => (summary.textContent = planSummary(cells.size, participants.size));
  const saveIdle = h("button", { type: "button" }, "Save");
  form.append(
    h("h3", {}, "New timing study"),
    h("label", {}, "Name ", name),
    h("div", { class: "field" }, h("div", {}, "Cases: tick the label to draw on each series"), grid),
    h("div", { class: "field" }, h("div", {}, "Participants"), people),
    h("label", {}, "Conditions: manual (no model) and assisted with ", model),
    h("div", { class: "row" }, h("label", {}, "Seed ", seed), h("label", {}, " Washout (tasks between the same images) ", washout)),
    h("label", {}, "Instructions", instructions),
    summary,
    h("button", { type: "submit", class: "primary" }, "Create the study"),
    status,
    h("p", { class: "idle-setting" }, "Idle threshold for this project: ", idle, " s ", saveIdle),
  );
  saveIdle.addEventListener("click", async () => {
    try {
      await api.json(endpointsTiming.settings(project.id), { method: "PUT", body: { idle_threshold_s: Number(idle.value) } });
      status.textContent = `Idle threshold saved: ${idle.value} s.`;
    } catch (error) {
      status.textContent = (error as Error).message;
    }
  });
  void Promise.all([
    api.get<StudyInfo[]>(endpointsTiming.studies_of_project(project.id)),
    api.get<Member[]>(endpointsTiming.members(project.id)),
    api.get<{ idle_threshold_s: number; serving_model_version: string }>(endpointsTiming.settings(project.id)),
  ])
    .then(([studies, members, settings]) => {
      idle.value = String(settings.idle_threshold_s);
      model.append(h("option", { value: settings.serving_model_version }, `${settings.serving_model_version} (serving)`));
      caseGrid(grid, studies.flatMap((s) => s.series), project.labels, cells, refresh);
      for (const m of members.filter((m) => m.role !== "reviewer")) {
        const id = m.user ?? m.id!;
        const box = h("input", { type: "checkbox", value: id, "data-username": m.username });
        box.addEventListener("change", () => (box.checked ? participants.add(id) : participants.delete(id), refresh()));
        people.append(h("label", { class: "inline" }, box, ` ${m.username} `));
      }
    })
    .catch((error) => (status.textContent = (error as Error).message));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const request = studyBody({
      name: name.value,
      cells,
      participants,
      modelVersion: model.value,
      seed: seed.value,
      washout: washout.value,
      instructions: instructions.value,
    });
    if ("error" in request) {
      status.textContent = request.error;
      return;
    }
    try {
      const study = await api.post<StudySummary>(endpointsTiming.studies(project.id), request.body);
      status.textContent = `Created “${study.name}” (seed ${study.seed}).`;
      created();
    } catch (error) {
      status.textContent = error instanceof ApiError ? error.message : String(error);
    }
  });
  return form;
}

function caseGrid(grid: HTMLElement, series: SeriesInfo[], labels: LabelInfo[], cells: Set<string>, changed: () => void): void {
  if (!series.length || !labels.length) {
    grid.replaceChildren(h("p", { class: "muted" }, "The project needs series and labels first."));
    return;
  }
  const head = h("tr", {}, h("th", {}, "Series"), ...labels.map((l) => h("th", {}, l.name)));
  const rows = series.map((s) =>
    h(
      "tr",
      {},
      h("td", {}, s.description || `${s.modality} series ${s.id}`),
      ...labels.map((l) => {
        const box = h("input", { type: "checkbox", "data-case": cellKey(s.id, l.id), "aria-label": `${l.name} on series ${s.id}` });
        box.addEventListener("change", () => (box.checked ? cells.add(cellKey(s.id, l.id)) : cells.delete(cellKey(s.id, l.id)), changed()));
        return h("td", {}, box);
      }),
    ),
  );
  grid.replaceChildren(h("table", { class: "cases" }, h("thead", {}, head), h("tbody", {}, ...rows)));
}
