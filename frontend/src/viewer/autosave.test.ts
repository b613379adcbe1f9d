import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api";
import { type AutosaveState, Autosaver, combineSources, describeAutosave, revisionName, type SaveBatch } from "./autosave";
import type { RevisionSummary } from "../protocol";

function revision(id: number, number: number): RevisionSummary {
  return { id, number, author: "anna", created_at: "2026-01-01T00:00:00Z", source: "manual", slices: [] };
}

function setup(save?: (batch: SaveBatch) => Promise<RevisionSummary>) {
  const batches: SaveBatch[] = [];
  const states: AutosaveState[] = [];
  let next = 100;
  const saver = new Autosaver(
    {
      save:
        save ??
        (async (batch) => {
          batches.push(batch);
          next += 1;
          return revision(next, next - 99);
        }),
      onState: (s) => states.push(s),
      delayMs: 1000,
      maxDelayMs: 5000,
      retryMs: { initial: 2000, max: 8000 },
    },
    () => Date.now(),
  );
  return { saver, batches, states };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("autosave", () => {
  it("waits for a pause in editing, then saves each label's dirty slices once, on its base revision", async () => {
    const { saver, batches, states } = setup();
    saver.setBase(1, 55);
    saver.markDirty(1, 4, "manual");
    await vi.advanceTimersByTimeAsync(900);
    saver.markDirty(1, 5, "manual");
    saver.markDirty(1, 4, "manual");
    await vi.advanceTimersByTimeAsync(900);
    expect(batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    expect(batches).toEqual([{ labelId: 1, baseRevisionId: 55, slices: [4, 5], source: "manual" }]);
    expect(states.at(-1)).toEqual({ state: "saved", revision: revision(101, 2) });
    expect(saver.hasUnsaved).toBe(false);
  });

  it("saves the next batch on top of the revision it just created", async () => {
    const { saver, batches } = setup();
    saver.markDirty(2, 0, "model");
    await vi.advanceTimersByTimeAsync(1000);
    saver.markDirty(2, 0, "manual");
    await vi.advanceTimersByTimeAsync(1000);
    expect(batches.map((b) => [b.baseRevisionId, b.source])).toEqual([
      [null, "model"],
      [101, "manual"],
    ]);
  });

  it("still saves during continuous editing, at most maxDelay after the first unsaved edit", async () => {
    const { saver, batches } = setup();
    for (let t = 0; t < 6000; t += 500) {
      saver.markDirty(1, t / 500, "manual");
      await vi.advanceTimersByTimeAsync(500);
    }
    expect(batches.length).toBeGreaterThanOrEqual(1);
    expect(batches[0]!.slices.length).toBeLessThanOrEqual(11);
  });

  it("keeps a slice dirty when it was edited again while its save was in flight", async () => {
    let release!: (r: RevisionSummary) => void;
    const batches: SaveBatch[] = [];
    const { saver } = setup((batch) => {
      batches.push(batch);
      return new Promise((resolve) => (release = resolve));
    });
    saver.markDirty(1, 3, "manual");
    await vi.advanceTimersByTimeAsync(1000);
    saver.markDirty(1, 3, "manual"); // edit during the request
    release(revision(7, 1));
    await vi.advanceTimersByTimeAsync(0);
    expect(saver.dirtySlices(1)).toEqual([3]);
  });

  it("on a conflict stops saving that label and shows who saved in between", async () => {
    const message = "anna_annotator saved revision 4 of this mask since you loaded it. Reload it to merge your changes.";
    const attempts: SaveBatch[] = [];
    const { saver, states } = setup(async (batch) => {
      attempts.push(batch);
      throw new ApiError(409, "conflict", message, { head_revision: 9 });
    });
    saver.markDirty(1, 0, "manual");
    await vi.advanceTimersByTimeAsync(1000);
    expect(states.at(-1)).toEqual({ state: "conflict", labelId: 1, message });
    expect(describeAutosave(states.at(-1)!)).toContain("anna_annotator");
    saver.markDirty(1, 1, "manual");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(attempts).toHaveLength(1); // never overwrites the other save behind the user's back
    expect(saver.hasUnsaved).toBe(true);
  });

  it("resumes after the conflict is resolved, on the new base", async () => {
    let conflict = true;
    const attempts: SaveBatch[] = [];
    const { saver } = setup(async (batch) => {
      attempts.push(batch);
      if (conflict) throw new ApiError(409, "conflict", "someone saved");
      return revision(20, 5);
    });
    saver.markDirty(1, 0, "manual");
    await vi.advanceTimersByTimeAsync(1000);
    conflict = false;
    saver.resolveConflict(1, 9, true);
    await vi.advanceTimersByTimeAsync(1000);
    expect(attempts.map((a) => a.baseRevisionId)).toEqual([null, 9]);
    expect(saver.hasUnsaved).toBe(false);
  });

  it("retries a failed save with growing waits and says so", async () => {
    let failures = 2;
    const attempts: number[] = [];
    const { saver, states } = setup(async () => {
      attempts.push(Date.now());
      if (failures-- > 0) throw new ApiError(0, "network", "The server could not be reached.");
      return revision(30, 1);
    });
    saver.markDirty(1, 0, "manual");
    await vi.advanceTimersByTimeAsync(1000);
    expect(states.at(-1)).toMatchObject({ state: "error", retryInMs: 2000 });
    expect(describeAutosave(states.at(-1)!)).toMatch(/could not be reached.*Retrying in 2 s/);
    await vi.advanceTimersByTimeAsync(2000);
    expect(states.at(-1)).toMatchObject({ state: "error", retryInMs: 4000 });
    await vi.advanceTimersByTimeAsync(4000);
    expect(attempts).toHaveLength(3);
    expect(states.at(-1)?.state).toBe("saved");
  });

  it("does not retry a save the server refused for good (e.g. a reviewer)", async () => {
    const attempts: SaveBatch[] = [];
    const { saver, states } = setup(async (b) => {
      attempts.push(b);
      throw new ApiError(403, "forbidden", "Reviewers cannot edit masks; ask an annotator or the owner.");
    });
    saver.markDirty(1, 0, "manual");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(attempts).toHaveLength(1);
    expect(states.at(-1)).toEqual({
      state: "error",
      message: "Not saved: Reviewers cannot edit masks; ask an annotator or the owner.",
      retryInMs: null,
    });
  });

  it("flush saves at once", async () => {
    const { saver, batches } = setup();
    saver.markDirty(3, 7, "model");
    await saver.flush();
    expect(batches).toHaveLength(1);
  });

  it("names a revision by what produced it", () => {
    expect(combineSources(["model"])).toBe("model");
    expect(combineSources(["manual", "manual"])).toBe("manual");
    expect(combineSources(["model", "manual"])).toBe("corrected");
  });
});

describe("revisionName", () => {
  it("names a revision by its number, and an empty track plainly", () => {
    expect(revisionName({ number: 3 })).toBe("revision 3");
    expect(revisionName(null)).toBe("the empty mask (nothing saved yet)");
  });
});
