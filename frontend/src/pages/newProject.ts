/**
 * The project list's "New project" form: name, description and a label set (name, colour and, optionally, the
 * model's input window for that label). projectPayload checks the form like the server does, so most mistakes
 * are named before anything is sent; the server's own message is shown for the rest.
 */

import { Api, ApiError } from "../api";
import { endpoints, type ProjectInfo } from "../endpoints";
import { h } from "../ui/dom";

/** The model input windows a label can ask for (annotator/imaging/windows.py's CT presets). */
export const MODEL_WINDOWS: { value: string; label: string }[] = [
  { value: "", label: "Project default" },
  { value: "soft_tissue", label: "Soft tissue (40/400)" },
  { value: "lung", label: "Lung (-600/1500)" },
  { value: "bone", label: "Bone (400/1800)" },
  { value: "brain", label: "Brain (40/80)" },
];

/** Distinct colours for new label rows, as the server's defaults. */
export const LABEL_COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45"];

export interface LabelDraft {
  name: string;
  color: string;
  window_preset: string;
}

export interface ProjectDraft {
  name: string;
  description: string;
  labels: LabelDraft[];
  /** PS3.15 Retain UIDs Option: chosen once, at creation. Sent only when chosen. */
  retain_uids?: boolean;
  /** PS3.15 Clean Descriptors Option: series descriptions kept, cleaned. Chosen once; sent only when chosen. */
  clean_descriptors?: boolean;
}

export type PayloadResult = { ok: true; payload: ProjectDraft } | { ok: false; error: string };

