/**
 * The PACS panel's logic, DOM-free (tested in pacs.test.ts): the project's DICOMweb source payloads, search
 * queries and result lines, the series selection, and following the import / send jobs. pacsPanel.ts draws it.
 * Server side: annotator/api/pacs.py, docs/pacs.md.
 */

import { Api, ApiError } from "../api";
import { JobPoller, type PollOptions } from "../jobPoller";
import type { JobState, ServerMessage } from "../protocol";

export const pacsEndpoints = {
  source: (projectId: number) => `/api/projects/${projectId}/pacs/`,
  test: (projectId: number) => `/api/projects/${projectId}/pacs/test/`,
  studies: (projectId: number, query = "") => `/api/projects/${projectId}/pacs/studies/${query ? `?${query}` : ""}`,
  series: (projectId: number, handle: string) => `/api/projects/${projectId}/pacs/studies/${encodeURIComponent(handle)}/series/`,
  imports: (projectId: number) => `/api/projects/${projectId}/pacs/imports/`,
  exports: (projectId: number) => `/api/projects/${projectId}/pacs/exports/`,
  job: (jobId: number) => `/api/jobs/${jobId}/`,
};

export type AuthMethod = "none" | "basic" | "bearer";

export type SourceInfo =
  | { configured: false }
  | { configured: true; base_url: string; auth: AuthMethod; username: string; has_secret: boolean; updated_at: string; updated_by: string | null };

export interface SourceDraft {
  baseUrl: string;
  auth: AuthMethod;
  username: string;
  /** Blank keeps the stored secret when the method (and, for basic, the user) is unchanged. */
  secret: string;
}

export interface SourcePayload {
  base_url: string;
  auth: AuthMethod;
  username?: string;
  secret?: string;
}

export type SourceCheck = { ok: true; payload: SourcePayload } | { ok: false; error: string };

