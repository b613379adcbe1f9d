/**
 * The project page's PACS panel (owners): the project's DICOMweb source (URL, none / basic / bearer
 * authentication; the server keeps the secret and only says whether one is set), a search of its studies and
 * series (only patient-independent fields come back, with an opaque handle per result), importing the chosen
 * series as a background job, and sending the masks back to the PACS as DICOM SEG (DICOMweb STOW-RS).
 *
 * The logic (payloads, selection, job tracking) is DOM-free and tested in pacsPanel.test.ts; mountPacsPanel
 * only draws it. Server side: annotator/api/pacs.py, docs/pacs.md.
 */

import { Api, ApiError } from "../api";
import { JobPoller, type PollOptions } from "../jobPoller";
import type { JobState, ServerMessage } from "../protocol";
import { AnnotatorSocket, socketUrl } from "../socket";
import { h } from "../ui/dom";

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

function jobLine(name: string): { bar: HTMLElement; fill: HTMLElement; status: HTMLElement; render: (view: JobView, busy: boolean) => void } {
  const fill = h("div", { class: "progress-fill", style: "width:0%" });
  const bar = h("div", { class: "progress", hidden: true }, fill);
  const status = h("p", { class: `pacs-${name}-status muted`, role: "status", "aria-live": "polite" });
  const render = (view: JobView, busy: boolean) => {
    bar.hidden = !busy;
    fill.style.width = `${Math.round(view.progress * 100)}%`;
    status.textContent = describeJob(view);
    status.className = `pacs-${name}-status ${view.phase === "failed" ? "error" : view.phase === "done" ? "ok" : "muted"}`;
    status.dataset.phase = view.phase;
  };
  return { bar, fill, status, render };
}

