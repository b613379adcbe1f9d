import { describe, expect, it } from "vitest";
import type { Api } from "../api";
import { encode } from "../rle";
import type { AssignmentInfo, CaseInfo, TaskReview } from "../team";
import { LIVER, countOn, maskWith, recordingNotifier, viewerState } from "../testing/viewer";
import { readOnlyHint, Review } from "./review";
import type { ViewerState } from "./state";

type Handler = (body: unknown) => unknown;

/** An API answering from a table of "METHOD path" → handler, recording every call. */
function fakeApi(routes: Record<string, Handler>) {
  const calls: string[] = [];
  const answer = async (method: string, path: string, body?: unknown) => {
    calls.push(`${method} ${path}`);
    const handler = routes[`${method} ${path}`];
    if (!handler) throw new Error(`no route ${method} ${path}`);
    return handler(body);
  };
  const api = {
    get: (path: string) => answer("GET", path),
    post: (path: string, body: unknown) => answer("POST", path, body),
    json: (path: string, options: { method?: string; body?: unknown } = {}) => answer(options.method ?? "GET", path, options.body),
  } as unknown as Pick<Api, "get" | "post" | "json">;
  return { api, calls };
}

function assignment(state: AssignmentInfo["state"], username = "anna"): AssignmentInfo {
  return { id: 3, task: 5, series: 7, annotator: 1, username, state, review_comment: "", reviewed_by: null };
}

function caseOf(a: AssignmentInfo): CaseInfo {
  return { assignment: a, task: { id: 5, project: 1, series: 7, labels: [LIVER.id], instructions: "Outline the liver.", priority: 0 }, comments: [] };
}

function setup(state: ViewerState, routes: Record<string, Handler>, autosave = { flush: async () => {}, hasUnsaved: false, baseOf: () => null as number | null }) {
  const { api, calls } = fakeApi(routes);
  const notify = recordingNotifier();
  const views: string[] = [];
  const navigated: string[] = [];
  const review = new Review({
    state,
    api,
    notify,
    view: { review: () => views.push("review"), mask: () => views.push("mask"), redraw: () => views.push("redraw") },
    autosave,
    navigate: (url) => navigated.push(url),
  });
  return { review, calls, notify, views, navigated };
}

function annotatorState(): ViewerState {
  const state = viewerState({ labels: [LIVER] });
  (state as { assignmentId: number | null }).assignmentId = 3;
  return state;
}

describe("annotating one's own case", () => {
  it("starts a case that was not started (or sent back) when it is opened", async () => {
    const state = annotatorState();
    const { review, calls } = setup(state, {
      "GET /api/assignments/3/case/": () => caseOf(assignment("returned")),
      "POST /api/assignments/3/start/": () => assignment("in_progress"),
    });
    await review.load();
    expect(state.review.mode).toBe("annotate");
    expect(state.review.caseInfo?.assignment.state).toBe("in_progress");
    expect(calls).toEqual(["GET /api/assignments/3/case/", "POST /api/assignments/3/start/"]);
  });

  it("Submit and next saves, submits and opens the next case of the queue", async () => {
    const state = annotatorState();
    const order: string[] = [];
    const autosave = { flush: async () => void order.push("flush"), hasUnsaved: false, baseOf: () => null };
    const { review, calls, navigated } = setup(
      state,
      {
        "GET /api/assignments/3/case/": () => caseOf(assignment("in_progress")),
        "POST /api/assignments/3/submit/": () => assignment("submitted"),
        "POST /api/projects/1/queue/next/": () => ({ assignment: { ...assignment("in_progress"), id: 4, series: 9 } }),
      },
      autosave,
    );
    await review.load();
    review.execute({ type: "case.submit-next" });
    await new Promise((r) => setTimeout(r, 0));
    expect(order).toEqual(["flush"]);
    expect(calls.slice(1)).toEqual(["POST /api/assignments/3/submit/", "POST /api/projects/1/queue/next/"]);
    expect(navigated).toEqual(["/series/9/?assignment=4"]);
  });

  it("does not submit while changes are still unsaved after saving", async () => {
    const state = annotatorState();
    const autosave = { flush: async () => {}, hasUnsaved: true, baseOf: () => null };
    const { review, calls, notify, navigated } = setup(state, { "GET /api/assignments/3/case/": () => caseOf(assignment("in_progress")) }, autosave);
    await review.load();
    review.execute({ type: "case.submit-next" });
    await new Promise((r) => setTimeout(r, 0));
    expect(calls).toEqual(["GET /api/assignments/3/case/"]);
    expect(navigated).toEqual([]);
    expect(notify.shown.at(-1)?.message).toMatch(/not submitted/);
  });

  it("takes in a reviewer's comment live and says so", async () => {
    const state = annotatorState();
    const { review, notify } = setup(state, { "GET /api/assignments/3/case/": () => caseOf(assignment("in_progress")) });
    await review.load();
    review.onComment({ id: 8, assignment: 3, series_id: 7, author: "rui", text: "Missed the tip.", slice_index: 1, x: 2, y: 3, created_at: "" });
    review.onComment({ id: 9, assignment: 99, series_id: 7, author: "rui", text: "another case", created_at: "" });
    expect(state.review.comments.map((c) => c.text)).toEqual(["Missed the tip."]);
    expect(notify.shown.at(-1)?.message).toBe("rui commented (slice 2): Missed the tip.");
  });
});

