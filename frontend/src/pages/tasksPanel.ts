/**
 * The owner's tasks card: how many independent annotations each case gets, creating tasks (chosen series and
 * labels, or one task per series; given to chosen annotators, spread over them, or left in the pool) and a
 * table of every task with each copy's state, masks and slices done, active time, and a Reassign menu.
 */

import { Api, ApiError } from "../api";
import type { LabelInfo, SeriesInfo } from "../endpoints";
import { formatActive, stateLabel, teamEndpoints, type AssignmentInfo, type MemberInfo, type TaskInfo } from "../team";
import { clear, h } from "../ui/dom";

export type AssignMode = "each" | "spread";

export interface TaskForm {
  series: number[];
  labels: number[];
  annotators: number[];
  mode: AssignMode;
  priority: number;
  instructions: string;
}

/** The body of POST /api/projects/{id}/tasks/ for the form (no annotators: open tasks in the pool). */
export function createBody(form: TaskForm): Record<string, unknown> {
  return {
    series: form.series,
    labels: form.labels,
    annotators: form.annotators,
    spread: form.annotators.length > 0 && form.mode === "spread",
    priority: form.priority,
    instructions: form.instructions.trim(),
  };
}

/** What the form would do, in words, or why it cannot. */
export function describeForm(form: TaskForm, perCase: number): { ok: boolean; text: string } {
  if (!form.series.length) return { ok: false, text: "Choose at least one series." };
  const cases = `${form.series.length} case${form.series.length === 1 ? "" : "s"}`;
  if (!form.annotators.length) return { ok: true, text: `${cases} in the pool, ${perCase} annotation${perCase === 1 ? "" : "s"} each.` };
  if (form.mode === "spread") {
    const each = Math.min(perCase, form.annotators.length);
    const rest = perCase - each;
    return { ok: true, text: `${cases}, each given to ${each} of the ${form.annotators.length} chosen in turn${rest > 0 ? ` (${rest} more from the pool)` : ""}.` };
  }
  return { ok: true, text: `${cases}, each given to all ${form.annotators.length} chosen.` };
}

/** Series of the project that no task covers yet ("one task per series" takes these). */
export function seriesWithoutTask(series: SeriesInfo[], tasks: TaskInfo[]): number[] {
  const covered = new Set(tasks.map((t) => t.series));
  return series.filter((s) => !covered.has(s.id)).map((s) => s.id);
}

/** Members a case can go to: annotators and owners who do not have a copy of the task yet, plus its own. */
export function reassignChoices(members: MemberInfo[], task: TaskInfo, assignment: AssignmentInfo): MemberInfo[] {
  const taken = new Set(task.assignments.map((a) => a.annotator));
  return members.filter((m) => m.role !== "reviewer" && (m.user === assignment.annotator || !taken.has(m.user)));
}

export interface AssignmentCells {
  who: string;
  state: string;
  masks: string;
  slices: string;
  active: string;
  canReassign: boolean;
}

export function assignmentCells(a: AssignmentInfo): AssignmentCells {
  const p = a.progress;
  return {
    who: a.username,
    state: stateLabel(a.state),
    masks: p ? `${p.masks}/${p.labels}` : "—",
    slices: p ? String(p.slices) : "—",
    active: formatActive(p?.active_seconds),
    canReassign: a.state === "todo" || a.state === "in_progress" || a.state === "returned",
  };
}

function message(error: unknown): string {
  return error instanceof ApiError ? error.message : `Something went wrong: ${(error as Error).message}`;
}

function checkboxes<T>(items: T[], key: (item: T) => number, text: (item: T) => string, name: string, checked: (item: T) => boolean): HTMLElement {
  return h(
    "div",
    { class: "checks", "data-name": name },
    ...items.map((item) => h("label", { class: "check" }, h("input", { type: "checkbox", name, value: key(item), checked: checked(item) }), ` ${text(item)}`)),
  );
}

