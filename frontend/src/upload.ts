/**
 * Uploading studies, without the DOM: turning a drop (files, folders, zips) or a file picker's list into files
 * with their relative paths, building the multipart body of POST /api/projects/{p}/imports/, and following
 * an upload from bytes sent to the import job's end (job.progress on the socket, polling GET /api/jobs/{id}/
 * as a fallback). uploadPanel.ts draws it; XMLHttpRequest is used there because fetch reports no upload progress.
 */

import { errorFrom } from "./api";
import { JobPoller, type PollOptions } from "./jobPoller";
import type { ServerMessage } from "./protocol";

// -- the File and Directory Entries API, as far as the walker needs it -----------------------------------

export interface EntryLike {
  readonly isFile: boolean;
  readonly isDirectory: boolean;
  readonly name: string;
  readonly fullPath: string;
}

export interface FileEntryLike extends EntryLike {
  file(success: (file: File) => void, failure?: (error: unknown) => void): void;
}

export interface DirectoryReaderLike {
  readEntries(success: (entries: EntryLike[]) => void, failure?: (error: unknown) => void): void;
}

export interface DirectoryEntryLike extends EntryLike {
  createReader(): DirectoryReaderLike;
}

export interface DataTransferItemLike {
  readonly kind: string;
  webkitGetAsEntry?(): EntryLike | null;
  getAsFile(): File | null;
}

/** A file to upload and the path it had in the dropped folder (its name when it was dropped alone). */
export interface PickedFile {
  file: File;
  path: string;
}

const JUNK_NAMES = new Set(["thumbs.db", "desktop.ini", "__macosx"]);

/** Hidden files and folders, and the clutter operating systems leave in folders: never uploaded. */
export function isJunk(path: string): boolean {
  return path
    .split("/")
    .filter(Boolean)
    .some((part) => part.startsWith(".") || JUNK_NAMES.has(part.toLowerCase()));
}

