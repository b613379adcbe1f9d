import { afterEach, describe, expect, it, vi } from "vitest";
import type { PromptMessage, PromptRefused, PromptResult } from "../protocol";
import { encode } from "../rle";
import { ServerError } from "../socket";
import { LIVER, LUNG, maskWith, PLANES_2MM, recordingNotifier, recordingView, viewerState } from "../testing/viewer";
import type { ViewerEvent } from "./bus";
import { Prompting, PROMPT_TIMEOUT_MS, type PromptChannel } from "./prompting";

/** A socket whose prompts wait until the test answers them, or time out as the real one's do. */
function fakeSocket() {
  const sent: PromptMessage[] = [];
  const timeouts: (number | undefined)[] = [];
  const waiting: { resolve: (r: PromptResult | PromptRefused) => void; reject: (e: Error) => void }[] = [];
  const socket: PromptChannel & { isOpen: boolean } = {
    isOpen: true,
    prompt: (message, timeoutMs) => {
      sent.push(message);
      timeouts.push(timeoutMs);
      return new Promise((resolve, reject) => {
        if (timeoutMs !== undefined) setTimeout(() => reject(new ServerError("timeout", "The server did not answer in time.")), timeoutMs);
        waiting.push({ resolve, reject });
      });
    },
  };
  return { socket, sent, timeouts, waiting };
}

function result(slice: number, masks: Uint8Array[], ious = masks.map(() => 0.9)): PromptResult {
  return {
    type: "prompt.result",
    request_id: "r1",
    series_id: 7,
    slice_index: slice,
    masks: masks.map((m, i) => ({ rle: encode(m, 8, 10), iou: ious[i]! })),
    model: "litemedsam@1",
    embedding_computed: false,
    timings: { decode_ms: 12.4, total_ms: 30.6 },
  };
}

function setup(state = viewerState()) {
  const view = recordingView();
  const notify = recordingNotifier();
  const events: ViewerEvent[] = [];
  const { socket, sent, timeouts, waiting } = fakeSocket();
  let clock = 1000;
  const prompting = new Prompting({ state, socket, view, notify, emit: (e) => void events.push(e), now: () => clock++ });
  return { state, view, notify, events, socket, sent, timeouts, waiting, prompting };
}

afterEach(() => vi.useRealTimers());

