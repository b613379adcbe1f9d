/**
 * The project page's PACS panel (owners): the project's DICOMweb source (URL, none / basic / bearer
 * authentication; the server keeps the secret and only says whether one is set), a search of its studies and
 * series (only patient-independent fields come back, with an opaque handle per result), importing the chosen
 * series as a background job, and sending the masks back to the PACS as DICOM SEG (DICOMweb STOW-RS): the
 * approved masks by default, or every saved mask.
 *
 * The logic (payloads, selection, job tracking) is DOM-free in pacs.ts; this module only draws it.
 */

import { Api, ApiError } from "../api";
import { AnnotatorSocket, socketUrl } from "../socket";
import { h } from "../ui/dom";
import {
  describeJob,
  describeSource,
  pacsEndpoints,
  PacsJobTracker,
  searchQuery,
  SeriesSelection,
  seriesLine,
  sourcePayload,
  studyLine,
  type AuthMethod,
  type JobView,
  type SeriesResult,
  type SourceInfo,
  type StudyResult,
} from "./pacs";

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
  // As for file exports: the reviewed (approved) masks by default, or every saved mask's latest revision.
  const sendWhich = h(
    "select",
    { name: "pacs-send-masks", "aria-label": "Masks to send" },
    h("option", { value: "approved" }, "Approved masks"),
    h("option", { value: "all" }, "All saved masks"),
  );
  const importLine = jobLine("import");
  const sendLine = jobLine("send");
  const searchSection = h("div", { class: "pacs-search-section", hidden: true }, searchForm, results, importButton, importLine.bar, importLine.status, h("hr", {}), sendWhich, " ", sendButton, sendLine.bar, sendLine.status);

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
    void sender.start(pacsEndpoints.exports(projectId), { masks: sendWhich.value });
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
