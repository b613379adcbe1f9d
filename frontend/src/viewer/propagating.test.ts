import { describe, expect, it } from "vitest";
import type { JobState, ServerMessage, ServerMessageOf } from "../protocol";
import { encode } from "../rle";
import { countOn, LIVER, maskWith, PLANES_2MM, recordingNotifier, recordingView, viewerState } from "../testing/viewer";
import type { HistoryEntry } from "./history";
import { Propagating, type JobChannel } from "./propagating";

function job(state: JobState["state"], progress = 0, id = 9): JobState {
  return { id, kind: "propagate", state, progress, message: "", error: "" };
}

function slice(z: number, mask: Uint8Array, model: string | null = "litemedsam@1", jobId = 9): ServerMessageOf<"propagate.slice"> {
  return { type: "propagate.slice", job_id: jobId, series_id: 7, slice_index: z, rle: encode(mask, 8, 10), iou: 0.8, model };
}

function progress(state: JobState["state"], p = 0): ServerMessageOf<"job.progress"> {
  return { type: "job.progress", job: job(state, p) };
}

function setup(state = viewerState()) {
  const view = recordingView();
  const notify = recordingNotifier();
  const requests: ({ type: string } & Record<string, unknown>)[] = [];
  const replies: { resolve: (m: ServerMessage) => void; reject: (e: Error) => void }[] = [];
  const socket: JobChannel = {
    request: <T extends ServerMessage>(message: { type: string } & Record<string, unknown>) => {
      requests.push(message);
      return new Promise<T>((resolve, reject) => replies.push({ resolve: resolve as (m: ServerMessage) => void, reject }));
    },
  };
  const dirty: [number, number, string][] = [];
  const recorded: HistoryEntry[] = [];
  let accepted = 0;
  const propagating = new Propagating({
    state,
    socket,
    autosave: { markDirty: (l, z, s) => void dirty.push([l, z, s]) },
    view,
    notify,
    accept: () => void accepted++,
    record: (entry) => void recorded.push(entry),
  });
  return { state, view, notify, requests, replies, dirty, recorded, propagating, accepted: () => accepted };
}

const seed = maskWith([[4, 4], [5, 4]]);

