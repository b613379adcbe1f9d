import { describe, expect, it } from "vitest";

import { subscribeExtra } from "./controller";
import { assignmentFromUrl } from "./page";
import type { ViewerState } from "./state";

describe("what a subscribe carries", () => {
  it("names the label and, when the viewer was opened for a task, the assignment", () => {
    const onTask = { assignmentId: 12 } as ViewerState;
    const free = { assignmentId: null } as ViewerState;
    expect(subscribeExtra(onTask, 3)).toEqual({ label_id: 3, assignment_id: 12 });
    expect(subscribeExtra(free, 3)).toEqual({ label_id: 3 });
    expect(subscribeExtra(free, undefined)).toEqual({});
  });

  it("reads the assignment from the page's query string, ignoring anything that is not an id", () => {
    expect(assignmentFromUrl("?assignment=42")).toBe(42);
    expect(assignmentFromUrl("?slice=3&assignment=7")).toBe(7);
    expect(assignmentFromUrl("")).toBeNull();
    expect(assignmentFromUrl("?assignment=abc")).toBeNull();
    expect(assignmentFromUrl("?assignment=-1")).toBeNull();
  });
});
