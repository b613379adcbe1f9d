/**
 * A timing study's report page (data-page="study-report"): time saved with its interval and the paired
 * test, the plots (box plot per condition, paired lines per case, time per mask across the study, drawn
 * with Observable Plot), quality against the reference, agreement, interactions per mask, every run, the
 * dashboard per model version, and the CSV / JSON exports. A simulated study says so, with its parameters.
 */

import * as Plot from "@observablehq/plot";
import { Api } from "../api";
import type { PageContext } from "../pageContext";
import { header } from "../ui/chrome";
import { h } from "../ui/dom";
import { endpointsTiming, studyIdFromPath } from "./endpoints";
import { finishedRuns, headline, interactionKinds, pairedPoints, type StudyReport } from "./reportData";
import { dashboardTable, fixed, table, type VersionRow } from "./tables";

const COLORS = { domain: ["manual", "assisted"], range: ["#e6194b", "#4363d8"] };

function figure(name: string, title: string, plot: Element): HTMLElement {
  return h("figure", { class: "plot", "data-plot": name }, h("figcaption", {}, title), plot);
}

export function plots(report: StudyReport): HTMLElement[] {
  const runs = finishedRuns(report);
  if (!runs.length) return [h("p", { class: "muted" }, "The plots appear once participants have finished tasks.")];
  const y = { label: "active time per mask (s)", grid: true, zero: true };
  return [
    figure(
      "box",
      "Active time per mask by condition",
      Plot.plot({ width: 360, height: 300, x: { domain: COLORS.domain, label: null }, y, color: COLORS, marks: [Plot.boxY(runs, { x: "condition", y: "active_s", fill: "condition" })] }),
    ),
    figure(
      "paired",
      "Each case: manual against assisted (mean over participants)",
      Plot.plot({
        width: 360,
        height: 300,
        x: { domain: COLORS.domain, label: null },
        y,
        color: COLORS,
        marks: [Plot.line(pairedPoints(report), { x: "condition", y: "seconds", z: "case", stroke: "#999" }), Plot.dot(pairedPoints(report), { x: "condition", y: "seconds", fill: "condition", r: 4, title: "case" })],
      }),
    ),
    figure(
      "learning",
      "Time per mask across the study (learning effect)",
      Plot.plot({
        width: 480,
        height: 300,
        x: { label: "step in the participant's sequence", ticks: [...new Set(runs.map((r) => r.step))], tickFormat: "d" },
        y,
        color: { ...COLORS, legend: true },
        marks: [
          Plot.dot(runs, { x: "step", y: "active_s", fill: "condition", r: 4, title: (d: { participant: string }) => d.participant }),
          ...(runs.length > 2 ? [Plot.linearRegressionY(runs, { x: "step", y: "active_s", stroke: "condition", ci: 0 })] : []),
        ],
      }),
    ),
  ];
}

function summaryTables(report: StudyReport): HTMLElement[] {
  const conditions = ["manual", "assisted"] as const;
  const kinds = interactionKinds(report);
  return [
    h("h2", {}, "By condition"),
    table(
      ["condition", "masks", "mean (s)", "median (s)", "SD (s)", "Dice", "NSD (2 mm)", ...kinds.map((k) => `${k} / mask`)],
      conditions.map((c) => {
        const d = report.per_condition[c];
        const q = report.quality[c];
        return [c, d.n, fixed(d.mean), fixed(d.median), fixed(d.sd), fixed(q.dice, 3), fixed(q.nsd, 3), ...kinds.map((k) => fixed(q.interactions_per_mask[k] ?? 0, 1))];
      }),
      "data by-condition",
    ),
    h("h2", {}, "By participant"),
    table(
      ["participant", "manual masks", "manual mean (s)", "assisted masks", "assisted mean (s)"],
      Object.entries(report.per_participant).map(([name, p]) => [name, p.manual?.n ?? 0, fixed(p.manual?.mean), p.assisted?.n ?? 0, fixed(p.assisted?.mean)]),
      "data by-participant",
    ),
    h("h2", {}, "Agreement between participants (Dice of their final masks)"),
    table(
      ["case", "all pairs", "manual pairs", "assisted pairs"],
      report.agreement.map((a) => [a.case + 1, fixed(a.dice_all, 3), fixed(a.dice_manual, 3), fixed(a.dice_assisted, 3)]),
      "data agreement",
    ),
    h("h2", {}, "Every task"),
    table(
      ["participant", "step", "case", "series", "label", "condition", "state", "active (s)", "model used", "interactions", "Dice", "NSD"],
      report.runs.map((r) => [
        r.participant,
        r.position + 1,
        r.case + 1,
        r.series_description,
        r.label,
        r.condition,
        r.state,
        fixed(r.active_s),
        r.model_used ? "yes" : "no",
        Object.entries(r.interactions).map(([k, n]) => `${k} ${n}`).join(", "),
        fixed(r.dice, 3),
        fixed(r.nsd, 3),
      ]),
      "data runs",
    ),
  ];
}

