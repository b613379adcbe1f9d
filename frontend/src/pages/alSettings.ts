/**
 * The project's active-learning settings on the model versions page (PATCH /api/projects/<id>/active-learning/,
 * annotator/al_settings.py): which masks train the model, how training cases and the Next-case queue are
 * chosen, the held-out share, the recipe's knobs, the promotion rule and auto-promote. Owners edit them;
 * everyone else sees them read-only. The server validates: a refused save shows its message beside the form
 * and changes nothing; settings stored invalid show the server's warning (the defaults are in use).
 */

import type { Api } from "../api";
import { h } from "../ui/dom";

export interface AlSettings {
  training_masks: string;
  training_strategy: string;
  training_strategies?: string[];
  queue_ordering: string;
  queue_orderings: string[];
  heldout_fraction: number;
  max_cases: number;
  min_area: number;
  recipe: { max_epochs: number; lr: number; batch_size: number; max_clicks: number; max_seconds: number | null };
  promotion: { dsc_margin: number; clicks: number; click_margin: number; min_cases: number };
  auto_promote: boolean;
  heldout_series?: number[];
  warning?: string | null;
}

type Kind = "select" | "number" | "optional-number" | "checkbox";

export interface Field {
  /** the setting's path: "training_masks", "recipe.lr" ("queue_ordering" is sent beside the changes) */
  key: string;
  label: string;
  kind: Kind;
  options?: (s: AlSettings) => [string, string][];
  step?: string;
}

const named = (values: string[] | undefined): [string, string][] => (values ?? []).map((v) => [v, v]);

export const FIELDS: Field[] = [
  { key: "training_masks", label: "Training masks", kind: "select", options: () => [["approved", "approved only"], ["saved", "any saved"]] },
  { key: "training_strategy", label: "Training cases", kind: "select", options: (s) => named(s.training_strategies ?? [s.training_strategy]) },
  { key: "queue_ordering", label: "Next case ordered by", kind: "select", options: (s) => named(s.queue_orderings) },
  { key: "heldout_fraction", label: "Held-out share of series", kind: "number", step: "0.05" },
  { key: "max_cases", label: "At most cases per run", kind: "number", step: "1" },
  { key: "min_area", label: "Least mask area (pixels)", kind: "number", step: "1" },
  { key: "recipe.max_epochs", label: "Epochs", kind: "number", step: "1" },
  { key: "recipe.lr", label: "Learning rate", kind: "number", step: "any" },
  { key: "recipe.batch_size", label: "Batch size", kind: "number", step: "1" },
  { key: "recipe.max_clicks", label: "Corrective clicks per case", kind: "number", step: "1" },
  { key: "recipe.max_seconds", label: "Time limit (s, empty: none)", kind: "optional-number", step: "any" },
  { key: "promotion.dsc_margin", label: "Promote if held-out DSC ≥ active +", kind: "number", step: "any" },
  { key: "promotion.clicks", label: "… and Dice after this many clicks", kind: "number", step: "1" },
  { key: "promotion.click_margin", label: "… above active's by more than", kind: "number", step: "any" },
  { key: "promotion.min_cases", label: "… on at least this many held-out cases", kind: "number", step: "1" },
  { key: "auto_promote", label: "Promote automatically when better", kind: "checkbox" },
];

function read(settings: AlSettings, key: string): unknown {
  return key.split(".").reduce<unknown>((value, part) => (value as Record<string, unknown> | undefined)?.[part], settings);
}

/** What the form shows for each field. */
export function formValues(settings: AlSettings): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (const f of FIELDS) {
    const value = read(settings, f.key);
    out[f.key] = f.kind === "checkbox" ? Boolean(value) : value === null || value === undefined ? "" : String(value);
  }
  return out;
}

/** The PATCH body from the form's values: numbers as numbers (text that is no number is sent as typed, for the
 * server to name the field), an empty optional number as null, nested settings as nested objects. */