/** The POST body for a draft, or the first problem with it. Label rows left entirely blank are ignored. */
export function projectPayload(draft: ProjectDraft): PayloadResult {
  const name = draft.name.trim();
  if (!name) return { ok: false, error: "Give the project a name." };
  const labels: LabelDraft[] = [];
  const seen = new Set<string>();
  for (const [i, raw] of draft.labels.entries()) {
    const labelName = raw.name.trim();
    if (!labelName) continue;
    if (seen.has(labelName.toLowerCase())) return { ok: false, error: `Label ${JSON.stringify(labelName)} is listed twice.` };
    seen.add(labelName.toLowerCase());
    if (!/^#[0-9a-fA-F]{6}$/.test(raw.color)) return { ok: false, error: `Label ${i + 1} needs a colour like #ff8800.` };
    labels.push({ name: labelName, color: raw.color.toLowerCase(), window_preset: raw.window_preset });
  }
  const payload: ProjectDraft = { name, description: draft.description.trim(), labels };
  if (draft.retain_uids) payload.retain_uids = true;
  if (draft.clean_descriptors) payload.clean_descriptors = true;
  return { ok: true, payload };
}

export function nextColor(used: string[]): string {
  const taken = new Set(used.map((c) => c.toLowerCase()));
  return LABEL_COLORS.find((c) => !taken.has(c)) ?? LABEL_COLORS[used.length % LABEL_COLORS.length]!;
}

function labelRow(color: string, onRemove: (row: HTMLElement) => void): HTMLElement {
  const remove = h("button", { type: "button", class: "link-button remove-label", "aria-label": "Remove this label" }, "Remove");
  const row = h(
    "div",
    { class: "label-draft" },
    h("input", { name: "label-name", placeholder: "Label name, e.g. tumour", "aria-label": "Label name", maxlength: 100 }),
    h("input", { name: "label-color", type: "color", value: color, "aria-label": "Label colour" }),
    h("select", { name: "label-window", "aria-label": "Model window for this label", title: "The window the model sees for this label" }, ...MODEL_WINDOWS.map((w) => h("option", { value: w.value }, w.label))),
    remove,
  );
  remove.addEventListener("click", () => onRemove(row));
  return row;
}

function readDraft(form: HTMLFormElement): ProjectDraft {
  const value = (el: Element | null) => (el as HTMLInputElement | HTMLSelectElement | null)?.value ?? "";
  return {
    name: value(form.querySelector("[name=project-name]")),
    description: value(form.querySelector("[name=project-description]")),
    retain_uids: (form.querySelector("[name=retain-uids]") as HTMLInputElement | null)?.checked ?? false,
    clean_descriptors: (form.querySelector("[name=clean-descriptors]") as HTMLInputElement | null)?.checked ?? false,
    labels: Array.from(form.querySelectorAll(".label-draft")).map((row) => ({
      name: value(row.querySelector("[name=label-name]")),
      color: value(row.querySelector("[name=label-color]")),
      window_preset: value(row.querySelector("[name=label-window]")),
    })),
  };
}

/** A collapsible "New project" card; on success the browser goes to the new project's page. */
export function mountNewProject(api: Api = new Api(), go: (url: string) => void = (url) => window.location.assign(url)): HTMLElement {
  const rows = h("div", { class: "label-drafts" });
  const removeRow = (row: HTMLElement) => row.remove();
  const addRow = () => {
    const used = Array.from(rows.querySelectorAll<HTMLInputElement>("[name=label-color]")).map((i) => i.value);
    rows.append(labelRow(nextColor(used), removeRow));
  };
  addRow();
  const add = h("button", { type: "button", class: "add-label" }, "+ Add label");
  add.addEventListener("click", addRow);
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary" }, "Create project");
  const cancel = h("button", { type: "button", class: "link-button" }, "Cancel");
  const form = h(
    "form",
    { class: "new-project-form", hidden: true, novalidate: true },
    h("label", {}, "Name", h("input", { name: "project-name", required: true, maxlength: 200, placeholder: "e.g. Liver tumours 2025" })),
    h("label", {}, "Description", h("textarea", { name: "project-description", rows: 2, placeholder: "What the team annotates, and how" })),
    h(
      "label",
      { class: "retain-uids", title: "Chosen once: changing it later would give one study two sets of UIDs" },
      h("input", { type: "checkbox", name: "retain-uids" }),
      " Keep the original DICOM UIDs (PS3.15 Retain UIDs Option): names, IDs and dates are still removed, and DICOM SEG exports line up with the studies in your PACS or viewer.",
    ),
    h(
      "label",
      { class: "clean-descriptors", title: "Chosen once, so every series of the project is de-identified alike" },
      h("input", { type: "checkbox", name: "clean-descriptors", checked: true }),
      " Keep series descriptions and protocol names, cleaned of names, IDs and dates found in the header (PS3.15 Clean Descriptors Option), so annotators can tell sequences apart. Unticked, they are removed.",
    ),
    h("fieldset", {}, h("legend", {}, "Labels"), h("p", { class: "muted hint" }, "Name and colour of each structure; the model window is optional (e.g. Lung for nodules)."), rows, add),
    status,
    h("div", { class: "form-actions" }, submit, " ", cancel),
  );
  const open = h("button", { type: "button", class: "primary new-project-open" }, "New project");
  open.addEventListener("click", () => {
    form.hidden = false;
    open.hidden = true;
    form.querySelector<HTMLInputElement>("[name=project-name]")?.focus();
  });
  cancel.addEventListener("click", () => {
    form.hidden = true;
    open.hidden = false;
    status.textContent = "";
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const result = projectPayload(readDraft(form));
    if (!result.ok) {
      status.className = "form-status error";
      status.textContent = result.error;
      return;
    }
    submit.disabled = true;
    status.className = "form-status muted";
    status.textContent = "Creating the project…";
    try {
      const project = await api.post<ProjectInfo>(endpoints.projects(), result.payload);
      status.textContent = "Created. Opening it…";
      go(`/projects/${project.id}/`);
    } catch (error) {
      status.className = "form-status error";
      status.textContent = error instanceof ApiError ? error.message : `The project could not be created: ${(error as Error).message}`;
      submit.disabled = false;
    }
  });
  return h("section", { class: "card new-project" }, open, form);
}
