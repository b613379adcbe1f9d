/**
 * A project's model versions (issue 11): every version's held-out metrics beside the version that was
 * active when it was measured (a table and a Dice-per-click plot), a training run's progress and loss
 * curve live over the socket (training.progress, model_version.changed, job.progress; polling while the
 * socket is silent), and for owners: start or cancel training, promote a candidate, reject it, roll back.
 */

import { Api } from "../api";
import { endpoints } from "../endpoints";
import { JobPoller } from "../jobPoller";
import type { PageContext } from "../pageContext";
import type { JobState, LossPoint, ModelVersionInfo, ServerMessage } from "../protocol";
import { AnnotatorSocket, socketUrl } from "../socket";
import { header } from "../ui/chrome";
import { h } from "../ui/dom";
import { settingsPanel, type AlSettings } from "./alSettings";
import { colorOf, drawLines, svgPlot, type Series } from "./modelsPlot";

export interface VersionsBody {
  versions: ModelVersionInfo[];
  active: number | null;
  training: JobState | null;
  settings: AlSettings;
}

type Summary = { n?: number; mean_dsc?: number; mean_nsd?: number; mean_dice_per_click?: number[] };

const CLICKS = 3;

export function summaryOf(version: ModelVersionInfo, which: "candidate" | "active"): Summary | null {
  const value = (version.metrics as Record<string, unknown>)[which];
  return value && typeof value === "object" ? (value as Summary) : null;
}

function num(value: number | undefined, digits = 3): string {
  return value === undefined || value === null ? "–" : value.toFixed(digits);
}

function delta(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined) return "";
  const d = a - b;
  return ` (${d >= 0 ? "+" : ""}${d.toFixed(3)})`;
}

/** The Dice-per-click lines: the base model (as measured beside the first candidate) and every trained version. */
export function diceSeries(versions: ModelVersionInfo[]): Series[] {
  const lines: Series[] = [];
  const first = versions.find((v) => summaryOf(v, "active")?.mean_dice_per_click?.length);
  const base = versions.find((v) => v.parent === null);
  if (first && base) {
    const curve = summaryOf(first, "active")!.mean_dice_per_click!;
    lines.push({ name: `v${base.number} (base)`, color: colorOf(0), points: curve.map((d, k) => [k, d]) });
  }
  for (const v of versions) {
    const curve = summaryOf(v, "candidate")?.mean_dice_per_click;
    if (curve?.length) lines.push({ name: `v${v.number}`, color: colorOf(v.number), points: curve.map((d, k) => [k, d]) });
  }
  return lines;
}

/** The loss curve stored on the server, for a page opened or reloaded: the run under way's (kept on its job
 * row), else the newest trained version's. */
export function storedCurve(b: VersionsBody): { points: LossPoint[]; caption: string } {
  if (b.training) {
    const curve = (b.training.result as { loss_curve?: LossPoint[] } | undefined)?.loss_curve ?? [];
    return { points: curve, caption: "Loss of the run under way" };
  }
  const newest = b.versions.filter((v) => v.parent !== null && v.loss_curve?.length).at(-1);
  return newest ? { points: newest.loss_curve!, caption: `Loss of v${newest.number}'s training run` } : { points: [], caption: "" };
}

/** The stored curve followed by the points heard live after it. */
export function mergeCurve(stored: LossPoint[], live: LossPoint[]): LossPoint[] {
  const last = stored.length ? stored[stored.length - 1]!.step : -Infinity;
  return stored.concat(live.filter((p) => p.step > last));
}

export function stateText(v: ModelVersionInfo): string {
  return { candidate: "candidate", promoted: "promoted", rejected: "rejected", rolled_back: "rolled back" }[v.state];
}