export function settingsBody(values: Record<string, string | boolean>): { changes: Record<string, unknown>; queue_ordering: string } {
  const changes: Record<string, unknown> = {};
  let ordering = "";
  for (const f of FIELDS) {
    const raw = values[f.key];
    let value: unknown = raw;
    if (f.kind === "number" || f.kind === "optional-number") {
      const text = String(raw ?? "").trim();
      value = text === "" && f.kind === "optional-number" ? null : text !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
    }
    if (f.key === "queue_ordering") {
      ordering = String(raw);
      continue;
    }
    const [head, tail] = f.key.split(".") as [string, string | undefined];
    if (tail === undefined) changes[head] = value;
    else changes[head] = { ...(changes[head] as Record<string, unknown> | undefined), [tail]: value };
  }
  return { changes, queue_ordering: ordering };
}

export interface SettingsPanel {
  element: HTMLElement;
  show(settings: AlSettings, force?: boolean): void;
}

export function settingsPanel(api: Api, endpoint: string, owner: boolean, onSaved: (s: AlSettings) => void): SettingsPanel {
  const warning = h("p", { class: "al-settings-warning error", hidden: true });
  const error = h("p", { class: "al-settings-error error", role: "alert", hidden: true });
  const saved = h("span", { class: "al-settings-saved muted", hidden: true }, "Saved.");
  const save = h("button", { type: "submit", class: "primary save-al-settings", hidden: !owner }, "Save settings");
  const inputs = new Map<string, HTMLInputElement | HTMLSelectElement>();
  const grid = h("div", { class: "al-settings-grid" });
  const form = h("form", { class: "al-settings-form" }, grid, h("div", { class: "row" }, save, saved, error));
  let current: AlSettings | null = null;
  // edits not saved yet: a refresh of the page's data (a run finishing) does not overwrite them
  let dirty = false;
  form.addEventListener("input", () => {
    dirty = true;
    saved.hidden = true;
  });

  const show = (settings: AlSettings, force = false) => {
    warning.textContent = settings.warning ?? "";
    warning.hidden = !settings.warning;
    if (dirty && !force) return;
    current = settings;
    dirty = false;
    grid.replaceChildren();
    inputs.clear();
    const values = formValues(settings);
    for (const f of FIELDS) {
      const name = `al-${f.key.replace(".", "-")}`;
      let input: HTMLInputElement | HTMLSelectElement;
      if (f.kind === "select") {
        input = h("select", { name, id: name }, ...f.options!(settings).map(([v, text]) => h("option", { value: v }, text)));
        input.value = String(values[f.key]);
      } else if (f.kind === "checkbox") {
        input = h("input", { type: "checkbox", name, id: name });
        input.checked = Boolean(values[f.key]);
      } else {
        input = h("input", { type: "text", inputmode: "decimal", name, id: name, value: String(values[f.key]) });
      }
      input.disabled = !owner;
      inputs.set(f.key, input);
      grid.append(h("label", { for: name }, f.label), input);
    }
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!owner || !current) return;
    const values: Record<string, string | boolean> = {};
    for (const [key, input] of inputs) values[key] = input instanceof HTMLInputElement && input.type === "checkbox" ? input.checked : input.value;
    error.hidden = saved.hidden = true;
    save.disabled = true;
    try {
      const next = await api.json<AlSettings>(endpoint, { method: "PATCH", body: settingsBody(values) });
      show(next, true);
      saved.hidden = false;
      onSaved(next);
    } catch (e) {
      error.textContent = e instanceof Error ? e.message : String(e);
      error.hidden = false;
    } finally {
      save.disabled = false;
    }
  });

  const element = h("section", { class: "card al-settings-card" }, h("h2", {}, "Active-learning settings"), owner ? null : h("p", { class: "muted" }, "Only the project's owners change these."), warning, form);
  return { element, show };
}