function parameters(report: StudyReport): HTMLElement {
  const { study } = report;
  const design = study.design;
  const simulation = design.simulation as Record<string, unknown> | undefined;
  return h(
    "section",
    { class: "card parameters" },
    h("h2", {}, "How this was measured"),
    h(
      "p",
      {},
      `Assisted condition: ${study.model_version}. Seed ${study.seed}, washout ${study.washout} task(s) (${String(design.algorithm ?? "")}; two participants on the same case at the same step: ${String(design.same_case_same_step ?? "?")}). ` +
        `Active time: gaps over ${study.idle_threshold_s} s between actions and time in a hidden tab are not counted. ` +
        `Time saved = 1 − mean assisted / mean manual over cases done in both conditions; 95% interval by the paired bootstrap over cases (${report.ci_method}).`,
    ),
    simulation
      ? h(
          "div",
          { class: "simulation" },
          h("p", {}, h("strong", {}, "Simulated participants. "), "These times are simulated: scripted participants worked through the real WebSocket and REST API against the real model, with the client clock advanced by the parameters below (the model's own waiting time is real)."),
          table(
            ["parameter", "value"],
            Object.entries(simulation)
              .filter(([k]) => k !== "sources")
              .map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]),
            "data simulation-params",
          ),
          h("p", {}, "Where the defaults come from:"),
          h("ul", { class: "sources" }, ...Object.entries((simulation.sources ?? {}) as Record<string, string>).map(([k, v]) => h("li", {}, h("code", {}, k), `: ${v}`))),
        )
      : null,
  );
}

export async function mount(ctx: PageContext): Promise<void> {
  const api = new Api();
  const studyId = studyIdFromPath(window.location.pathname)!;
  const projectId = ctx.projectId!;
  const title = h("h1", {}, "Timing study report");
  const main = h("main", { class: "page wide timing-report" }, title, h("p", { class: "muted" }, "Loading…"));
  ctx.root.append(header(ctx.username, [{ text: "Project", href: `/projects/${projectId}/` }, { text: "Timing report" }]), main);
  let report: StudyReport;
  try {
    report = await api.get<StudyReport>(endpointsTiming.report(studyId));
  } catch (error) {
    ctx.banner.error(error, "Loading the report");
    return;
  }
  title.textContent = `${report.study.name}${report.study.simulated ? " (simulated)" : ""}`;
  document.title = `${report.study.name} · report · Delineate`;
  const dashboard = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  main.replaceChildren(
    title,
    report.study.simulated ? h("p", { class: "chip simulated" }, "Simulated study: kept apart from real studies and from the model-version dashboard.") : "",
    h("p", { class: "headline" }, headline(report)),
    h("p", {}, h("a", { href: endpointsTiming.reportCsv(studyId), download: "" }, "Download CSV"), " · ", h("a", { href: endpointsTiming.report(studyId) }, "JSON")),
    h("div", { class: "plots" }, ...plots(report)),
    ...summaryTables(report),
    parameters(report),
    h("h2", {}, "Time per model version (this project's real work)"),
    dashboard,
  );
  api
    .get<VersionRow[]>(endpointsTiming.modelVersions(projectId))
    .then((rows) => dashboard.replaceChildren(rows.length ? dashboardTable(rows) : h("p", { class: "muted" }, "No logged work yet.")))
    .catch((error) => dashboard.replaceChildren(h("p", { class: "muted" }, (error as Error).message)));
}