function checked(root: HTMLElement, name: string): number[] {
  return [...root.querySelectorAll<HTMLInputElement>(`input[name="${name}"]:checked`)].map((i) => Number(i.value));
}

export interface TasksPanelOptions {
  projectId: number;
  perCase: number;
  api?: Api;
  /** after a change of the setting or of the tasks (the page refreshes what depends on them) */
  onChanged?: () => void;
}

export interface TasksPanelData {
  series: SeriesInfo[];
  labels: LabelInfo[];
  members: MemberInfo[];
}

export function mountTasksPanel(options: TasksPanelOptions): { element: HTMLElement; load: (data: TasksPanelData) => Promise<void> } {
  const api = options.api ?? new Api();
  const { projectId } = options;
  let perCase = options.perCase;
  let data: TasksPanelData = { series: [], labels: [], members: [] };
  let tasks: TaskInfo[] = [];
  const perCaseInput = h("input", { type: "number", min: 1, max: 10, value: perCase, class: "per-case", "aria-label": "Independent annotations per case" });
  const savePerCase = h("button", { type: "button" }, "Save");
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const form = h("form", { class: "task-form" });
  const table = h("div", { class: "task-table" });
  const element = h(
    "section",
    { class: "card tasks-panel" },
    h("h2", {}, "Tasks"),
    h("div", { class: "row" }, h("label", { class: "inline" }, "Independent annotations per case ", perCaseInput), savePerCase),
    h("p", { class: "muted" }, "With more than one, annotators do not see each other's masks until their own case is approved."),
    form,
    status,
    table,
  );

  const say = (text: string, error = false) => {
    status.className = `form-status${error ? " error" : ""}`;
    status.textContent = text;
  };

  savePerCase.addEventListener("click", async () => {
    try {
      const project = await api.json<{ settings: { annotations_per_task?: number } }>(`/api/projects/${projectId}/`, {
        method: "PATCH",
        body: { annotations_per_task: Number(perCaseInput.value) },
      });
      perCase = project.settings.annotations_per_task ?? 1;
      say(`Each case now asks for ${perCase} independent annotation${perCase === 1 ? "" : "s"}.`);
      await refresh();
      options.onChanged?.();
    } catch (error) {
      say(message(error), true);
    }
  });

  const readForm = (): TaskForm => ({
    series: checked(form, "series"),
    labels: checked(form, "labels"),
    annotators: checked(form, "annotators"),
    mode: (form.querySelector<HTMLInputElement>('input[name="mode"]:checked')?.value as AssignMode) ?? "each",
    priority: Number(form.querySelector<HTMLInputElement>('input[name="priority"]')?.value || 0),
    instructions: form.querySelector<HTMLTextAreaElement>('textarea[name="instructions"]')?.value ?? "",
  });

  const create = async (series: number[]) => {
    const body = createBody({ ...readForm(), series });
    const plan = describeForm({ ...readForm(), series }, perCase);
    if (!plan.ok) return say(plan.text, true);
    try {
      const created = await api.post<TaskInfo[]>(teamEndpoints.tasks(projectId), body);
      say(`Created ${created.length} task${created.length === 1 ? "" : "s"}: ${plan.text}`);
      await refresh();
      options.onChanged?.();
    } catch (error) {
      say(message(error), true);
    }
  };

  const renderForm = () => {
    clear(form);
    const assignable = data.members.filter((m) => m.role !== "reviewer");
    const preview = h("p", { class: "muted task-plan" });
    const oneEach = h("button", { type: "button", class: "one-per-series" }, "One task per series");
    const submit = h("button", { type: "submit", class: "primary" }, "Create tasks");
    form.append(
      h("h3", {}, "New tasks"),
      h("div", { class: "muted" }, "Series"),
      checkboxes(data.series, (s) => s.id, (s) => s.description || `${s.modality} series ${s.id}`, "series", () => false),
      h("div", { class: "muted" }, "Labels"),
      checkboxes(data.labels, (l) => l.id, (l) => l.name, "labels", () => true),
      h("div", { class: "muted" }, "Annotators (none: the cases wait in the pool)"),
      checkboxes(assignable, (m) => m.user, (m) => m.username, "annotators", () => false),
      h(
        "div",
        { class: "row" },
        h("label", { class: "check" }, h("input", { type: "radio", name: "mode", value: "each", checked: true }), " every case to each of them"),
        h("label", { class: "check" }, h("input", { type: "radio", name: "mode", value: "spread" }), " share the cases (annotations per case each)"),
      ),
      h("label", { class: "inline" }, "Priority ", h("input", { type: "number", name: "priority", value: 0, class: "priority" })),
      h("textarea", { name: "instructions", placeholder: "Instructions for the annotators (optional)", rows: 2 }),
      preview,
      h("div", { class: "row" }, submit, oneEach),
    );
    const update = () => (preview.textContent = describeForm(readForm(), perCase).text);
    form.addEventListener("change", update);
    update();
    oneEach.addEventListener("click", () => {
      const missing = seriesWithoutTask(data.series, tasks);
      if (!missing.length) return say("Every series already has a task.", true);
      void create(missing);
    });
    form.onsubmit = (ev) => {
      ev.preventDefault();
      void create(readForm().series);
    };
  };

  const reassign = async (assignment: AssignmentInfo, value: string) => {
    try {
      await api.json(teamEndpoints.assignment(assignment.id), { method: "PATCH", body: { annotator: value === "pool" ? null : Number(value) } });
      say(value === "pool" ? `${assignment.username}'s case went back to the pool.` : "Case reassigned.");
      await refresh();
    } catch (error) {
      say(message(error), true);
    }
  };

  const renderTable = () => {
    const names = new Map(data.series.map((s) => [s.id, s.description || `${s.modality} series ${s.id}`]));
    const labelNames = new Map(data.labels.map((l) => [l.id, l.name]));
    if (!tasks.length) return table.replaceChildren(h("p", { class: "muted" }, "No tasks yet."));
    const rows: HTMLElement[] = [];
    for (const task of tasks) {
      const head = h(
        "tr",
        { class: "task-row", "data-task-id": task.id },
        h("th", { colspan: 6 }, names.get(task.series) ?? `Series ${task.series}`, h("span", { class: "muted" }, ` · ${task.labels.map((id) => labelNames.get(id) ?? id).join(", ")}${task.open_slots ? ` · ${task.open_slots} open in the pool` : ""}`)),
      );
      rows.push(head);
      for (const a of task.assignments) {
        const cells = assignmentCells(a);
        const select = h(
          "select",
          { "aria-label": `Reassign ${a.username}'s case`, class: "reassign" },
          ...reassignChoices(data.members, task, a).map((m) => h("option", { value: m.user, selected: m.user === a.annotator }, m.username)),
          h("option", { value: "pool" }, "back to the pool"),
        );
        select.disabled = !cells.canReassign;
        select.addEventListener("change", () => void reassign(a, select.value));
        rows.push(
          h("tr", { class: "assignment-row", "data-assignment-id": a.id, "data-state": a.state }, h("td", {}, cells.who), h("td", { class: "state" }, cells.state), h("td", {}, cells.masks, " masks"), h("td", {}, cells.slices, " slices"), h("td", { title: "Active annotation time" }, cells.active), h("td", {}, select)),
        );
      }
    }
    table.replaceChildren(
      h("table", {}, h("thead", {}, h("tr", {}, ...["Annotator", "State", "Masks", "Slices", "Active time", "Reassign"].map((t) => h("th", {}, t)))), h("tbody", {}, ...rows)),
    );
  };

  async function refresh(): Promise<void> {
    try {
      tasks = await api.get<TaskInfo[]>(teamEndpoints.tasks(projectId));
      renderTable();
    } catch (error) {
      say(message(error), true);
    }
  }

  return {
    element,
    load: async (loaded) => {
      data = loaded;
      renderForm();
      await refresh();
    },
  };
}
