/**
 * The project page's upload panel (owners): drop files, a folder or a zip on it, or pick files or a folder;
 * the files go up as one multipart request through XMLHttpRequest (fetch reports no upload progress), a bar
 * shows the bytes sent, then the import job's progress (socket job.progress, polling as a fallback), and
 * onImported runs when the series exist so the studies list can refresh. The logic is in ../upload.ts.
 */

import { Api, csrfToken } from "../api";
import { AnnotatorSocket, socketUrl } from "../socket";
import { h } from "../ui/dom";
import {
  describeUpload,
  filesFromDrop,
  filesFromList,
  type ImportJob,
  importEndpoints,
  type PickedFile,
  type RefusedFile,
  type TransportReply,
  type UploadTransport,
  UploadTracker,
  type UploadView,
} from "../upload";

/** POST a FormData with XMLHttpRequest, reporting upload progress; resolves with any answer (status 0: none). */
export const xhrTransport: UploadTransport = (url, form, onProgress) =>
  new Promise<TransportReply>((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.withCredentials = true;
    xhr.upload.addEventListener("progress", (ev) => onProgress(ev.loaded, ev.lengthComputable ? ev.total : 0));
    xhr.addEventListener("load", () => resolve({ status: xhr.status, text: xhr.responseText }));
    xhr.addEventListener("error", () => resolve({ status: 0, text: "" }));
    xhr.addEventListener("abort", () => resolve({ status: 0, text: "" }));
    xhr.send(form);
  });

export const MODALITIES: { value: string; label: string }[] = [
  { value: "", label: "Modality: from the files" },
  { value: "CT", label: "CT" },
  { value: "MR", label: "MR" },
  { value: "PT", label: "PET" },
  { value: "US", label: "Ultrasound" },
  { value: "XR", label: "X-ray" },
  { value: "OT", label: "Other" },
];

