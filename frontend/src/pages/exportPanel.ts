/**
 * The project page's export panel: pick a format (and optionally one annotator), start an export job, follow its
 * progress live (job.progress messages on the socket, with polling of GET /api/jobs/{id}/ as a fallback) and
 * download the zip when it is done.
 *
 * ExportTracker holds the logic and is tested without a DOM; mountExportPanel only draws it.
 */

import { Api, ApiError } from "../api";
import { JobPoller, type PollOptions } from "../jobPoller";
import type { ServerMessage } from "../protocol";
import { AnnotatorSocket, socketUrl } from "../socket";
import { h } from "../ui/dom";

export type ExportFormat = "nifti" | "dicom-seg" | "png" | "coco";

export const EXPORT_FORMATS: { value: ExportFormat; label: string; hint: string }[] = [
  { value: "nifti", label: "NIfTI label maps", hint: "One .nii.gz per series and annotator, on the imported image's grid." },
  { value: "dicom-seg", label: "DICOM SEG", hint: "Referencing the source DICOM series; one segment per label." },
  { value: "png", label: "PNG masks", hint: "One greyscale PNG per slice with a label (label values as grey levels), and the same slice in the label colours beside it." },
  { value: "coco", label: "COCO JSON (RLE)", hint: "One annotations.json with pycocotools-compatible run-length masks, and the slice images it names (untick below for masks only)." },
];

export const exportEndpoints = {
  start: (projectId: number) => `/api/projects/${projectId}/exports/`,
  job: (jobId: number) => `/api/jobs/${jobId}/`,
  download: (jobId: number) => `/api/exports/${jobId}/download`,
};

export interface ExportJob {
  id: number;
  kind: string;
  state: "pending" | "running" | "done" | "failed" | "cancelled";
  progress: number;
  message: string;
  error: string;
  result?: { download_url?: string; filename?: string; size?: number; files?: number; skipped?: number; skipped_series?: SkippedSeries[] };
}

/** A series (and annotator) an export left out, and why: e.g. a DICOM SEG of a series not from DICOM. */
export interface SkippedSeries {
  series: number;
  description: string;
  annotator: string;
  reason: string;
}

export interface ExportRequest {
  format: ExportFormat;
  /** COCO: false leaves the slice images out (the server writes them by default) */
  images?: boolean;
  series?: number[];
  annotator?: string;
  /** "approved" (the server's default: what reviewers approved, and consensus masks) or "all" latest revisions */
  masks?: "approved" | "all";
}

export type ExportPhase = "idle" | "starting" | "pending" | "running" | "done" | "failed" | "cancelled";

export interface ExportView {
  phase: ExportPhase;
  progress: number;
  message: string;
  jobId: number | null;
  downloadUrl: string | null;
  filename: string | null;
  error: string | null;
  /** what a finished export left out, listed in the panel */
  skipped: SkippedSeries[];
}

export type TrackerOptions = PollOptions;

const FINISHED = new Set(["done", "failed", "cancelled"]);

export const IDLE: ExportView = {
  phase: "idle",
  progress: 0,
  message: "",
  jobId: null,
  downloadUrl: null,
  filename: null,
  error: null,
  skipped: [],
};

export class ExportTracker {
  view: ExportView = { ...IDLE };
  private readonly poller: JobPoller<ExportJob>;

  constructor(
    private readonly api: Api,
    private readonly projectId: number,
    private readonly onChange: (view: ExportView) => void,
    options: TrackerOptions = {},
  ) {
    this.poller = new JobPoller<ExportJob>(
      () => (this.view.jobId === null ? null : this.api.get<ExportJob>(exportEndpoints.job(this.view.jobId))),
      (job) => this.onJob(job),
      () => this.busy,
      options,
    );
  }

  get busy(): boolean {
    return this.view.phase === "starting" || this.view.phase === "pending" || this.view.phase === "running";
  }

  /** POST the export; resolves once the job exists (or the server refused it, shown as a failure). */
  async start(request: ExportRequest): Promise<void> {
    if (this.busy) return;
    this.stopPolling();
    this.set({ ...IDLE, phase: "starting", message: "Starting the export…" });
    const body: Record<string, unknown> = { format: request.format };
    if (request.series?.length) body.series = request.series;
    if (request.annotator) body.annotator = request.annotator;
    if (request.masks) body.masks = request.masks;
    if (request.format === "coco" && request.images === false) body.images = false;
    try {
      const reply = await this.api.post<{ job: ExportJob }>(exportEndpoints.start(this.projectId), body);
      this.onJob(reply.job);
    } catch (error) {
      const message = error instanceof ApiError ? error.message : (error as Error).message;
      this.set({ ...IDLE, phase: "failed", error: message, message: "The export could not start." });
    }
  }

