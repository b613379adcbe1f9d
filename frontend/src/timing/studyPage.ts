/**
 * A participant's page of a timing study (data-page="study"): a short instruction screen, then their own
 * tasks in their order (and nothing else of the project's queue), one at a time: "Start" opens the next
 * unfinished task in the viewer; the viewer's "Done: next task" comes back through here when all are done.
 */

import { Api } from "../api";
import type { PageContext } from "../pageContext";
import { header } from "../ui/chrome";
import { h } from "../ui/dom";
import { endpointsTiming, studyIdFromPath, type MyStudy, type NextTask, type StudyRun } from "./endpoints";

const STATE_TEXT: Record<string, string> = {
  todo: "to do",
  in_progress: "in progress",
  returned: "sent back",
  submitted: "done",
  approved: "done",
};

export function nextRun(tasks: StudyRun[]): StudyRun | null {
  return tasks.find((t) => !["submitted", "approved"].includes(t.state)) ?? null;
}

export async function mount(ctx: PageContext): Promise<void> {
  const api = new Api();
  const studyId = studyIdFromPath(window.location.pathname)!;
  const projectId = ctx.projectId!;
  const main = h("main", { class: "page timing-participant" }, h("p", { class: "muted" }, "Loading…"));
  ctx.root.append(header(ctx.username, [{ text: "Project", href: `/projects/${projectId}/` }, { text: "Timing study" }]), main);
  let study: MyStudy;
  try {
    study = await api.get<MyStudy>(endpointsTiming.mine(studyId));
  } catch (error) {
    main.replaceChildren(h("p", { class: "muted" }, (error as Error).message));
    return;
  }
  document.title = `${study.name} · Delineate`;
  const next = nextRun(study.tasks);
  const start = h("button", { type: "button", class: "primary study-start" }, next?.state === "in_progress" ? "Continue" : "Start the next task");
  start.addEventListener("click", async () => {
    start.disabled = true;
    try {
      const reply = await api.post<NextTask>(endpointsTiming.next(studyId), {});
      if (reply.viewer_url) window.location.assign(reply.viewer_url);
      else window.location.reload();
    } catch (error) {
      ctx.banner.error(error, "Starting the task");
      start.disabled = false;
    }
  });
  main.replaceChildren(
    h("h1", {}, study.name),
    h("section", { class: "card instructions" }, h("h2", {}, "Instructions"), h("p", {}, study.instructions)),
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Your tasks, in order"),
      h(
        "ol",
        { class: "study-tasks" },
        ...study.tasks.map((t) =>
          h(
            "li",
            { "data-state": t.state, "data-condition": t.condition },
            `${t.label_name} on ${t.series_description} · `,
            h("span", { class: `chip condition-${t.condition}` }, t.condition === "manual" ? "manual (no model)" : "assisted"),
            h("span", { class: "muted" }, ` · ${STATE_TEXT[t.state] ?? t.state}`),
          ),
        ),
      ),
      next ? start : h("p", { class: "study-finished" }, "All your tasks are done. Thank you!"),
    ),
  );
}
