import { describe, expect, it } from "vitest";
import { applyFlips, diffMasks, History, nearestSlice, type SliceChange, xorIndices } from "./history";

function editable() {
  const masks = new Map<string, Uint8Array>();
  const get = (labelId: number, slice: number) => {
    const key = `${labelId}:${slice}`;
    if (!masks.has(key)) masks.set(key, new Uint8Array(16));
    return masks.get(key)!;
  };
  const apply = (c: SliceChange) => applyFlips(get(c.labelId, c.slice), c.flipped);
  /** Run an edit on a slice and return the change it made, as the viewer does. */
  const edit = (labelId: number, slice: number, fn: (m: Uint8Array) => void): SliceChange => {
    const mask = get(labelId, slice);
    const before = mask.slice();
    fn(mask);
    return { labelId, slice, flipped: diffMasks(before, mask) };
  };
  return { get, apply, edit };
}

describe("history", () => {
  it("diffs only the pixels that changed, optionally within a rectangle", () => {
    const before = new Uint8Array(9);
    const after = before.slice();
    after[4] = 1;
    after[8] = 1;
    expect(Array.from(diffMasks(before, after))).toEqual([4, 8]);
    expect(Array.from(diffMasks(before, after, 3, { x0: 0, y0: 0, x1: 2, y1: 2 }))).toEqual([4]);
  });

  it("undoes and redoes a model edit followed by a manual edit, in order", () => {
    const { get, apply, edit } = editable();
    const history = new History();
    history.record({ description: "box", source: "model", changes: [edit(1, 0, (m) => m.fill(1, 0, 8))] });
    history.record({ description: "erase", source: "manual", changes: [edit(1, 0, (m) => m.fill(0, 4, 6))] });
    const afterBoth = get(1, 0).slice();

    expect(history.undo(apply)?.description).toBe("erase");
    expect(Array.from(get(1, 0).subarray(0, 8))).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    expect(history.undo(apply)?.source).toBe("model");
    expect(Array.from(get(1, 0))).toEqual(new Array(16).fill(0));
    expect(history.undo(apply)).toBeNull();

    history.redo(apply);
    history.redo(apply);
    expect(get(1, 0)).toEqual(afterBoth);
    expect(history.canRedo).toBe(false);
  });

  it("undoes a propagation that touched several slices as one step", () => {
    const { get, apply, edit } = editable();
    const history = new History();
    history.record({
      description: "propagate",
      source: "model",
      changes: [edit(2, 3, (m) => (m[0] = 1)), edit(2, 4, (m) => (m[1] = 1)), edit(2, 5, (m) => (m[2] = 1))],
    });
    history.undo(apply);
    for (const z of [3, 4, 5]) expect(get(2, z).every((v) => v === 0)).toBe(true);
  });

  it("a new edit after an undo discards the redo stack", () => {
    const { apply, edit } = editable();
    const history = new History();
    history.record({ description: "a", source: "manual", changes: [edit(1, 0, (m) => (m[0] = 1))] });
    history.undo(apply);
    history.record({ description: "b", source: "manual", changes: [edit(1, 0, (m) => (m[1] = 1))] });
    expect(history.canRedo).toBe(false);
    expect(history.size).toEqual({ undo: 1, redo: 0 });
  });

  it("ignores edits that changed nothing", () => {
    const history = new History();
    expect(history.record({ description: "noop", source: "manual", changes: [{ labelId: 1, slice: 0, flipped: new Uint32Array() }] })).toBe(false);
    expect(history.canUndo).toBe(false);
  });

  it("stores diffs, not slices, and drops the oldest edits beyond its memory budget", () => {
    const history = new History({ maxBytes: 1000 });
    const change = (n: number): SliceChange => ({ labelId: 1, slice: 0, flipped: new Uint32Array(n) });
    // a one-pixel edit of a 2048² slice costs a few bytes, not 4 MB
    history.record({ description: "dot", source: "manual", changes: [change(1)] });
    expect(history.bytes).toBeLessThan(100);
    for (let i = 0; i < 10; i++) history.record({ description: `e${i}`, source: "manual", changes: [change(50)] });
    expect(history.bytes).toBeLessThanOrEqual(1000);
    expect(history.size.undo).toBe(3);
    const undone: string[] = [];
    let e;
    while ((e = history.undo(() => {}))) undone.push(e.description);
    expect(undone).toEqual(["e9", "e8", "e7"]);
  });

  it("merges two edits of one slice into one diff, cancelling pixels flipped twice", () => {
    // a propagation that revisits a slice: the first pass flips 1, 4, 7; the second flips 4 and 9
    const merged = xorIndices(Uint32Array.from([1, 4, 7]), Uint32Array.from([4, 9]));
    expect(Array.from(merged)).toEqual([1, 7, 9]);
    const start = new Uint8Array(10);
    const mask = start.slice();
    applyFlips(mask, Uint32Array.from([1, 4, 7]));
    applyFlips(mask, Uint32Array.from([4, 9]));
    applyFlips(mask, merged);
    expect(mask).toEqual(start);
  });
});

describe("nearestSlice", () => {
  it("shows the touched slice closest to the current one after a multi-slice undo", () => {
    expect(nearestSlice([1, 2, 3, 7, 8], 6)).toBe(7);
    expect(nearestSlice([9, 3], 6)).toBe(3); // a tie goes to the lower slice
    expect(nearestSlice([4], 0)).toBe(4);
    expect(() => nearestSlice([], 0)).toThrow(RangeError);
  });
});
