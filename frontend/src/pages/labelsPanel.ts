/**
 * The owner's labels card: rename, recolour, change the model window, move up and down, remove (a label
 * with masks asks first: until confirmed, nothing changes and its masks stay in exports) and add. Other
 * members see the list only (project.ts renders it).
 */

import { Api, ApiError } from "../api";
import type { LabelInfo, WindowPresetInfo } from "../endpoints";
import { teamEndpoints } from "../team";
import { clear, h } from "../ui/dom";

/** ``ids`` with ``id`` moved ``delta`` places (clamped to the ends). */
export function moveLabel(ids: number[], id: number, delta: number): number[] {
  const from = ids.indexOf(id);
  if (from < 0) return ids;
  const to = Math.max(0, Math.min(ids.length - 1, from + delta));
  const out = ids.filter((x) => x !== id);
  out.splice(to, 0, id);
  return out;
}

/** The question asked before removing a label that has masks (the server's 409 names how many). */
export function removeQuestion(label: Pick<LabelInfo, "name">, masks: number): string {
  return `${label.name} has ${masks} saved mask${masks === 1 ? "" : "s"}. Remove it anyway? Its masks stay in the database but leave exports and the approved masks.`;
}

/** The changed fields of a label row, or null when nothing changed. */
export function labelEdits(label: LabelInfo, row: { name: string; color: string; window_preset: string }): Partial<LabelInfo> | null {
  const edits: Partial<LabelInfo> = {};
  if (row.name.trim() !== label.name) edits.name = row.name.trim();
  if (row.color.toLowerCase() !== label.color.toLowerCase()) edits.color = row.color;
  if (row.window_preset !== (label.window_preset ?? "")) edits.window_preset = row.window_preset;
  return Object.keys(edits).length ? edits : null;
}

function message(error: unknown): string {
  return error instanceof ApiError ? error.message : `Something went wrong: ${(error as Error).message}`;
}

export interface LabelsPanelOptions {
  projectId: number;
  api?: Api;
  /** reload the project (its labels) after a change */
  reload: () => Promise<LabelInfo[]>;
  confirm?: (question: string) => boolean;
}

export function mountLabelsPanel(
  options: LabelsPanelOptions,
  initial: LabelInfo[],
  presets: WindowPresetInfo[],
): { element: HTMLElement } {
  const api = options.api ?? new Api();
  const ask = options.confirm ?? ((q: string) => window.confirm(q));
  const { projectId } = options;
  let labels = initial;
  const list = h("div", { class: "label-editor" });
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const newName = h("input", { name: "new-label", placeholder: "New label", "aria-label": "New label name" });
  const newColor = h("input", { type: "color", value: "#e6194b", "aria-label": "New label colour" });
  const add = h("button", { type: "button" }, "Add label");
  const element = h("section", { class: "card labels-panel" }, h("h2", {}, "Labels"), list, h("div", { class: "row" }, newName, newColor, add), status);

  const say = (text: string, error = false) => {
    status.className = `form-status${error ? " error" : ""}`;
    status.textContent = text;
  };
  const windowSelect = (value: string) =>
    h("select", { "aria-label": "Model window" }, h("option", { value: "" }, "project default"), ...presets.map((p) => h("option", { value: p.name, selected: p.name === value }, p.name)));

  const after = async (done: string) => {
    labels = await options.reload();
    render();
    say(done);
  };

  const run = async (work: () => Promise<unknown>, done: string): Promise<boolean> => {
    try {
      await work();
      await after(done);
      return true;
    } catch (error) {
      say(message(error), true);
      return false;
    }
  };

  const remove = async (label: LabelInfo) => {
    try {
      await api.json(teamEndpoints.label(projectId, label.id), { method: "DELETE", body: {} });
      await after(`Removed ${label.name}.`);
    } catch (error) {
      const masks = error instanceof ApiError && error.status === 409 ? Number(error.details.masks ?? 0) : 0;
      if (!masks) return say(message(error), true);
      if (!ask(removeQuestion(label, masks))) return say(`${label.name} kept.`);
      await run(() => api.json(teamEndpoints.label(projectId, label.id), { method: "DELETE", body: { confirm: true } }), `Removed ${label.name}; its masks are kept out of exports.`);
    }
  };

  function render(): void {
    clear(list);
    const ids = labels.map((l) => l.id);
    for (const label of labels) {
      const name = h("input", { value: label.name, "aria-label": `Name of ${label.name}`, class: "label-name" });
      const color = h("input", { type: "color", value: label.color, "aria-label": `Colour of ${label.name}` });
      const window = windowSelect(label.window_preset ?? "");
      const save = h("button", { type: "button" }, "Save");
      const editor = h("div", { class: "label-edit row", hidden: true }, name, color, window, save);
      const edit = h("button", { type: "button", class: "link-button edit-label" }, "Edit");
      const up = h("button", { type: "button", class: "link-button", title: "Move up", "aria-label": `Move ${label.name} up` }, "↑");
      const down = h("button", { type: "button", class: "link-button", title: "Move down", "aria-label": `Move ${label.name} down` }, "↓");
      const del = h("button", { type: "button", class: "link-button" }, "Remove");
      edit.addEventListener("click", () => (editor.hidden = !editor.hidden));
      save.addEventListener("click", () => {
        const edits = labelEdits(label, { name: name.value, color: color.value, window_preset: window.value });
        if (!edits) return say("Nothing changed.");
        void run(() => api.json(teamEndpoints.label(projectId, label.id), { method: "PATCH", body: edits }), `Saved ${edits.name ?? label.name}.`);
      });
      for (const [button, delta] of [[up, -1], [down, 1]] as const) {
        button.addEventListener("click", () => void run(() => api.post(teamEndpoints.labelOrder(projectId), { labels: moveLabel(ids, label.id, delta) }), "Order saved."));
      }
      del.addEventListener("click", () => void remove(label));
      list.append(
        h(
          "div",
          { class: "label-row editable", "data-label-id": label.id },
          h("span", { class: "swatch", style: `background:${label.color}` }),
          `${label.value}. ${label.name}`,
          label.window_preset ? h("span", { class: "muted" }, ` (model window: ${label.window_preset})`) : null,
          h("span", { class: "label-actions" }, " ", edit, up, down, del),
        ),
        editor,
      );
    }
    if (!labels.length) list.append(h("p", { class: "muted" }, "No labels yet."));
  }

  add.addEventListener("click", () => {
    if (!newName.value.trim()) return say("Name the new label.", true);
    void run(() => api.post(teamEndpoints.labels(projectId), { name: newName.value, color: newColor.value }), `Added ${newName.value.trim()}.`).then((ok) => {
      if (ok) newName.value = "";
    });
  });
  render();
  return { element };
}