function readBatch(reader: DirectoryReaderLike): Promise<EntryLike[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

function fileOf(entry: FileEntryLike): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

function relative(entry: EntryLike): string {
  return (entry.fullPath || entry.name).replace(/^\/+/, "");
}

/** Every file under an entry, depth first, in name order. readEntries returns a directory in batches
 * (Chromium: 100 at a time) until it returns an empty one, so it is called until then. */
export async function walkEntry(entry: EntryLike): Promise<PickedFile[]> {
  if (isJunk(relative(entry))) return [];
  if (entry.isFile) return [{ file: await fileOf(entry as FileEntryLike), path: relative(entry) }];
  if (!entry.isDirectory) return [];
  const reader = (entry as DirectoryEntryLike).createReader();
  const children: EntryLike[] = [];
  for (;;) {
    const batch = await readBatch(reader);
    if (!batch.length) break;
    children.push(...batch);
  }
  children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: PickedFile[] = [];
  for (const child of children) out.push(...(await walkEntry(child)));
  return out;
}

/**
 * The files of a drop. Must be called inside the drop handler: the items are only readable while the event
 * is dispatched, so entries and files are taken synchronously first and walked afterwards. Items without an
 * entry (a browser without the API, a synthetic drop) fall back to their File.
 */
export function filesFromDrop(items: ArrayLike<DataTransferItemLike> | null, files: ArrayLike<File> | null = null): Promise<PickedFile[]> {
  const taken: (EntryLike | File)[] = [];
  for (const item of Array.from(items ?? [])) {
    if (item.kind !== "file") continue;
    const entry = item.webkitGetAsEntry?.() ?? null;
    const file = entry ? null : item.getAsFile();
    if (entry) taken.push(entry);
    else if (file) taken.push(file);
  }
  if (!taken.length && files) taken.push(...Array.from(files));
  return (async () => {
    const out: PickedFile[] = [];
    for (const thing of taken) {
      if (thing instanceof Blob) {
        if (!isJunk(thing.name)) out.push({ file: thing, path: thing.name });
      } else out.push(...(await walkEntry(thing)));
    }
    return out;
  })();
}

/** The files of an <input type=file> (with webkitdirectory they carry webkitRelativePath). */
export function filesFromList(files: ArrayLike<File>): PickedFile[] {
  return Array.from(files)
    .map((file) => ({ file, path: (file as File & { webkitRelativePath?: string }).webkitRelativePath || file.name }))
    .filter((p) => !isJunk(p.path));
}

export type FileKind = "dicom" | "nifti" | "nrrd" | "image" | "zip";

/** What a file probably is, from its name (the server decides from the bytes; this is for the summary). */
export function kindOf(path: string): FileKind {
  const name = path.toLowerCase();
  if (name.endsWith(".nii") || name.endsWith(".nii.gz")) return "nifti";
  if (name.endsWith(".nrrd")) return "nrrd";
  if (name.endsWith(".zip")) return "zip";
  if (/\.(png|jpe?g|tiff?)$/.test(name)) return "image";
  return "dicom"; // .dcm, or DICOM's usual extensionless files
}

const KIND_WORDS: Record<FileKind, [string, string]> = {
  dicom: ["DICOM file", "DICOM files"],
  nifti: ["NIfTI volume", "NIfTI volumes"],
  nrrd: ["NRRD volume", "NRRD volumes"],
  image: ["image", "images"],
  zip: ["zip", "zips"],
};

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** "20 DICOM files, 1 NIfTI volume, 1 image (4.2 MB)" */
export function summarize(picked: PickedFile[]): string {
  if (!picked.length) return "No files.";
  const counts = new Map<FileKind, number>();
  for (const p of picked) counts.set(kindOf(p.path), (counts.get(kindOf(p.path)) ?? 0) + 1);
  const order: FileKind[] = ["dicom", "nifti", "nrrd", "image", "zip"];
  const parts = order.filter((k) => counts.has(k)).map((k) => `${counts.get(k)} ${KIND_WORDS[k][counts.get(k) === 1 ? 0 : 1]}`);
  const bytes = picked.reduce((sum, p) => sum + p.file.size, 0);
  return `${parts.join(", ")} (${formatBytes(bytes)})`;
}

export interface ImportOptions {
  /** For NIfTI/NRRD/images, whose files do not say (DICOM files do). */
  modality?: string;
}

/** The multipart body of POST /api/projects/{p}/imports/: every file as a `files` part named by its path. */
export function buildImportForm(picked: PickedFile[], options: ImportOptions = {}): FormData {
  const form = new FormData();
  for (const p of picked) form.append("files", p.file, p.path);
  if (options.modality) form.append("modality", options.modality);
  return form;
}

// -- following an upload -------------------------------------------------------------------------------

export interface ImportJob {
  id: number;
  kind: string;
  state: "pending" | "running" | "done" | "failed" | "cancelled";
  progress: number;
  message: string;
  error: string;
  result?: { series?: number[]; studies?: number[]; summary?: string; refused?: RefusedFile[] } | null;
}

/** A file the server did not import, and why (POST imports' `refused`, a job result's `refused`). */
export interface RefusedFile {
  file: string;
  reason: string;
}

/** What an upload transport returns: the HTTP status (0: no answer) and the body's text. */
export interface TransportReply {
  status: number;
  text: string;
}

export type UploadTransport = (
  url: string,
  form: FormData,
  onProgress: (sent: number, total: number) => void,
) => Promise<TransportReply>;

export type UploadPhase = "idle" | "uploading" | "processing" | "done" | "failed";

export interface UploadView {
  phase: UploadPhase;
  /** Bytes of the request body sent, and its total (0 until the browser knows). */
  sent: number;
  total: number;
  /** The import job's progress, 0..1. */
  progress: number;
  message: string;
  error: string | null;
  jobId: number | null;
  seriesIds: number[];
  /** Files not imported, with the reason: from the upload's answer, and from the import job at its end.
   * Shown beside "done" (the others were imported) or "failed" (none was). */
  refused: RefusedFile[];
}

export const IDLE_UPLOAD: UploadView = { phase: "idle", sent: 0, total: 0, progress: 0, message: "", error: null, jobId: null, seriesIds: [], refused: [] };

export const importEndpoints = {
  start: (projectId: number) => `/api/projects/${projectId}/imports/`,
  job: (jobId: number) => `/api/jobs/${jobId}/`,
};

export interface UploadTrackerOptions extends PollOptions {
  /** GET a job (the Api's get); polled while the socket is silent. */
  getJob: (jobId: number) => Promise<ImportJob>;
}

async function replyError(reply: TransportReply): Promise<{ message: string; refused: RefusedFile[] }> {
  if (reply.status === 0) return { message: "The upload did not reach the server. Check your connection and try again.", refused: [] };
  const error = await errorFrom(new Response(reply.text, { status: reply.status }));
  return { message: error.message, refused: refusedList(error.details.refused) };
}

/** A `refused` list as the server sends it, or [] for anything else. */
export function refusedList(value: unknown): RefusedFile[] {
  if (!Array.isArray(value)) return [];
  return value.filter((r): r is RefusedFile => typeof r?.file === "string" && typeof r?.reason === "string");
}

function parse<T>(text: string): T | null {
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}

export class UploadTracker {
  view: UploadView = { ...IDLE_UPLOAD };
  private readonly poller: JobPoller<ImportJob>;

  constructor(
    private readonly projectId: number,
    private readonly transport: UploadTransport,
    private readonly onChange: (view: UploadView) => void,
    private readonly options: UploadTrackerOptions,
  ) {
    this.poller = new JobPoller<ImportJob>(
      () => (this.view.jobId === null ? null : this.options.getJob(this.view.jobId)),
      (job) => this.onJob(job),
      () => this.view.phase === "processing",
      options,
    );
  }

  get busy(): boolean {
    return this.view.phase === "uploading" || this.view.phase === "processing";
  }

  /** Send the files; resolves when the upload is answered (the import job may still be running). */
  async upload(picked: PickedFile[], options: ImportOptions = {}): Promise<void> {
    if (this.busy) return;
    this.stopPolling();
    if (!picked.length) {
      this.set({ ...IDLE_UPLOAD, phase: "failed", error: "Nothing to upload: the drop held no files (hidden files are skipped)." });
      return;
    }
    const total = picked.reduce((sum, p) => sum + p.file.size, 0);
    this.set({ ...IDLE_UPLOAD, phase: "uploading", total, message: `Uploading ${summarize(picked)}…` });
    let reply: TransportReply;
    try {
      reply = await this.transport(importEndpoints.start(this.projectId), buildImportForm(picked, options), (sent, all) => {
        if (this.view.phase === "uploading") this.set({ ...this.view, sent, total: all || this.view.total });
      });
    } catch (error) {
      this.set({ ...this.view, phase: "failed", error: (error as Error).message || "The upload failed." });
      return;
    }
    if (reply.status < 200 || reply.status >= 300) {
      const { message, refused } = await replyError(reply);
      this.set({ ...this.view, phase: "failed", error: message, refused, message: "The server refused the upload." });
      return;
    }
    const body = parse<{ job?: ImportJob; refused?: unknown }>(reply.text);
    if (!body?.job) {
      this.set({ ...this.view, phase: "failed", error: "The server's answer was not understood." });
      return;
    }
    const refused = refusedList(body.refused);
    this.set({ ...this.view, sent: this.view.total, phase: "processing", jobId: body.job.id, refused, message: "Uploaded; importing…" });
    this.onJob(body.job);
  }

  /** A job state from the upload's answer, the socket or a poll. Other jobs are ignored. */
  onJob(job: ImportJob, fromSocket = false): void {
    if (this.view.phase !== "processing" || job.id !== this.view.jobId) return;
    if (fromSocket) this.poller.heard();
    if (job.state === "done") {
      this.stopPolling();
      const seriesIds = job.result?.series ?? [];
      // Series the worker could not build join the files refused at upload (the server names them by description).
      const refused = [...this.view.refused, ...refusedList(job.result?.refused)];
      const message = job.message || job.result?.summary || `Imported ${seriesIds.length} series.`;
      this.set({ ...this.view, phase: "done", progress: 1, seriesIds, refused, message: refused.length ? importedWithRefusals(seriesIds.length, refused.length) : message });
    } else if (job.state === "failed" || job.state === "cancelled") {
      this.stopPolling();
      const error = job.state === "cancelled" ? "The import was cancelled." : job.error || job.message || "The import failed.";
      this.set({ ...this.view, phase: "failed", error, message: "" });
    } else {
      this.set({ ...this.view, progress: Math.max(this.view.progress, job.progress), message: job.message || "Importing…" });
      this.poller.ensure();
    }
  }

  onServerMessage(message: ServerMessage): void {
    if (message.type === "job.progress") this.onJob(message.job as ImportJob, true);
  }

  stopPolling(): void {
    this.poller.stop();
  }

  private set(view: UploadView): void {
    this.view = view;
    this.onChange(view);
  }
}

function importedWithRefusals(series: number, refused: number): string {
  return `Imported ${series} series; ${refused} ${refused === 1 ? "file was" : "files were"} not imported (listed below).`;
}

/** A sentence for the panel's status line. */
export function describeUpload(view: UploadView): string {
  switch (view.phase) {
    case "idle":
      return "";
    case "uploading":
      return view.total ? `Uploading: ${formatBytes(view.sent)} of ${formatBytes(view.total)} sent (${Math.floor((100 * view.sent) / view.total)}%)` : view.message;
    case "processing":
      return `Importing: ${Math.round(view.progress * 100)}%${view.message ? ` · ${view.message}` : ""}`;
    case "done":
      return view.message || "Imported.";
    case "failed":
      return view.error ?? "The upload failed.";
  }
}
