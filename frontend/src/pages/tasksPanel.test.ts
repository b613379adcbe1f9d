import { describe, expect, it } from "vitest";
import type { SeriesInfo } from "../endpoints";
import type { AssignmentInfo, MemberInfo, TaskInfo } from "../team";
import { assignmentCells, createBody, describeForm, reassignChoices, seriesWithoutTask, type TaskForm } from "./tasksPanel";

const form = (extra: Partial<TaskForm> = {}): TaskForm => ({ series: [1, 2], labels: [5], annotators: [], mode: "each", priority: 0, instructions: "", ...extra });

function assignment(annotator: number, state: AssignmentInfo["state"] = "todo"): AssignmentInfo {
  return { id: annotator * 10, task: 1, series: 1, annotator, username: `u${annotator}`, state, review_comment: "", reviewed_by: null };
}

describe("the owner's tasks panel", () => {
  it("sends pool tasks without annotators and spreads only when annotators are chosen", () => {
    expect(createBody(form({ instructions: "  be careful " }))).toEqual({ series: [1, 2], labels: [5], annotators: [], spread: false, priority: 0, instructions: "be careful" });
    expect(createBody(form({ annotators: [7, 8], mode: "spread" })).spread).toBe(true);
    expect(createBody(form({ mode: "spread" })).spread).toBe(false);
  });

  it("says in words what creating the tasks will do", () => {
    expect(describeForm(form({ series: [] }), 1)).toEqual({ ok: false, text: "Choose at least one series." });
    expect(describeForm(form(), 2).text).toBe("2 cases in the pool, 2 annotations each.");
    expect(describeForm(form({ annotators: [7, 8, 9], mode: "spread" }), 2).text).toBe("2 cases, each given to 2 of the 3 chosen in turn.");
    expect(describeForm(form({ annotators: [7], mode: "spread" }), 2).text).toBe("2 cases, each given to 1 of the 1 chosen in turn (1 more from the pool).");
    expect(describeForm(form({ annotators: [7, 8] }), 1).text).toBe("2 cases, each given to all 2 chosen.");
  });

  it("makes one task per series that has none", () => {
    const series = [{ id: 1 }, { id: 2 }, { id: 3 }] as SeriesInfo[];
    expect(seriesWithoutTask(series, [{ series: 2 } as TaskInfo])).toEqual([1, 3]);
  });

  it("offers a case to annotators and owners without a copy of the task, never to reviewers", () => {
    const members: MemberInfo[] = [
      { user: 1, username: "anna", role: "annotator" },
      { user: 2, username: "ben", role: "annotator" },
      { user: 3, username: "rui", role: "reviewer" },
      { user: 4, username: "olivia", role: "owner" },
    ];
    const task = { assignments: [assignment(1), assignment(2)] } as TaskInfo;
    expect(reassignChoices(members, task, task.assignments[0]!).map((m) => m.username)).toEqual(["anna", "olivia"]);
  });

  it("shows each copy's state, masks, slices and active time (a dash until measured)", () => {
    const a = { ...assignment(1, "returned"), progress: { labels: 2, masks: 1, slices: 4, active_seconds: null } };
    expect(assignmentCells(a)).toEqual({ who: "u1", state: "Changes requested", masks: "1/2", slices: "4", active: "—", canReassign: true });
    expect(assignmentCells(assignment(1, "submitted")).canReassign).toBe(false);
  });
});
