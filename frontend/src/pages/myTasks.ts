/**
 * The top of an annotator's project page: "My tasks" (their unfinished cases, changes requested first) with
 * the Next case button, which starts their next case (or takes one from the pool) and opens it in the
 * viewer; and for reviewers and owners, "To review": the submitted cases, each opening the review view.
 */

import { Api, ApiError } from "../api";
import { caseUrl, stateLabel, teamEndpoints, type AssignmentInfo, type QueueInfo } from "../team";
import { h } from "../ui/dom";

export interface CaseRow {
  assignmentId: number;
  seriesId: number;
  title: string;
  state: string;
  detail: string;
  href: string;
}

/** One row per unfinished case of the user, in the queue's order (changes requested, in progress, to do). */
export function myCaseRows(queue: QueueInfo, seriesNames: Map<number, string>): CaseRow[] {
  return queue.assigned.map((a) => caseRow(a, seriesNames));
}

export function caseRow(a: AssignmentInfo, seriesNames: Map<number, string>): CaseRow {
  const p = a.progress;
  const detail = p ? `${p.masks}/${p.labels} masks · ${p.slices} slices` : "";
  return {
    assignmentId: a.id,
    seriesId: a.series,
    title: seriesNames.get(a.series) ?? `Series ${a.series}`,
    state: stateLabel(a.state),
    detail: a.state === "returned" && a.review_comment ? `“${a.review_comment}” (${a.reviewed_by ?? "reviewer"})` : detail,
    href: caseUrl(a.series, a.id),
  };
}

/** What the Next case button says about the queue. */
export function queueSummary(queue: QueueInfo): string {
  const mine = queue.assigned.length;
  const open = queue.open.length;
  if (!mine && !open) return "Nothing to do: no case is assigned to you and the pool is empty.";
  const parts = [];
  if (mine) parts.push(`${mine} case${mine === 1 ? "" : "s"} assigned to you`);
  if (open) parts.push(`${open} in the pool`);
  return `${parts.join(", ")}.`;
}

function rowElement(row: CaseRow, kind: string): HTMLElement {
  return h(
    "a",
    { class: `case-row ${kind}`, href: row.href, "data-assignment-id": row.assignmentId },
    h("strong", {}, row.title),
    h("span", { class: "chip" }, row.state),
    row.detail ? h("span", { class: "muted" }, ` ${row.detail}`) : null,
  );
}

function message(error: unknown): string {
  return error instanceof ApiError ? error.message : `Something went wrong: ${(error as Error).message}`;
}

export interface MyTasksOptions {
  projectId: number;
  role: string | null;
  /** series id → name, for the rows */
  seriesNames: () => Map<number, string>;
  api?: Api;
  navigate?: (url: string) => void;
}

/** The "My tasks" card (annotators and owners) and the "To review" card (reviewers and owners). */
export function mountMyTasks(options: MyTasksOptions): { element: HTMLElement; refresh: () => Promise<void> } {
  const { projectId, role } = options;
  const api = options.api ?? new Api();
  const navigate = options.navigate ?? ((url: string) => window.location.assign(url));
  const annotates = role === "annotator" || role === "owner";
  const reviews = role === "reviewer" || role === "owner";
  const next = h("button", { type: "button", class: "primary next-case" }, "Next case");
  const summary = h("p", { class: "muted queue-summary" });
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const mine = h("div", { class: "case-list my-cases" });
  const toReview = h("div", { class: "case-list review-cases" });
  const element = h(
    "div",
    { class: "my-tasks" },
    annotates ? h("section", { class: "card" }, h("h2", {}, "My tasks"), h("div", { class: "row" }, next, summary), status, mine) : null,
    reviews ? h("section", { class: "card" }, h("h2", {}, "To review"), toReview) : null,
  );

  next.addEventListener("click", async () => {
    next.disabled = true;
    status.textContent = "";
    try {
      const reply = await api.post<{ assignment: AssignmentInfo | null }>(teamEndpoints.nextCase(projectId), {});
      if (reply.assignment) navigate(caseUrl(reply.assignment.series, reply.assignment.id));
      else status.textContent = "No case is waiting for you.";
    } catch (error) {
      status.className = "form-status error";
      status.textContent = message(error);
    } finally {
      next.disabled = false;
    }
  });

  async function refresh(): Promise<void> {
    const names = options.seriesNames();
    const jobs: Promise<void>[] = [];
    if (annotates) {
      jobs.push(
        api.get<QueueInfo>(teamEndpoints.queue(projectId)).then((queue) => {
          summary.textContent = queueSummary(queue);
          const rows = myCaseRows(queue, names);
          mine.replaceChildren(...(rows.length ? rows.map((r) => rowElement(r, "mine")) : [h("p", { class: "muted" }, "No unfinished case.")]));
        }),
      );
    }
    if (reviews) {
      jobs.push(
        api.get<AssignmentInfo[]>(teamEndpoints.reviews(projectId)).then((list) => {
          const rows = list.map((a) => ({ ...caseRow(a, names), detail: `by ${a.username}` }));
          toReview.replaceChildren(...(rows.length ? rows.map((r) => rowElement(r, "to-review")) : [h("p", { class: "muted" }, "Nothing waits for review.")]));
        }),
      );
    }
    try {
      await Promise.all(jobs);
    } catch (error) {
      status.className = "form-status error";
      status.textContent = message(error);
    }
  }

  return { element, refresh };
}