/** The PUT body for the settings form, or the first problem with it (the server checks the same). */
export function sourcePayload(draft: SourceDraft, current: SourceInfo | null): SourceCheck {
  const url = draft.baseUrl.trim();
  if (!/^https?:\/\/[^/?#\s]+/i.test(url)) return { ok: false, error: "Give the DICOMweb URL, e.g. https://pacs.example.org/dicom-web." };
  if (/[?#]/.test(url)) return { ok: false, error: "The DICOMweb URL must not have a query (?…) or a fragment (#…)." };
  const username = draft.username.trim();
  if (draft.auth === "basic" && !username) return { ok: false, error: "HTTP basic authentication needs a user name." };
  const payload: SourcePayload = { base_url: url, auth: draft.auth };
  if (draft.auth === "basic") payload.username = username;
  if (draft.auth !== "none") {
    const stored =
      current?.configured === true && current.has_secret && current.auth === draft.auth && (draft.auth !== "basic" || current.username === username);
    if (draft.secret) payload.secret = draft.secret;
    else if (!stored) return { ok: false, error: draft.auth === "basic" ? "Give the password for the PACS." : "Give the token for the PACS." };
  }
  return { ok: true, payload };
}

export function describeSource(source: SourceInfo): string {
  if (!source.configured) return "No PACS yet: give its DICOMweb URL to search and import from it.";
  const auth =
    source.auth === "none" ? "no authentication" : source.auth === "basic" ? `basic authentication as ${source.username}` : "a bearer token";
  return `${source.base_url} · ${auth}${source.auth !== "none" ? (source.has_secret ? " (secret stored on the server)" : " (no secret stored)") : ""}`;
}

export interface StudyQuery {
  modality: string;
  dateFrom: string;
  dateTo: string;
  accession: string;
}

/** The query string of a study search; empty fields are left out. */
export function searchQuery(query: StudyQuery, limit = 25): string {
  const params = new URLSearchParams();
  if (query.modality.trim()) params.set("modality", query.modality.trim().toUpperCase());
  if (query.dateFrom) params.set("date_from", query.dateFrom);
  if (query.dateTo) params.set("date_to", query.dateTo);
  if (query.accession.trim()) params.set("accession", query.accession.trim());
  params.set("limit", String(limit));
  return params.toString();
}

export interface StudyResult {
  handle: string;
  date: string | null;
  modalities: string[];
  series_count: number | null;
  instance_count: number | null;
}

export interface SeriesResult {
  handle: string;
  modality: string;
  number: number | null;
  body_part: string;
  date: string | null;
  instance_count: number | null;
  importable: boolean;
  reason: string;
  imported_series: number | null;
}

export function studyLine(study: StudyResult): string {
  const parts = [study.modalities.join("/") || "?", study.date ? `${study.date} (shifted)` : "no date"];
  if (study.series_count !== null) parts.push(`${study.series_count} series`);
  if (study.instance_count !== null) parts.push(`${study.instance_count} images`);
  return parts.join(" · ");
}

export function seriesLine(series: SeriesResult): string {
  const parts = [`${series.modality || "?"} series ${series.number ?? "?"}`];
  if (series.body_part) parts.push(series.body_part);
  if (series.instance_count !== null) parts.push(`${series.instance_count} images`);
  if (series.date) parts.push(`${series.date} (shifted)`);
  return parts.join(" · ");
}

/** Which series are picked for import: only importable ones can be. */
export class SeriesSelection {
  private readonly picked = new Set<string>();

  toggle(series: SeriesResult, on: boolean): void {
    if (on && series.importable) this.picked.add(series.handle);
    else this.picked.delete(series.handle);
  }

  has(handle: string): boolean {
    return this.picked.has(handle);
  }

  clear(): void {
    this.picked.clear();
  }

  get handles(): string[] {
    return [...this.picked];
  }
}

// -- a background job (import or send), followed over the socket with polling as a fallback ------------

export interface PacsJob extends JobState {
  result?: { series?: number[]; summary?: string; already_imported?: number };
}

export type JobPhase = "idle" | "starting" | "pending" | "running" | "done" | "failed" | "cancelled";

export interface JobView {
  phase: JobPhase;
  progress: number;
  message: string;
  jobId: number | null;
  error: string | null;
  result: PacsJob["result"] | null;
}

export const IDLE_JOB: JobView = { phase: "idle", progress: 0, message: "", jobId: null, error: null, result: null };
const FINISHED = new Set(["done", "failed", "cancelled"]);

export class PacsJobTracker {
  view: JobView = { ...IDLE_JOB };
  private readonly poller: JobPoller<PacsJob>;

  constructor(
    private readonly api: Api,
    private readonly onChange: (view: JobView) => void,
    options: PollOptions = {},
  ) {
    this.poller = new JobPoller<PacsJob>(
      () => (this.view.jobId === null ? null : this.api.get<PacsJob>(pacsEndpoints.job(this.view.jobId))),
      (job) => this.onJob(job),
      () => this.busy,
      options,
    );
  }

  get busy(): boolean {
    return this.view.phase === "starting" || this.view.phase === "pending" || this.view.phase === "running";
  }

  /** POST the request that starts the job; a refusal (4xx/5xx) is shown as the failure, with its message. */
  async start(url: string, body: unknown): Promise<void> {
    if (this.busy) return;
    this.poller.stop();
    this.set({ ...IDLE_JOB, phase: "starting", message: "Starting…" });
    try {
      const reply = await this.api.post<{ job: PacsJob }>(url, body);
      this.onJob(reply.job);
    } catch (error) {
      this.set({ ...IDLE_JOB, phase: "failed", error: error instanceof ApiError ? error.message : (error as Error).message });
    }
  }

  /** A job state from the socket or a poll: other jobs are ignored, a finished job never changes again. */
  onJob(job: PacsJob, fromSocket = false): void {
    if (this.view.jobId !== null && job.id !== this.view.jobId) return;
    if (this.view.jobId === null && this.view.phase !== "starting") return;
    if (FINISHED.has(this.view.phase)) return;
    if (this.view.phase === "running" && job.state === "pending") return; // a stale poll
    if (fromSocket) this.poller.heard();
    const finished = FINISHED.has(job.state);
    this.set({
      phase: job.state,
      progress: job.state === "done" ? 1 : Math.max(this.view.progress, job.progress),
      message: job.message,
      jobId: job.id,
      error: job.state === "failed" ? job.error || "The job failed." : null,
      result: job.state === "done" ? (job.result ?? {}) : null,
    });
    if (finished) this.poller.stop();
    else this.poller.ensure();
  }

  onServerMessage(message: ServerMessage): void {
    if (message.type === "job.progress") this.onJob(message.job as PacsJob, true);
  }

  stop(): void {
    this.poller.stop();
  }

  private set(view: JobView): void {
    this.view = view;
    this.onChange(view);
  }
}

export function describeJob(view: JobView): string {
  switch (view.phase) {
    case "idle":
      return "";
    case "starting":
      return "Starting…";
    case "pending":
      return view.message || "Waiting for a worker…";
    case "running":
      return `${Math.round(view.progress * 100)}% · ${view.message}`;
    case "done":
      return view.message || "Done.";
    case "failed":
      return view.error ?? "The job failed.";
    case "cancelled":
      return "Cancelled.";
  }
}

// -- drawing -------------------------------------------------------------------------------------------
