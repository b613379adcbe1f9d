import { describe, expect, it } from "vitest";
import { applyFlips, diffMasks, History } from "./history";
import { EarlyMessages, PropagationRun } from "./propagation";
import type { JobState } from "../protocol";

const job = (state: JobState["state"], progress = 0, extra: Partial<JobState> = {}): JobState => ({
  id: 7,
  kind: "propagate",
  state,
  progress,
  message: "",
  error: "",
  ...extra,
});

/** Apply a "propagated" mask to slice z of a tiny 4×4 volume, as the viewer does, and record it. */
function arrive(run: PropagationRun, masks: Map<number, Uint8Array>, z: number, on: number[]): boolean {
  if (!run.admit()) return false;
  const mask = masks.get(z) ?? new Uint8Array(16);
  masks.set(z, mask);
  const before = mask.slice();
  for (const i of on) mask[i] = 1;
  run.record(z, diffMasks(before, mask));
  return true;
}

describe("PropagationRun", () => {
  it("turns a whole run into one undo step that removes every propagated slice", () => {
    const masks = new Map<number, Uint8Array>();
    masks.set(2, Uint8Array.from([0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])); // the start slice
    const run = new PropagationRun(7, 1);
    arrive(run, masks, 2, [1, 2, 5, 6]); // the start slice comes back unchanged
    arrive(run, masks, 3, [1, 5]);
    expect(run.update(job("running", 0.2))).toBeNull();
    arrive(run, masks, 1, [2, 6, 10]);
    expect(run.slices).toEqual([1, 3]);
    const entry = run.update(job("done", 0.5))!;
    expect(entry.description).toBe("3D propagation");
    expect(run.phase).toBe("done");
    expect(run.progress).toBe(1);

    const history = new History();
    history.record(entry);
    expect(history.size.undo).toBe(1);
    history.undo((c) => applyFlips(masks.get(c.slice)!, c.flipped));
    expect([...masks.get(1)!].some((v) => v)).toBe(false);
    expect([...masks.get(3)!].some((v) => v)).toBe(false);
    expect([...masks.get(2)!]).toEqual([0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("applies nothing after Cancel and counts what the worker still sent", () => {
    const masks = new Map<number, Uint8Array>();
    const run = new PropagationRun(7, 1);
    expect(arrive(run, masks, 4, [0])).toBe(true);
    run.cancel();
    expect(run.phase).toBe("cancelling");
    expect(arrive(run, masks, 5, [0, 1])).toBe(false);
    expect(masks.has(5)).toBe(false);
    expect(run.dropped).toBe(1);
    expect(run.describe()).toBe("Cancelling… (1 slice kept)");
    const entry = run.update(job("cancelled", 0.1, { message: "Cancelled." }))!;
    expect(entry.changes.map((c) => c.slice)).toEqual([4]);
    expect(run.describe()).toBe("Propagation cancelled: kept 1 slice (Ctrl+Z removes them).");
    // the worker's own notice that it stopped, and a slice sent before it noticed
    expect(run.update(job("cancelled", 0.2))).toBeNull();
    expect(arrive(run, masks, 6, [3])).toBe(false);
    expect(run.lateEvents).toBe(1);
    expect(run.dropped).toBe(2);
    expect(run.received).toBe(3);
  });

  it("ends as done when the job finished before the cancel reached the server", () => {
    const run = new PropagationRun(7, 1);
    run.cancel();
    run.update(job("done", 1));
    expect(run.phase).toBe("done");
  });

  it("ignores other jobs and describes progress and failure", () => {
    const run = new PropagationRun(7, 1);
    expect(run.update({ ...job("done"), id: 8 })).toBeNull();
    expect(run.phase).toBe("running");
    run.update(job("running", 0.42));
    expect(run.describe()).toBe("Propagating… 42% (0 slices so far)");
    run.update(job("failed", 0.42, { error: "RuntimeError: boom" }));
    expect(run.describe()).toBe("Propagation failed: RuntimeError: boom.");
  });

  it("folds a slice sent twice into one change", () => {
    const masks = new Map<number, Uint8Array>();
    const run = new PropagationRun(7, 1);
    arrive(run, masks, 1, [0, 1]);
    arrive(run, masks, 1, [2]);
    const entry = run.update(job("done"))!;
    expect(entry.changes).toHaveLength(1);
    expect([...entry.changes[0]!.flipped]).toEqual([0, 1, 2]);
  });
});

describe("EarlyMessages", () => {
  it("hands over the held slices of the job once its id is known, and drops the rest", () => {
    const early = new EarlyMessages<number>(3);
    early.hold(1, 10);
    early.hold(2, 20);
    early.hold(1, 11);
    early.hold(1, 12); // over capacity: the oldest goes
    expect(early.take(1)).toEqual([11, 12]);
    expect(early.size).toBe(0);
  });
});
