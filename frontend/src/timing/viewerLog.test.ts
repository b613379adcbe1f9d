import { describe, expect, it } from "vitest";
import { InteractionLog } from "./interactionLog";
import { ViewerLogger, type LogState } from "./viewerLog";

function setup() {
  const state = {
    series: { id: 5 },
    activeLabel: { id: 2 },
    assignmentId: 40,
    slice: 3,
    geometry: { depth: 10, height: 8, width: 8, channels: 1 },
  } as unknown as LogState & { activeLabel: { id: number }; slice: number };
  const log = new InteractionLog({
    transport: { socketOpen: () => false, socket: async () => ({}), rest: async () => ({}), beacon: () => true },
    now: () => 0,
    session: "test-session",
    timers: { set: () => 1, clear: () => undefined },
  });
  const logger = new ViewerLogger(log, state, (t) => 1_000_000 + t);
  return { state, log, logger };
}

describe("the viewer's bus as interaction events", () => {
  it("gives every event the series, label, task and slice on screen, at the bus time", () => {
    const { log, logger } = setup();
    logger.onCommand({ command: { type: "prompt.box", box: [1.2, 2, 30.7, 40] }, at: 100, ms: 1 });
    expect(log.events).toEqual([
      { seq: 0, kind: "prompt", t: 1_000_100, series_id: 5, label_id: 2, assignment_id: 40, slice_index: 3, detail: { box: [1, 2, 31, 40] } },
    ]);
  });

  it("makes a stroke one event at the release, with its duration", () => {
    const { log, logger } = setup();
    logger.onCommand({ command: { type: "stroke.begin", x: 1, y: 1, value: 0 }, at: 1000, ms: 1 });
    for (let i = 0; i < 5; i++) logger.onCommand({ command: { type: "stroke.extend", x: 2 + i, y: 1 }, at: 1100 + i * 100, ms: 1 });
    logger.onCommand({ command: { type: "stroke.end" }, at: 2500, ms: 1 });
    expect(log.events.map((e) => [e.kind, e.t, e.duration_ms, e.detail])).toEqual([["eraser", 1_002_500, 1500, { steps: 6 }]]);
  });

  it("merges a continuous pan into one view event and keeps separate changes apart", () => {
    const { log, logger } = setup();
    for (let i = 0; i < 10; i++) logger.onCommand({ command: { type: "pan", dx: 1, dy: 0 }, at: 100 * i, ms: 0 });
    logger.onCommand({ command: { type: "action", action: "undo" }, at: 2000, ms: 0 });
    logger.onCommand({ command: { type: "opacity.set", opacity: 0.2 }, at: 5000, ms: 0 });
    logger.closeView();
    expect(log.events.map((e) => [e.kind, e.t - 1_000_000, e.duration_ms ?? 0])).toEqual([
      ["view", 900, 900],
      ["undo", 2000, 0],
      ["view", 5000, 0],
    ]);
  });

  it("names keys and buttons by what they do, and the page's focus and visibility", () => {
    const { state, log, logger } = setup();
    const at = 0;
    const ms = 0;
    logger.onCommand({ command: { type: "action", action: "tool.brush" }, at, ms });
    logger.onCommand({ command: { type: "action", action: "slice.next" }, at, ms });
    state.activeLabel = { id: 7 } as typeof state.activeLabel;
    logger.onCommand({ command: { type: "label.select", labelId: 7 }, at, ms });
    logger.onCommand({ command: { type: "action", action: "accept" }, at, ms });
    logger.onCommand({ command: { type: "action", action: "clear-slice" }, at, ms });
    logger.onCommand({ command: { type: "page.visibility", visible: false }, at, ms });
    logger.onCommand({ command: { type: "page.visibility", visible: true }, at, ms });
    logger.onCommand({ command: { type: "page.blur" }, at, ms });
    expect(log.events.map((e) => e.kind)).toEqual(["tool", "slice", "label", "accept", "clear", "hidden", "visible", "blur"]);
    expect(log.events[0]!.detail).toEqual({ tool: "brush" });
    // the label event already belongs to the label chosen: the time after it is spent on that label
    expect(log.events[2]!.label_id).toBe(7);
  });

  it("logs handing a case in, and a reviewer's acts on it by what they did", () => {
    const { log, logger } = setup();
    logger.onCommand({ command: { type: "comment.pin", x: 3, y: 4 }, at: 10, ms: 0 });
    logger.onCommand({ command: { type: "review.approve" }, at: 20, ms: 0 });
    logger.onCommand({ command: { type: "case.submit-next" }, at: 30, ms: 0 });
    expect(log.events.map((e) => [e.kind, e.detail ?? {}, e.assignment_id])).toEqual([
      ["review", { action: "comment.pin" }, 40],
      ["review", { action: "review.approve" }, 40],
      ["submit", {}, 40],
    ]);
  });

  it("on a coronal or sagittal view, logs the axial slice of the crosshair and the plane switches", () => {
    const { state, log, logger } = setup();
    const planar = state as typeof state & { plane: string; cursor: { x: number; y: number; z: number } };
    logger.onCommand({ command: { type: "plane.select", plane: "coronal" }, at: 0, ms: 0 });
    planar.plane = "coronal";
    planar.cursor = { x: 2, y: 5, z: 7 };
    planar.slice = 5; // along the coronal normal: y
    logger.onCommand({ command: { type: "action", action: "slice.next-annotated" }, at: 10, ms: 0 });
    expect(log.events.map((e) => [e.kind, e.slice_index, e.detail ?? {}])).toEqual([
      ["view", 3, { plane: "coronal" }],
      ["slice", 7, {}],
    ]);
  });

  it("records the model's answers with the model version and saves with the revision", () => {
    const { log, logger } = setup();
    logger.onEvent({ type: "prompt.answered", startedAt: 100, slice: 4, labelId: 2, model: "lite_medsam@79d8c9dca6db", serverMs: 31.4 }, 400);
    logger.onEvent({ type: "mask.saved", labelId: 9, revisionId: 77, source: "corrected", modelVersion: "lite_medsam@79d8c9dca6db" }, 900);
    const [answer, save] = log.events;
    expect(answer).toMatchObject({ kind: "prompt.result", slice_index: 4, model_version: "lite_medsam@79d8c9dca6db", detail: { server_ms: 31, wait_ms: 300 } });
    expect(save).toMatchObject({ kind: "save", label_id: 9, revision_id: 77, detail: { source: "corrected" } });
  });
});
