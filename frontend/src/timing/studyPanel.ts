/**
 * The viewer opened on a timing study's task (`?assignment=`): a box at the top of the side panel naming
 * the study, the step and the condition, and "Done: next task" (save, send the log, submit, open the next
 * task). In the manual condition the model's tools and propagation are switched off here as well (the
 * server refuses prompts and propagation for this task in any case).
 */

import type { Api } from "../api";
import { h } from "../ui/dom";
import type { Dispatch } from "../viewer/bus";
import type { ViewerState } from "../viewer/state";
import { MODEL_TOOLS } from "../viewer/tools";
import { endpointsTiming, type AssignmentStudy, type NextTask } from "./endpoints";

export interface StudyPanelDeps {
  api: Pick<Api, "get" | "post">;
  state: ViewerState;
  dispatch: Dispatch;
  /** the side panel and the toolbar of the viewer's layout */
  side: HTMLElement;
  toolbar: HTMLElement;
  /** save the masks and send the interaction log before the task is submitted; false: not everything saved */
  finish(): Promise<boolean>;
  notify: { show(text: string, kind?: "info" | "ok" | "warn" | "error"): void; error(error: unknown, what: string): void };
  go(url: string): void;
}

export function conditionText(condition: string): string {
  return condition === "manual"
    ? "Manual: the model is off. Draw with the brush, eraser and fill."
    : "Assisted: draw a box around the structure, then correct the model's mask.";
}

export async function mountStudyPanel(deps: StudyPanelDeps): Promise<AssignmentStudy | null> {
  const { api, state } = deps;
  if (state.assignmentId === null) return null;
  const info = await api.get<AssignmentStudy>(endpointsTiming.studyOfAssignment(state.assignmentId));
  if (info.study_task === null) return null;
  if (info.condition === "manual") switchModelOff(deps);
  const done = h("button", { type: "button", class: "primary study-done" }, "Done: next task");
  const box = h(
    "div",
    { class: "study-task", "data-condition": info.condition },
    h("h3", {}, "Timing study"),
    h("div", {}, h("strong", {}, info.study_name ?? "")),
    h("div", { class: "muted study-step" }, `Task ${(info.position ?? 0) + 1} of ${info.total ?? "?"}`),
    h("div", { class: `chip condition-${info.condition}` }, info.condition === "manual" ? "Manual" : "Assisted"),
    h("p", { class: "muted" }, conditionText(info.condition ?? "")),
    info.mine ? done : h("p", { class: "muted" }, "You are looking at a participant's task."),
  );
  deps.side.prepend(box);
  done.addEventListener("click", () => void finishTask(deps, info, done));
  return info;
}

function switchModelOff({ state, dispatch, toolbar }: StudyPanelDeps): void {
  state.modelAllowed = false;
  for (const tool of MODEL_TOOLS) {
    const button = toolbar.querySelector<HTMLButtonElement>(`[data-tool="${tool}"]`);
    if (button) {
      button.disabled = true;
      button.title = "The model is off in this task (manual condition).";
    }
  }
  for (const button of toolbar.querySelectorAll<HTMLButtonElement>("button")) {
    if (button.textContent === "Propagate 3D") button.hidden = true;
  }
  if (MODEL_TOOLS.has(state.tool)) dispatch({ type: "action", action: "tool.brush" });
}

async function finishTask(deps: StudyPanelDeps, info: AssignmentStudy, button: HTMLButtonElement): Promise<void> {
  const { api, state, notify } = deps;
  button.disabled = true;
  try {
    if (!(await deps.finish())) {
      notify.show("Not everything is saved yet; try again in a moment.", "warn");
      button.disabled = false;
      return;
    }
    const id = state.assignmentId!;
    if (info.state === "todo" || info.state === "returned") await api.post(endpointsTiming.assignmentAction(id, "start"), {});
    await api.post(endpointsTiming.assignmentAction(id, "submit"), {});
    const next = await api.post<NextTask>(endpointsTiming.next(info.study!), {});
    deps.go(next.viewer_url ?? endpointsTiming.studyPage(info.project!, info.study!));
  } catch (error) {
    notify.error(error, "Finishing the task");
    button.disabled = false;
  }
}