describe("prompting", () => {
  it("sends a box for the active label, then shows the model's candidates and keeps its first prediction", async () => {
    const { state, view, events, sent, waiting, prompting } = setup();
    const done = prompting.box([1, 2, 6, 7]);
    expect(sent).toEqual([{ series_id: 7, slice_index: 2, box: [1, 2, 6, 7], multimask: true, label_id: LIVER.id }]);
    expect(state.promptPending).toBe(true);
    expect(view.calls).toEqual(["candidates", "redraw"]);
    const best = maskWith([[2, 3], [3, 3]]);
    waiting[0]!.resolve(result(2, [best, maskWith([[2, 3]])], [0.93, 0.41]));
    await done;
    expect(state.promptPending).toBe(false);
    expect(state.candidate).toMatchObject({ slice: 2, labelId: LIVER.id, index: 0, model: "litemedsam@1" });
    expect(state.candidate!.masks.map((m) => m.iou)).toEqual([0.93, 0.41]);
    expect(state.candidate!.masks[0]!.mask).toEqual(best);
    expect(state.firstPredictions.get(`${LIVER.id}:2`)).toEqual({ rle: encode(best, 8, 10), iou: 0.93, model: "litemedsam@1" });
    expect(events).toEqual([{ type: "prompt.answered", startedAt: 1000, slice: 2, labelId: LIVER.id, model: "litemedsam@1", serverMs: 30.6 }]);
    expect(view.hints).toEqual(["Model litemedsam@1: decoded in 12 ms, 31 ms in all."]);
  });

  it("refines the candidate with points, sending them with the box and the previous mask", async () => {
    const { state, sent, waiting, prompting } = setup();
    const first = prompting.box([1, 1, 8, 7]);
    waiting[0]!.resolve(result(2, [maskWith([[4, 4]])]));
    await first;
    const refined = prompting.point({ x: 5.4, y: 3.6 }, 0);
    expect(sent[1]).toEqual({
      series_id: 7,
      slice_index: 2,
      box: [1, 1, 8, 7],
      points: [[5, 4]],
      point_labels: [0],
      mask_input: "previous",
      multimask: true,
      label_id: LIVER.id,
    });
    waiting[1]!.resolve(result(2, [maskWith([[5, 5]])], [0.7]));
    await refined;
    expect(state.candidate!.masks[0]!.iou).toBe(0.7);
    // the first prediction stays the box's answer
    expect(state.firstPredictions.get(`${LIVER.id}:2`)!.iou).toBe(0.9);
  });

  it("drops a point the server refused and keeps the mask it was meant to correct", async () => {
    const { state, notify, events, sent, waiting, prompting } = setup();
    const first = prompting.box([1, 1, 8, 7]);
    const boxMask = maskWith([[4, 4], [4, 5]]);
    waiting[0]!.resolve(result(2, [boxMask], [0.88]));
    await first;
    const kept = prompting.point({ x: 5, y: 4 }, 1);
    waiting[1]!.resolve(result(2, [maskWith([[4, 4], [4, 5], [5, 4]])], [0.9]));
    await kept;
    const refused = prompting.point({ x: 9, y: 7 }, 0);
    const refusal: PromptRefused = {
      type: "prompt.refused",
      request_id: "r3",
      series_id: 7,
      slice_index: 2,
      reason: "iou_dropped",
      message: "Point ignored: the model rated the corrected mask lower (IoU 0.61 < 0.90), so the mask stays as it was.",
      region: [0, 0, 9, 7],
      previous_iou: 0.9,
      iou: 0.61,
      model: "litemedsam@1",
    };
    waiting[2]!.resolve(refusal);
    await refused;
    // the refused point is gone from the prompt (the next point is sent without it); the candidate is unchanged
    expect(state.prompt!.points).toEqual([{ x: 5, y: 4, label: 1 }]);
    expect(state.candidate!.masks[0]!.iou).toBe(0.9);
    expect(notify.shown.at(-1)).toMatchObject({ message: refusal.message, tone: "warn" });
    expect(events.at(-1)).toEqual({ type: "prompt.refused", slice: 2, reason: "iou_dropped" });
    void prompting.point({ x: 6, y: 4 }, 1);
    expect(sent.at(-1)!.points).toEqual([[5, 4], [6, 4]]);
    expect(state.promptPending).toBe(true);
  });

  it("ignores points outside the image", async () => {
    const { sent, prompting } = setup();
    await prompting.point({ x: -1, y: 3 }, 1);
    await prompting.point({ x: 10, y: 3 }, 1);
    expect(sent).toEqual([]);
  });

  it("drops an answer for a slice the user has left, or for prompts replaced since", async () => {
    const { state, waiting, prompting } = setup();
    const stale = prompting.box([1, 1, 8, 7]);
    state.slice = 3;
    waiting[0]!.resolve(result(2, [maskWith([[4, 4]])]));
    await stale;
    expect(state.candidate).toBeNull();
    const replaced = prompting.box([1, 1, 8, 7]);
    state.prompt = { slice: 3, box: [0, 0, 2, 2], points: [] };
    waiting[1]!.resolve(result(3, [maskWith([[4, 4]])]));
    await replaced;
    expect(state.candidate).toBeNull();
    expect(state.promptPending).toBe(false);
  });

  it("says so when it is not connected, when the model found nothing, and when the prompt failed", async () => {
    const { state, socket, notify, waiting, prompting } = setup();
    socket.isOpen = false;
    await prompting.box([1, 1, 8, 7]);
    expect(notify.shown.map((s) => [s.message, s.tone])).toEqual([["Not connected: the prompt will work again once the connection is back.", "warn"]]);
    socket.isOpen = true;
    const empty = prompting.box([1, 1, 8, 7]);
    waiting[0]!.resolve(result(2, []));
    await empty;
    expect(notify.shown.at(-1)!.message).toBe("The model found nothing there. Try a tighter box.");
    expect(state.candidate).toBeNull();
    const failing = prompting.box([1, 1, 8, 7]);
    waiting[1]!.reject(new Error("worker gone"));
    await failing;
    expect(notify.errors).toEqual(["Segmenting: worker gone"]);
    expect(state.promptPending).toBe(false);
  });

  it("gives the candidate the label active when the answer arrives", async () => {
    const { state, waiting, prompting } = setup();
    const done = prompting.box([1, 1, 8, 7]);
    state.activeLabel = LUNG;
    waiting[0]!.resolve(result(2, [maskWith([[4, 4]])]));
    await done;
    expect(state.candidate!.labelId).toBe(LUNG.id);
    expect(state.firstPredictions.has(`${LUNG.id}:2`)).toBe(true);
  });

  it("cycles the candidates with Tab, chooses one by click, and discards it with the prompts", async () => {
    const { state, view, waiting, prompting } = setup();
    const done = prompting.box([1, 1, 8, 7]);
    waiting[0]!.resolve(result(2, [maskWith([[1, 1]]), maskWith([[2, 2]]), maskWith([[3, 3]])]));
    await done;
    prompting.nextMask();
    prompting.nextMask();
    expect(state.candidate!.index).toBe(2);
    prompting.nextMask();
    expect(state.candidate!.index).toBe(0);
    prompting.choose(1);
    expect(state.candidate!.index).toBe(1);
    prompting.choose(7);
    expect(state.candidate!.index).toBe(1);
    view.calls.length = 0;
    prompting.discard();
    expect(state.candidate).toBeNull();
    expect(state.prompt).toBeNull();
    expect(view.calls).toEqual(["candidates", "mask"]);
  });

  it("prompts on a coronal slice in display pixels and takes the answer on its voxel grid, keeping no first prediction", async () => {
    const { state, prompting, sent, waiting } = setup(viewerState({ series: { planes: PLANES_2MM } }));
    state.plane = "coronal";
    state.slice = 5;
    const pending = prompting.box([1, 1, 9, 9]);
    expect(sent[0]).toMatchObject({ slice_index: 5, plane: "coronal", box: [1, 1, 9, 9] });
    const mask = new Uint8Array(50);
    mask[12] = 1;
    waiting[0]!.resolve({ ...result(5, []), plane: "coronal", masks: [{ rle: encode(mask, 5, 10), iou: 0.8 }] });
    await pending;
    expect(state.candidate).toMatchObject({ slice: 5, plane: "coronal" });
    expect(state.candidate!.masks[0]!.mask).toEqual(mask);
    expect(state.firstPredictions.size).toBe(0);
  });

  it("sends a prompt with no answer in time once more, and shows the answer to the second", async () => {
    vi.useFakeTimers();
    const { state, view, notify, sent, timeouts, waiting, prompting } = setup();
    // Given a prompt whose worker died mid-decode (it never answers)
    const done = prompting.box([1, 2, 6, 7]);
    expect(timeouts).toEqual([PROMPT_TIMEOUT_MS]);
    await vi.advanceTimersByTimeAsync(PROMPT_TIMEOUT_MS - 1);
    expect(sent).toHaveLength(1);
    // When its time is up, it is sent again, the same, and the user is told
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual(sent[0]);
    expect(view.hints.at(-1)).toBe("No answer from the model within 10 s: asking once more…");
    expect(state.promptPending).toBe(true);
    // Then the second one's answer is the candidate, with no error shown
    waiting[1]!.resolve(result(2, [maskWith([[2, 3]])], [0.9]));
    await done;
    expect(state.candidate!.masks[0]!.iou).toBe(0.9);
    expect(state.promptPending).toBe(false);
    expect(notify.errors).toEqual([]);
  });

  it("says so when a prompt sent twice got no answer either time, and stops waiting", async () => {
    vi.useFakeTimers();
    const { state, notify, sent, prompting } = setup();
    const done = prompting.box([1, 2, 6, 7]);
    await vi.advanceTimersByTimeAsync(2 * PROMPT_TIMEOUT_MS);
    await done;
    expect(sent).toHaveLength(2); // once more, not for ever
    expect(notify.errors).toEqual([
      "Segmenting: the model did not answer this prompt, sent twice (10 s each); a worker may be restarting. Try again in a moment.",
    ]);
    expect(state.promptPending).toBe(false);
    expect(state.candidate).toBeNull();
    await vi.advanceTimersByTimeAsync(10 * PROMPT_TIMEOUT_MS);
    expect(sent).toHaveLength(2);
  });

  it("does not resend a prompt the server answered with an error", async () => {
    const { notify, sent, waiting, prompting } = setup();
    const done = prompting.box([1, 2, 6, 7]);
    waiting[0]!.reject(new ServerError("not_found", "No such series."));
    await done;
    expect(sent).toHaveLength(1);
    expect(notify.errors).toEqual(["Segmenting: No such series."]);
  });

  it("sends no plane for an axial prompt, as before planes existed", async () => {
    const { prompting, sent } = setup();
    void prompting.box([1, 1, 5, 5]);
    expect(sent[0]).not.toHaveProperty("plane");
  });
});