describe("reviewing someone's case", () => {
  const task: TaskReview = {
    task: 5,
    series: 7,
    labels: [LIVER.id],
    instructions: "",
    assignments: [
      { id: 3, annotator: 1, username: "anna", state: "submitted", state_label: "Submitted", color: "#00bcd4", masks: {} },
      { id: 4, annotator: 2, username: "ben", state: "submitted", state_label: "Submitted", color: "#ff9800", masks: {} },
    ],
    consensus: { color: "#ffffff", masks: {} },
  };
  const maskOf = (pixels: [number, number][]) => ({ revision: null, slices: { "2": encode(maskWith(pixels), 8, 10) } });

  function reviewerSetup() {
    const state = viewerState({ labels: [LIVER], role: "reviewer" });
    (state as { assignmentId: number | null }).assignmentId = 3;
    (state as { username: string }).username = "rui";
    return {
      state,
      ...setup(state, {
        "GET /api/assignments/3/case/": () => caseOf(assignment("submitted")),
        "GET /api/tasks/5/review/": () => task,
        [`GET /api/series/7/masks/${LIVER.id}/?annotator=anna`]: () => maskOf([[1, 1], [2, 1]]),
        [`GET /api/series/7/masks/${LIVER.id}/?annotator=ben`]: () => maskOf([[5, 5]]),
        [`GET /api/series/7/masks/${LIVER.id}/?track=consensus`]: () => ({ revision: null, slices: {} }),
        "GET /api/tasks/5/agreement/": () => ({ task: 5, labels: [] }),
        "POST /api/assignments/3/request_changes/": (body) => ({ assignment: assignment("returned"), comment: { id: 1, assignment: 3, series_id: 7, author: "rui", created_at: "", requests_changes: true, ...(body as object) } }),
      }),
    };
  }

  it("loads every annotator's mask as a layer of its own", async () => {
    const { state, review } = reviewerSetup();
    await review.load();
    expect(state.review.mode).toBe("review");
    expect(state.review.layers.map((l) => [l.username, countOn(l.volume.peek(LIVER.id, 2))])).toEqual([
      ["anna", 2],
      ["ben", 1],
      [null, 0],
    ]);
    review.execute({ type: "review.layer.toggle", key: state.review.layers[1]!.key });
    expect(state.review.layers.map((l) => l.visible)).toEqual([true, false, true]);
  });

  it("requests changes with a comment pinned where the Comment tool was clicked", async () => {
    const { state, review, calls } = reviewerSetup();
    await review.load();
    state.slice = 2;
    review.execute({ type: "comment.pin", x: 4.5, y: 6 });
    expect(state.review.pin).toEqual({ slice: 2, x: 4.5, y: 6 });
    review.execute({ type: "comment.send", text: "Include the tip.", requestChanges: true });
    await new Promise((r) => setTimeout(r, 0));
    expect(calls.at(-1)).toBe("POST /api/assignments/3/request_changes/");
    expect(state.review.comments.map((c) => [c.text, c.slice_index, c.x, c.y])).toEqual([["Include the tip.", 2, 4.5, 6]]);
    expect(state.review.caseInfo?.assignment.state).toBe("returned");
    expect(state.review.pin).toBeNull();
  });

  it("tells a reviewer what they can do here", () => {
    expect(readOnlyHint({ assignmentId: 3 })).toMatch(/^Reviewing a case/);
    expect(readOnlyHint({ assignmentId: null })).toMatch(/Open a submitted case/);
  });
});

describe("a case sent back while its annotator has it open", () => {
  it("says so and reopens it for them", async () => {
    const state = annotatorState();
    const { review, calls, notify } = setup(state, {
      "GET /api/assignments/3/case/": () => caseOf(assignment("submitted")),
      "POST /api/assignments/3/start/": () => assignment("in_progress"),
    });
    await review.load();
    review.onAssignment({ id: 3, state: "returned" });
    await new Promise((r) => setTimeout(r, 0));
    expect(notify.shown.map((s) => s.message)).toContain("Changes were requested on this case: see the comments.");
    expect(calls.at(-1)).toBe("POST /api/assignments/3/start/");
    expect(state.review.caseInfo?.assignment.state).toBe("in_progress");
  });
});