/** The panel; ``onImported`` runs with the new series' ids when an import is done. */
export function mountPacsPanel(
  projectId: number,
  onImported: (seriesIds: number[]) => void,
  api: Api = new Api(),
): { element: HTMLElement; dispose: () => void } {
  let source: SourceInfo | null = null;
  const selection = new SeriesSelection();

  // settings
  const summary = h("p", { class: "pacs-source muted" }, "Loading…");
  const url = h("input", { name: "pacs-url", type: "url", placeholder: "https://pacs.example.org/dicom-web", size: 34, "aria-label": "DICOMweb URL" });
  const auth = h(
    "select",
    { name: "pacs-auth", "aria-label": "Authentication" },
    h("option", { value: "none" }, "No authentication"),
    h("option", { value: "basic" }, "HTTP basic"),
    h("option", { value: "bearer" }, "Bearer token"),
  );
  const username = h("input", { name: "pacs-username", placeholder: "User name", size: 12, autocomplete: "off", "aria-label": "PACS user name" });
  const secret = h("input", { name: "pacs-secret", type: "password", placeholder: "Password or token", size: 16, autocomplete: "new-password", "aria-label": "PACS password or token" });
  const save = h("button", { type: "submit", class: "primary" }, "Save and test");
  const remove = h("button", { type: "button", class: "link-button" }, "Remove");
  const formStatus = h("p", { class: "pacs-form-status muted", role: "status", "aria-live": "polite" });
  const form = h("form", { class: "pacs-form", novalidate: true }, url, " ", auth, " ", username, " ", secret, " ", save, " ", remove, formStatus);

  // search
  const modality = h("input", { name: "pacs-modality", placeholder: "Modality (CT, MR…)", size: 10, "aria-label": "Modality" });
  const dateFrom = h("input", { name: "pacs-date-from", type: "date", "aria-label": "Acquired from" });
  const dateTo = h("input", { name: "pacs-date-to", type: "date", "aria-label": "Acquired until" });
  const accession = h("input", { name: "pacs-accession", placeholder: "Accession number", size: 12, "aria-label": "Accession number" });
  const searchButton = h("button", { type: "submit" }, "Search");
  const searchForm = h(
    "form",
    { class: "pacs-search", novalidate: true },
    modality,
    " ",
    dateFrom,
    " ",
    dateTo,
    " ",
    accession,
    " ",
    searchButton,
    h("p", { class: "muted hint" }, "Shown: modality, counts, body part and dates shifted as the import shifts them; never names, IDs or accession numbers."),
  );
  const results = h("div", { class: "pacs-results" });
  const importButton = h("button", { type: "button", class: "primary pacs-import", disabled: true }, "Import selected series");
  const sendButton = h("button", { type: "button", class: "pacs-send" }, "Send masks to the PACS (DICOMweb STOW-RS)");
  const importLine = jobLine("import");
  const sendLine = jobLine("send");
  const searchSection = h("div", { class: "pacs-search-section", hidden: true }, searchForm, results, importButton, importLine.bar, importLine.status, h("hr", {}), sendButton, sendLine.bar, sendLine.status);

  let socket: AnnotatorSocket | null = null;
  const openSocket = () => {
    if (!socket && typeof WebSocket !== "undefined") {
      socket = new AnnotatorSocket({
        url: socketUrl(window.location),
        onEvent: (m) => {
          importer.onServerMessage(m);
          sender.onServerMessage(m);
        },
      });
      socket.connect();
    }
  };
  const closeSocketWhenIdle = () => {
    if (!importer.busy && !sender.busy && socket) {
      socket.close();
      socket = null;
    }
  };
  const refreshImportButton = () => {
    importButton.disabled = importer.busy || selection.handles.length === 0;
    importButton.textContent = selection.handles.length ? `Import ${selection.handles.length} selected series` : "Import selected series";
  };
  const openStudies = new Map<string, HTMLElement>();

  const importer = new PacsJobTracker(api, (view) => {
    importLine.render(view, importer.busy);
    refreshImportButton();
    if (view.phase === "done") {
      onImported(view.result?.series ?? []);
      selection.clear();
      refreshImportButton();
      for (const [handle, box] of openStudies) void showSeries(handle, box);
    }
    closeSocketWhenIdle();
  });
  const sender = new PacsJobTracker(api, (view) => {
    sendLine.render(view, sender.busy);
    sendButton.disabled = sender.busy;
    closeSocketWhenIdle();
  });

  const showSource = (info: SourceInfo) => {
    source = info;
    summary.textContent = describeSource(info);
    searchSection.hidden = !info.configured;
    remove.hidden = !info.configured;
    if (info.configured) {
      url.value = info.base_url;
      auth.value = info.auth;
      username.value = info.username;
      secret.value = "";
      secret.placeholder = info.has_secret ? "•••••• stored (blank keeps it)" : "Password or token";
    }
    syncAuthFields();
  };
  const syncAuthFields = () => {
    username.hidden = auth.value !== "basic";
    secret.hidden = auth.value === "none";
  };
  auth.addEventListener("change", syncAuthFields);

  const showSeries = async (handle: string, box: HTMLElement) => {
    box.replaceChildren(h("p", { class: "muted" }, "Loading series…"));
    try {
      const { series } = await api.get<{ series: SeriesResult[] }>(pacsEndpoints.series(projectId, handle));
      box.replaceChildren(
        ...series.map((s) => {
          const check = h("input", { type: "checkbox", class: "pacs-pick", "data-handle": s.handle, disabled: !s.importable, "aria-label": `Import ${seriesLine(s)}` });
          check.checked = selection.has(s.handle);
          check.addEventListener("change", () => {
            selection.toggle(s, check.checked);
            refreshImportButton();
          });
          return h(
            "label",
            { class: `pacs-series${s.importable ? "" : " muted"}`, "data-modality": s.modality, "data-imported": s.imported_series ?? "" },
            check,
            " ",
            seriesLine(s),
            s.reason ? h("span", { class: "muted" }, ` — ${s.reason}`) : null,
            s.imported_series ? h("a", { href: `/series/${s.imported_series}/` }, " open") : null,
          );
        }),
      );
      if (!series.length) box.replaceChildren(h("p", { class: "muted" }, "No series."));
    } catch (error) {
      box.replaceChildren(h("p", { class: "error" }, (error as Error).message));
    }
  };

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const checked = sourcePayload({ baseUrl: url.value, auth: auth.value as AuthMethod, username: username.value, secret: secret.value }, source);
    if (!checked.ok) {
      formStatus.className = "pacs-form-status error";
      formStatus.textContent = checked.error;
      return;
    }
    save.disabled = true;
    formStatus.className = "pacs-form-status muted";
    formStatus.textContent = "Connecting to the PACS…";
    try {
      showSource(await api.json<SourceInfo>(pacsEndpoints.source(projectId), { method: "PUT", body: checked.payload }));
      formStatus.className = "pacs-form-status ok";
      formStatus.textContent = "Saved: the PACS answered.";
    } catch (error) {
      formStatus.className = "pacs-form-status error";
      formStatus.textContent = error instanceof ApiError ? error.message : (error as Error).message;
    } finally {
      save.disabled = false;
    }
  });
  remove.addEventListener("click", async () => {
    try {
      await api.json(pacsEndpoints.source(projectId), { method: "DELETE" });
      showSource({ configured: false });
      results.replaceChildren();
      formStatus.textContent = "Removed.";
    } catch (error) {
      formStatus.className = "pacs-form-status error";
      formStatus.textContent = (error as Error).message;
    }
  });
  searchForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    selection.clear();
    openStudies.clear();
    refreshImportButton();
    results.replaceChildren(h("p", { class: "muted" }, "Searching…"));
    const query = searchQuery({ modality: modality.value, dateFrom: dateFrom.value, dateTo: dateTo.value, accession: accession.value });
    try {
      const { studies } = await api.get<{ studies: StudyResult[] }>(pacsEndpoints.studies(projectId, query));
      results.replaceChildren(
        ...studies.map((study) => {
          const box = h("div", { class: "pacs-series-list" });
          const toggle = h("button", { type: "button", class: "link-button pacs-open-study" }, "Show series");
          toggle.addEventListener("click", () => {
            if (openStudies.has(study.handle)) {
              openStudies.delete(study.handle);
              box.replaceChildren();
              toggle.textContent = "Show series";
            } else {
              openStudies.set(study.handle, box);
              toggle.textContent = "Hide series";
              void showSeries(study.handle, box);
            }
          });
          return h("div", { class: "pacs-study", "data-handle": study.handle }, h("span", {}, studyLine(study)), " ", toggle, box);
        }),
      );
      if (!studies.length) results.replaceChildren(h("p", { class: "muted" }, "No studies match."));
    } catch (error) {
      results.replaceChildren(h("p", { class: "error" }, (error as Error).message));
    }
  });
  importButton.addEventListener("click", () => {
    openSocket();
    void importer.start(pacsEndpoints.imports(projectId), { series: selection.handles });
  });
  sendButton.addEventListener("click", () => {
    openSocket();
    void sender.start(pacsEndpoints.exports(projectId), {});
  });

  void api.get<SourceInfo>(pacsEndpoints.source(projectId)).then(showSource, (error: unknown) => {
    summary.textContent = (error as Error).message;
  });

  const element = h("section", { class: "card pacs-panel" }, h("h2", {}, "PACS (DICOMweb)"), summary, form, searchSection);
  return {
    element,
    dispose: () => {
      importer.stop();
      sender.stop();
      socket?.close();
      socket = null;
    },
  };
}