export function mountUploadPanel(
  projectId: number,
  onImported: (seriesIds: number[]) => void,
  api: Api = new Api(),
  transport: UploadTransport = xhrTransport,
): { element: HTMLElement; dispose: () => void } {
  const fileInput = h("input", { type: "file", multiple: true, name: "files", class: "visually-hidden", "aria-label": "Choose files" });
  const folderInput = h("input", { type: "file", multiple: true, webkitdirectory: true, name: "folder", class: "visually-hidden", "aria-label": "Choose a folder" });
  const pickFiles = h("button", { type: "button" }, "Choose files…");
  const pickFolder = h("button", { type: "button" }, "Choose a folder…");
  pickFiles.addEventListener("click", () => fileInput.click());
  pickFolder.addEventListener("click", () => folderInput.click());
  const modality = h("select", { name: "modality", "aria-label": "Modality of NIfTI, NRRD and image files", title: "DICOM files carry their modality; NIfTI, NRRD and images do not" }, ...MODALITIES.map((m) => h("option", { value: m.value }, m.label)));

  const zone = h(
    "div",
    { class: "drop-zone", tabindex: 0, role: "button", "aria-label": "Drop files, a folder or a zip here, or press Enter to choose files" },
    h("strong", {}, "Drop DICOM files or folders, NIfTI, NRRD, PNG/JPEG/TIFF, or a zip here"),
    h("div", { class: "muted" }, "A folder is walked with its subfolders; hidden files are skipped."),
    h("div", { class: "upload-buttons" }, pickFiles, " ", pickFolder, " ", modality),
    fileInput,
    folderInput,
  );

  const sentFill = h("div", { class: "progress-fill", style: "width:0%" });
  const sentBar = h("div", { class: "progress upload-bytes", hidden: true, title: "Bytes sent" }, sentFill, h("span", {}, "Upload"));
  const jobFill = h("div", { class: "progress-fill", style: "width:0%" });
  const jobBar = h("div", { class: "progress upload-job", hidden: true, title: "Import" }, jobFill, h("span", {}, "Import"));
  const status = h("p", { class: "upload-status muted", role: "status", "aria-live": "polite" });
  const refusedList = h("ul", { class: "upload-refused", hidden: true, "aria-label": "Files not imported" });

  let socket: AnnotatorSocket | null = null;
  const render = (view: UploadView) => {
    const busy = tracker.busy;
    zone.classList.toggle("busy", busy);
    pickFiles.disabled = pickFolder.disabled = busy;
    sentBar.hidden = view.phase === "idle" || (view.phase === "failed" && view.jobId === null && view.sent === 0);
    sentFill.style.width = `${view.total ? Math.round((100 * view.sent) / view.total) : 0}%`;
    jobBar.hidden = !(view.phase === "processing" || view.phase === "done" || (view.phase === "failed" && view.jobId !== null));
    jobFill.style.width = `${Math.round(view.progress * 100)}%`;
    // The bars say how it ended: red when nothing was imported, amber when some files were refused.
    const outcome = view.phase === "failed" ? "failed" : view.phase === "done" && view.refused.length ? "partial" : "";
    for (const bar of [sentBar, jobBar]) {
      bar.classList.toggle("failed", outcome === "failed");
      bar.classList.toggle("partial", outcome === "partial");
    }
    status.textContent = describeUpload(view);
    status.className = `upload-status ${view.phase === "failed" ? "error" : outcome === "partial" ? "warn" : view.phase === "done" ? "ok" : "muted"}`;
    status.dataset.phase = view.phase;
    status.dataset.refused = String(view.refused.length);
    showRefused(refusedList, view.refused);
    if (view.phase === "done") onImported(view.seriesIds);
    if (!busy && socket) {
      socket.close();
      socket = null;
    }
  };
  const tracker = new UploadTracker(projectId, transport, render, { getJob: (id) => api.get<ImportJob>(importEndpoints.job(id)) });

  const start = (picked: PickedFile[]) => {
    if (tracker.busy) {
      status.textContent = "An upload is still running; drop the next one when it is done.";
      status.dataset.phase = tracker.view.phase;
      return;
    }
    // The socket first, so no job.progress is missed; polling covers a socket that never opens.
    if (!socket && typeof WebSocket !== "undefined") {
      socket = new AnnotatorSocket({ url: socketUrl(window.location), onEvent: (m) => tracker.onServerMessage(m) });
      socket.connect();
    }
    void tracker.upload(picked, { modality: modality.value || undefined });
  };

  for (const input of [fileInput, folderInput]) {
    input.addEventListener("change", () => {
      const picked = filesFromList(input.files ?? []);
      input.value = ""; // the same files can be picked again
      start(picked);
    });
  }
  zone.addEventListener("keydown", (ev) => {
    if ((ev.key === "Enter" || ev.key === " ") && ev.target === zone) {
      ev.preventDefault();
      fileInput.click();
    }
  });
  let depth = 0; // dragenter/dragleave fire for every child: count them
  zone.addEventListener("dragenter", (ev) => {
    ev.preventDefault();
    depth++;
    zone.classList.add("over");
  });
  zone.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    if (ev.dataTransfer) ev.dataTransfer.dropEffect = "copy";
  });
  zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove("over");
  });
  zone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    depth = 0;
    zone.classList.remove("over");
    const dt = ev.dataTransfer;
    // Read the items now: they are emptied once this handler returns.
    const walking = filesFromDrop(dt?.items ?? null, dt?.files ?? null);
    status.className = "upload-status muted";
    status.textContent = "Reading the dropped files…";
    status.dataset.phase = "reading";
    walking.then(start, (error: unknown) => {
      status.className = "upload-status error";
      status.textContent = `The dropped files could not be read: ${(error as Error)?.message ?? error}`;
    });
  });

  // A file dropped beside the zone must not make the browser leave the page to show it.
  const keepPage = (ev: DragEvent) => {
    if (ev.dataTransfer?.types.includes("Files")) ev.preventDefault();
  };
  window.addEventListener("dragover", keepPage);
  window.addEventListener("drop", keepPage);

  return {
    element: h("section", { class: "card upload-panel" }, h("h2", {}, "Upload studies"), zone, sentBar, jobBar, status, refusedList),
    dispose: () => {
      tracker.stopPolling();
      window.removeEventListener("dragover", keepPage);
      window.removeEventListener("drop", keepPage);
      socket?.close();
      socket = null;
    },
  };
}

/** How many refused files are listed one by one; the rest are counted. */
export const REFUSED_SHOWN = 20;

/** The files not imported, each with its reason (names as the browser picked them: never stored). */
function showRefused(list: HTMLElement, refused: RefusedFile[]): void {
  list.replaceChildren(
    ...refused.slice(0, REFUSED_SHOWN).map((r) => h("li", {}, h("strong", {}, r.file), `: ${r.reason}`)),
    ...(refused.length > REFUSED_SHOWN ? [h("li", { class: "muted" }, `and ${refused.length - REFUSED_SHOWN} more`)] : []),
  );
  list.hidden = refused.length === 0;
}
