import { describe, expect, it } from "vitest";
import type { AssignmentInfo, QueueInfo, TaskInfo } from "../team";
import { caseRow, myCaseRows, queueSummary } from "./myTasks";

function assignment(id: number, state: AssignmentInfo["state"], extra: Partial<AssignmentInfo> = {}): AssignmentInfo {
  return { id, task: id, series: 10 + id, annotator: 1, username: "anna", state, review_comment: "", reviewed_by: null, ...extra };
}

const openTask = { id: 9, series: 19 } as TaskInfo;

describe("my tasks", () => {
  it("lists my cases in the queue's order, each opening the viewer for its assignment", () => {
    const queue: QueueInfo = { ordering: "priority", assigned: [assignment(2, "returned"), assignment(1, "todo")], open: [] };
    const rows = myCaseRows(queue, new Map([[12, "CT chest"]]));
    expect(rows.map((r) => [r.title, r.state, r.href])).toEqual([
      ["CT chest", "Changes requested", "/series/12/?assignment=2"],
      ["Series 11", "Not started", "/series/11/?assignment=1"],
    ]);
  });

  it("quotes the reviewer's comment on a case sent back, else shows the progress", () => {
    const back = caseRow(assignment(1, "returned", { review_comment: "Include the tip.", reviewed_by: "rui" }), new Map());
    expect(back.detail).toBe("“Include the tip.” (rui)");
    const going = caseRow(assignment(1, "in_progress", { progress: { labels: 2, masks: 1, slices: 7, active_seconds: null } }), new Map());
    expect(going.detail).toBe("1/2 masks · 7 slices");
  });

  it("says what Next case will find", () => {
    expect(queueSummary({ ordering: "priority", assigned: [], open: [] })).toMatch(/Nothing to do/);
    expect(queueSummary({ ordering: "priority", assigned: [assignment(1, "todo")], open: [openTask, openTask] })).toBe("1 case assigned to you, 2 in the pool.");
  });
});