export async function mount(ctx: PageContext): Promise<void> {
  const api = new Api();
  const id = ctx.projectId!;
  const owner = ctx.role === "owner";
  const base = `/api/projects/${id}`;
  const status = h("p", { class: "training-status muted" }, "No training run under way.");
  const fill = h("div", { class: "progress-fill", style: "width:0%" });
  const bar = h("div", { class: "progress training-progress", hidden: true }, fill);
  const startButton = h("button", { type: "button", class: "primary start-training", hidden: !owner }, "Start training");
  const cancelButton = h("button", { type: "button", class: "cancel-training", hidden: true }, "Cancel");
  const rollbackButton = h("button", { type: "button", class: "rollback", hidden: true }, "Roll back");
  const lossPlot = svgPlot("loss-plot");
  const dicePlot = svgPlot("dice-plot");
  const table = h("table", { class: "versions-table" });
  const settingsLine = h("p", { class: "muted al-settings" });
  const lossCaption = h("p", { class: "muted loss-caption" });
  const settings = settingsPanel(api, `${base}/active-learning/`, owner, () => void load());
  ctx.root.append(
    header(ctx.username, [{ text: "Project", href: `/projects/${id}/` }, { text: "Model versions" }]),
    h(
      "main",
      { class: "page wide" },
      h("h1", {}, "Model versions"),
      h("section", { class: "card" }, h("h2", {}, "Training"), settingsLine, h("div", { class: "row" }, startButton, cancelButton), status, bar, lossPlot, lossCaption),
      h("section", { class: "card" }, h("h2", {}, "Versions"), h("div", { class: "row" }, rollbackButton), table),
      h("section", { class: "card" }, h("h2", {}, "Held-out Dice per corrective click"), dicePlot),
      settings.element,
    ),
  );

  let job: JobState | null = null;
  // the server's stored curve (on load) and the points heard over the socket since
  let stored: LossPoint[] = [];
  let live: LossPoint[] = [];

  const drawLoss = () => {
    const points = mergeCurve(stored, live);
    drawLines(lossPlot, [{ name: "loss", color: colorOf(0), points: points.map((p) => [p.step, p.loss]) }], { x: "step", y: "loss" });
  };

  const showJob = (next: JobState) => {
    if (next.kind !== "train" || (job && next.id < job.id)) return;
    job = next;
    const running = next.state === "pending" || next.state === "running";
    status.textContent = next.state === "failed" ? `Training failed: ${next.error}` : next.state === "cancelled" ? "Training cancelled." : next.message || next.state;
    status.dataset.state = next.state;
    bar.hidden = !running;
    fill.style.width = `${Math.round(100 * next.progress)}%`;
    cancelButton.hidden = !(owner && running);
    startButton.disabled = running;
    if (running) poller.ensure();
    else void load();
  };

  const poller = new JobPoller<JobState>(
    () => (job ? api.get<JobState>(`/api/jobs/${job.id}/`) : null),
    (j) => showJob(j),
    () => job !== null && (job.state === "pending" || job.state === "running"),
  );

  const versionRow = (v: ModelVersionInfo): HTMLElement => {
    const mine = summaryOf(v, "candidate");
    const theirs = summaryOf(v, "active");
    const clicks = (s: Summary | null) => s?.mean_dice_per_click?.[CLICKS];
    const reasons = (v.decision as { reasons?: string[] }).reasons ?? [];
    const promote = h("button", { type: "button", class: "promote", hidden: !(owner && v.state === "candidate") }, "Promote");
    const reject = h("button", { type: "button", class: "reject", hidden: !(owner && v.state === "candidate") }, "Reject");
    promote.addEventListener("click", () => void act(`${base}/model-versions/${v.id}/promote/`));
    reject.addEventListener("click", () => void act(`${base}/model-versions/${v.id}/reject/`));
    return h(
      "tr",
      { "data-version": v.number, "data-state": v.state, class: v.active ? "active-version" : "" },
      h("td", {}, `v${v.number}`, v.active ? h("span", { class: "chip" }, " active") : null),
      h("td", { class: "state" }, stateText(v)),
      h("td", { title: v.sha256 }, v.version),
      h("td", {}, v.parent === null ? "base model" : `${v.cases_train} / ${v.cases_heldout}`),
      h("td", { class: "dsc" }, mine ? `${num(mine.mean_dsc)}${delta(mine.mean_dsc, theirs?.mean_dsc)}` : "–"),
      h("td", { class: "nsd" }, mine ? `${num(mine.mean_nsd)}${delta(mine.mean_nsd, theirs?.mean_nsd)}` : "–"),
      h("td", { class: "dice3" }, mine ? `${num(clicks(mine))}${delta(clicks(mine), clicks(theirs))}` : "–"),
      h("td", { class: "verdict" }, v.parent === null ? "" : (v.decision as { promote?: boolean }).promote ? "better by the rule" : reasons.join("; ")),
      h("td", {}, promote, reject),
    );
  };

  const render = (b: VersionsBody) => {
    table.replaceChildren(
      h("tr", {}, ...["Version", "State", "Checkpoint", "Cases train / held-out", "Held-out DSC (vs active)", "NSD", `Dice after ${CLICKS} clicks`, "Rule", ""].map((t) => h("th", {}, t))),
      ...b.versions.slice().reverse().map(versionRow),
    );
    if (!b.versions.length) table.append(h("tr", {}, h("td", { colspan: 9, class: "muted" }, "Only the base model so far: train to make the first version.")));
    const active = b.versions.find((v) => v.active);
    rollbackButton.hidden = !(owner && active && active.replaced !== null);
    rollbackButton.textContent = active && active.replaced !== null ? `Roll back v${active.number}` : "Roll back";
    drawLines(dicePlot, diceSeries(b.versions), { x: "clicks", y: "Dice" }, { dots: true });
    settingsLine.textContent = `Trains on ${b.settings.training_masks === "approved" ? "approved masks" : "every saved mask"}; Next case ordered by ${b.settings.queue_ordering}.`;
    settings.show(b.settings);
    const curve = storedCurve(b);
    if (curve.points.length || !b.training) {
      stored = curve.points;
      if (!b.training) live = [];
      lossCaption.textContent = curve.caption;
      drawLoss();
    }
    if (b.training) showJob(b.training);
  };

  const load = async () => {
    try {
      render(await api.get<VersionsBody>(endpoints.modelVersions(id)));
    } catch (error) {
      ctx.banner.error(error, "Loading the model versions");
    }
  };

  const act = async (path: string) => {
    try {
      render(await api.post<VersionsBody>(path, {}));
    } catch (error) {
      ctx.banner.error(error, "The model versions");
    }
  };

  startButton.addEventListener("click", async () => {
    try {
      const started = await api.post<{ job: JobState }>(`${base}/model-versions/train/`, {});
      stored = [];
      live = [];
      lossCaption.textContent = "Loss of the run under way";
      drawLoss();
      showJob(started.job);
    } catch (error) {
      ctx.banner.error(error, "Starting training");
    }
  });
  cancelButton.addEventListener("click", async () => {
    if (!job) return;
    try {
      showJob(await api.post<JobState>(`/api/jobs/${job.id}/cancel/`, {}));
    } catch (error) {
      ctx.banner.error(error, "Cancelling training");
    }
  });
  rollbackButton.addEventListener("click", () => void act(`${base}/model-versions/rollback/`));

  const onMessage = (m: ServerMessage) => {
    if (m.type === "training.progress" && m.project === id) {
      poller.heard();
      live = live.concat(m.points ?? []);
      drawLoss();
      if (job && job.id === m.job_id) showJob({ ...job, state: "running", progress: m.progress, message: m.message });
    } else if (m.type === "job.progress" && m.job.project === id) {
      poller.heard();
      showJob(m.job);
    } else if (m.type === "model_version.changed" && m.project === id) {
      void load();
    }
  };
  if (typeof WebSocket !== "undefined") new AnnotatorSocket({ url: socketUrl(window.location), onEvent: onMessage }).connect();
  drawLoss();
  await load();
}