describe("3D propagation", () => {
  it("sends the current slice's mask, paints each slice as it arrives, and ends as one undo step", async () => {
    const { state, requests, replies, dirty, recorded, notify, propagating, accepted } = setup();
    state.volume.set(LIVER.id, 2, seed);
    const started = propagating.start();
    expect(accepted()).toBe(1);
    expect(state.startingJob).toBe(true);
    expect(requests).toEqual([{ type: "propagate", series_id: 7, slice_index: 2, mask: encode(seed, 8, 10), label_id: LIVER.id, direction: "both" }]);
    replies[0]!.resolve({ type: "job.created", job: job("running") });
    await started;
    expect(state.startingJob).toBe(false);
    expect(state.propagation!.jobId).toBe(9);
    propagating.onMessage(slice(3, maskWith([[4, 4]])));
    propagating.onMessage(slice(1, maskWith([[5, 4], [6, 4]])));
    expect(countOn(state.volume.peek(LIVER.id, 3))).toBe(1);
    expect(countOn(state.volume.peek(LIVER.id, 1))).toBe(2);
    expect(dirty).toEqual([
      [LIVER.id, 3, "model"],
      [LIVER.id, 1, "model"],
    ]);
    expect(state.firstPredictions.get(`${LIVER.id}:3`)).toMatchObject({ iou: 0.8, model: "litemedsam@1" });
    expect(recorded).toEqual([]);
    propagating.onMessage(progress("done", 1));
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.changes.map((c) => c.slice).sort()).toEqual([1, 3]);
    expect(notify.shown.at(-1)).toMatchObject({ message: "Propagated to 2 slices.", tone: "ok" });
  });

  it("applies the job's messages that arrive before its job.created reply, in order", async () => {
    const { state, replies, propagating } = setup();
    state.volume.set(LIVER.id, 2, seed);
    const started = propagating.start();
    propagating.onMessage(slice(3, maskWith([[1, 1]])));
    propagating.onMessage(progress("running", 0.5));
    expect(state.volume.peek(LIVER.id, 3)).toBeUndefined();
    replies[0]!.resolve({ type: "job.created", job: job("running") });
    await started;
    expect(countOn(state.volume.peek(LIVER.id, 3))).toBe(1);
    expect(state.propagation!.progress).toBe(0.5);
    expect(state.propagation!.received).toBe(1);
  });

  it("stops applying slices at Cancel and asks the server to cancel", async () => {
    const { state, requests, replies, recorded, propagating } = setup();
    state.volume.set(LIVER.id, 2, seed);
    const started = propagating.start();
    replies[0]!.resolve({ type: "job.created", job: job("running") });
    await started;
    propagating.onMessage(slice(3, maskWith([[1, 1]])));
    propagating.cancel();
    expect(requests.at(-1)).toEqual({ type: "cancel_job", job_id: 9 });
    propagating.onMessage(slice(1, maskWith([[2, 2]])));
    expect(state.volume.peek(LIVER.id, 1)).toBeUndefined();
    expect(state.propagation!.dropped).toBe(1);
    replies[1]!.resolve({ type: "job.progress", job: job("cancelled", 0.5) });
    await Promise.resolve();
    expect(state.propagation!.phase).toBe("cancelled");
    expect(recorded[0]!.changes.map((c) => c.slice)).toEqual([3]);
  });

  it("refuses to start without a mask on the slice, or while another run is going", async () => {
    const { state, requests, replies, notify, propagating } = setup();
    await propagating.start();
    expect(notify.shown.at(-1)!.message).toBe("Draw or accept a Liver mask on this slice first; propagation starts from it.");
    expect(requests).toEqual([]);
    state.volume.set(LIVER.id, 2, seed);
    const started = propagating.start();
    await propagating.start();
    expect(notify.shown.at(-1)!.message).toBe("A propagation is already running; cancel it first.");
    replies[0]!.resolve({ type: "job.created", job: job("running") });
    await started;
    expect(requests).toHaveLength(1);
  });

  it("does nothing for a reviewer or on a 2D image", async () => {
    for (const state of [viewerState({ role: "reviewer" }), viewerState({ depth: 1 })]) {
      const { requests, notify, propagating } = setup(state);
      state.volume.set(LIVER.id, state.slice, seed);
      await propagating.start();
      expect(requests).toEqual([]);
      expect(notify.shown).toEqual([]);
    }
  });

  it("reports a start that fails, and forgets the messages it held", async () => {
    const { state, replies, notify, propagating } = setup();
    state.volume.set(LIVER.id, 2, seed);
    const started = propagating.start();
    propagating.onMessage(slice(3, maskWith([[1, 1]])));
    replies[0]!.reject(new Error("queue full"));
    await started;
    expect(state.startingJob).toBe(false);
    expect(state.propagation).toBeNull();
    expect(notify.errors).toEqual(["Starting the propagation: queue full"]);
    expect(state.volume.peek(LIVER.id, 3)).toBeUndefined();
  });

  it("ignores other jobs' messages and slices outside the series", async () => {
    const { state, replies, propagating } = setup();
    state.volume.set(LIVER.id, 2, seed);
    const started = propagating.start();
    replies[0]!.resolve({ type: "job.created", job: job("running") });
    await started;
    propagating.onMessage(slice(3, maskWith([[1, 1]]), "m", 10));
    propagating.onMessage(slice(99, maskWith([[1, 1]])));
    expect(state.volume.peek(LIVER.id, 3)).toBeUndefined();
    expect(state.propagation!.slices).toEqual([]);
  });

  it("propagates from axial slices only, and says so in another plane", async () => {
    const state = viewerState({ series: { planes: PLANES_2MM } });
    state.plane = "coronal";
    const { propagating, requests, notify } = setup(state);
    await propagating.start();
    expect(requests).toEqual([]);
    expect(notify.shown.at(-1)).toMatchObject({ message: expect.stringContaining("switch to the axial plane"), tone: "warn" });
  });
});