  /** A job state from the socket or a poll. Other jobs are ignored; a finished job never changes again. */
  onJob(job: ExportJob, fromSocket = false): void {
    if (this.view.jobId !== null && job.id !== this.view.jobId) return;
    if (this.view.jobId === null && this.view.phase !== "starting") return;
    if (FINISHED.has(this.view.phase) && this.view.jobId === job.id) return;
    if (this.view.phase === "running" && job.state === "pending") return; // a stale poll
    if (fromSocket) this.poller.heard();
    const finished = FINISHED.has(job.state);
    const progress = finished ? (job.state === "done" ? 1 : this.view.progress) : Math.max(this.view.progress, job.progress);
    this.set({
      phase: job.state,
      progress,
      message: job.message,
      jobId: job.id,
      downloadUrl: job.state === "done" ? (job.result?.download_url ?? exportEndpoints.download(job.id)) : null,
      filename: job.result?.filename ?? null,
      error: job.state === "failed" ? job.error || "The export failed." : null,
      skipped: job.state === "done" ? (job.result?.skipped_series ?? []) : [],
    });
    if (finished) this.stopPolling();
    else this.poller.ensure();
  }

  /** Route a socket message: only job.progress for our job matters. */
  onServerMessage(message: ServerMessage): void {
    if (message.type === "job.progress") this.onJob(message.job as ExportJob, true);
  }

  stopPolling(): void {
    this.poller.stop();
  }

  private set(view: ExportView): void {
    this.view = view;
    this.onChange(view);
  }
}

export function describe(view: ExportView): string {
  switch (view.phase) {
    case "idle":
      return "";
    case "starting":
      return "Starting the export…";
    case "pending":
      return view.message || "Waiting for a worker…";
    case "running":
      return `${Math.round(view.progress * 100)}% · ${view.message}`;
    case "done":
      return view.message || "Ready.";
    case "failed":
      return view.error ?? "The export failed.";
    case "cancelled":
      return "The export was cancelled.";
  }
}

/** Draw the panel into a card; returns it with a dispose function that closes its socket and timers. */
export function mountExportPanel(projectId: number, api: Api = new Api()): { element: HTMLElement; dispose: () => void } {
  const format = h(
    "select",
    { name: "format", "aria-label": "Export format" },
    ...EXPORT_FORMATS.map((f) => h("option", { value: f.value, title: f.hint }, f.label)),
  );
  const annotator = h("input", { name: "annotator", placeholder: "All annotators", size: 14, "aria-label": "Only this annotator (username)" });
  const which = h(
    "select",
    { name: "masks", "aria-label": "Which masks" },
    h("option", { value: "approved", title: "What reviewers approved, and consensus masks" }, "Approved masks"),
    h("option", { value: "all", title: "The latest revision of every mask, reviewed or not" }, "All latest revisions"),
  );
  const hint = h("p", { class: "muted" }, EXPORT_FORMATS[0]!.hint);
  const startButton = h("button", { type: "button", class: "primary" }, "Export");
  const fill = h("div", { class: "progress-fill", style: "width:0%" });
  const bar = h("div", { class: "progress", hidden: true }, fill);
  const status = h("p", { class: "muted", role: "status", "aria-live": "polite" });
  const link = h("a", { class: "download", hidden: true }, "Download");
  const images = h("input", { type: "checkbox", name: "coco-images", checked: true });
  const imagesChoice = h("label", { class: "export-images", hidden: true }, images, " with the slice images");
  const skippedList = h("ul", { class: "export-skipped", hidden: true, "aria-label": "Not exported" });

  let socket: AnnotatorSocket | null = null;
  const render = (view: ExportView) => {
    startButton.disabled = tracker.busy;
    bar.hidden = !(view.phase === "pending" || view.phase === "running");
    fill.style.width = `${Math.round(view.progress * 100)}%`;
    status.textContent = describe(view);
    status.className = view.phase === "failed" ? "error" : "muted";
    link.hidden = !view.downloadUrl;
    if (view.downloadUrl) {
      link.setAttribute("href", view.downloadUrl);
      link.setAttribute("download", view.filename ?? "");
      link.textContent = `Download ${view.filename ?? "the zip"}`;
    }
    skippedList.replaceChildren(...view.skipped.map((s) => h("li", {}, `Not exported: ${s.description || `series ${s.series}`} (${s.annotator}): ${s.reason}.`)));
    skippedList.hidden = view.skipped.length === 0;
    if (!tracker.busy && socket) {
      socket.close();
      socket = null;
    }
  };
  const tracker = new ExportTracker(api, projectId, render);

  format.addEventListener("change", () => {
    hint.textContent = EXPORT_FORMATS.find((f) => f.value === format.value)?.hint ?? "";
    imagesChoice.hidden = format.value !== "coco";
  });
  startButton.addEventListener("click", () => {
    if (!socket && typeof WebSocket !== "undefined") {
      socket = new AnnotatorSocket({ url: socketUrl(window.location), onEvent: (m) => tracker.onServerMessage(m) });
      socket.connect();
    }
    void tracker.start({
      format: format.value as ExportFormat,
      annotator: annotator.value.trim() || undefined,
      masks: which.value as "approved" | "all",
      images: images.checked,
    });
  });

  const element = h(
    "section",
    { class: "card export-panel" },
    h("h2", {}, "Export masks"),
    h("div", { class: "export-controls" }, format, " ", which, " ", annotator, " ", startButton),
    imagesChoice,
    hint,
    bar,
    status,
    skippedList,
    link,
  );
  return {
    element,
    dispose: () => {
      tracker.stopPolling();
      socket?.close();
      socket = null;
    },
  };
}
