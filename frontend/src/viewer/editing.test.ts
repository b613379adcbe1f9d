import { describe, expect, it } from "vitest";
import { countOn, LIVER, LUNG, maskWith, PLANES_2MM, recordingView, viewerState } from "../testing/viewer";
import { Editing } from "./editing";
import type { EditSource } from "./history";

function setup(state = viewerState()) {
  const view = recordingView();
  const dirty: [number, number, EditSource][] = [];
  const visited: number[] = [];
  const editing = new Editing({
    state,
    autosave: { markDirty: (labelId, slice, source) => void dirty.push([labelId, slice, source]) },
    view,
    goToSlice: (z) => void visited.push(z),
  });
  return { state, view, dirty, visited, editing };
}

const mask = (state: ReturnType<typeof viewerState>, labelId = LIVER.id, z = state.slice) => state.volume.peek(labelId, z);

describe("editing", () => {
  it("paints a brush stroke as one undo step, marked dirty as a manual edit", () => {
    const { state, view, dirty, editing } = setup();
    state.brushRadius = 1;
    editing.strokeBegin({ x: 2.5, y: 2.5 }, 1);
    const afterDisc = countOn(mask(state));
    expect(afterDisc).toBeGreaterThan(0);
    editing.strokeExtend({ x: 7.5, y: 2.5 });
    expect(countOn(mask(state))).toBeGreaterThan(afterDisc);
    expect(state.history.canUndo).toBe(false); // not until the mouse is released
    editing.strokeEnd();
    expect(state.stroke).toBeNull();
    expect(state.history.size).toEqual({ undo: 1, redo: 0 });
    expect(dirty).toEqual([[LIVER.id, 2, "manual"]]);
    // strokes redraw only the part they touched
    expect(view.masks.every((rect) => rect !== null)).toBe(true);
    editing.undo();
    expect(countOn(mask(state))).toBe(0);
    expect(view.hints).toEqual(["Undid: Brush"]);
  });

  it("erases with value 0 and names the step Eraser", () => {
    const { state, view, editing } = setup();
    state.volume.set(LIVER.id, 2, maskWith([[3, 3], [4, 3], [8, 6]]));
    state.brushRadius = 1.5;
    editing.strokeBegin({ x: 3.5, y: 3.5 }, 0);
    editing.strokeEnd();
    expect(countOn(mask(state))).toBe(1);
    editing.undo();
    expect(countOn(mask(state))).toBe(3);
    expect(view.hints).toEqual(["Undid: Eraser"]);
  });

  it("stops painting a stroke on a slice no longer shown, and still records what it painted", () => {
    const { state, editing } = setup();
    editing.strokeBegin({ x: 2, y: 2 }, 1);
    const painted = countOn(mask(state));
    state.slice = 3;
    editing.strokeExtend({ x: 8, y: 6 });
    expect(countOn(mask(state, LIVER.id, 2))).toBe(painted);
    expect(mask(state, LIVER.id, 3)).toBeUndefined();
    editing.strokeEnd();
    expect(state.history.canUndo).toBe(true);
  });

  it("accepts the candidate into its label's mask (added to what is there) as a model edit", () => {
    const { state, dirty, editing } = setup();
    state.volume.set(LUNG.id, 2, maskWith([[0, 0]]));
    state.prompt = { slice: 2, box: [0, 0, 5, 5], points: [] };
    state.candidate = { slice: 2, labelId: LUNG.id, masks: [{ mask: maskWith([[9, 9]]), iou: 1 }, { mask: maskWith([[1, 1], [2, 1]]), iou: 0.8 }], index: 1, model: "m" };
    editing.accept();
    expect(mask(state, LUNG.id)).toEqual(maskWith([[0, 0], [1, 1], [2, 1]]));
    expect(state.candidate).toBeNull();
    expect(state.prompt).toBeNull();
    expect(dirty).toEqual([[LUNG.id, 2, "model"]]);
    editing.undo();
    expect(mask(state, LUNG.id)).toEqual(maskWith([[0, 0]]));
    editing.redo();
    expect(mask(state, LUNG.id)).toEqual(maskWith([[0, 0], [1, 1], [2, 1]]));
    expect(dirty.at(-1)).toEqual([LUNG.id, 2, "model"]);
  });

  it("accepts a pending candidate before a stroke or a fill changes the mask", () => {
    const { state, editing } = setup();
    state.candidate = { slice: 2, labelId: LIVER.id, masks: [{ mask: maskWith([[9, 7]]), iou: 1 }], index: 0, model: "m" };
    editing.strokeBegin({ x: 1, y: 1 }, 1);
    editing.strokeEnd();
    expect(mask(state)![7 * 10 + 9]).toBe(1);
    expect(state.history.size.undo).toBe(2);
  });

  it("fills the clicked region and clears the slice, each one undo step", () => {
    const { state, editing } = setup();
    // a closed square outline from (2,2) to (6,6)
    const ring: [number, number][] = [];
    for (let i = 2; i <= 6; i++) ring.push([i, 2], [i, 6], [2, i], [6, i]);
    state.volume.set(LIVER.id, 2, maskWith(ring));
    const outline = countOn(mask(state));
    editing.fill({ x: 4, y: 4 });
    expect(countOn(mask(state))).toBe(outline + 9);
    editing.clearSlice();
    expect(countOn(mask(state))).toBe(0);
    editing.undo();
    expect(countOn(mask(state))).toBe(outline + 9);
    editing.undo();
    expect(countOn(mask(state))).toBe(outline);
  });

  it("does not clear anything for a reviewer", () => {
    const { state, editing } = setup();
    const reviewer = viewerState({ role: "reviewer" });
    reviewer.volume.set(LIVER.id, 2, maskWith([[1, 1]]));
    new Editing({ state: reviewer, autosave: { markDirty: () => {} }, view: recordingView(), goToSlice: () => {} }).clearSlice();
    expect(countOn(mask(reviewer))).toBe(1);
    editing.clearSlice(); // nothing on the slice: no step
    expect(state.history.canUndo).toBe(false);
  });

  it("shows the nearest slice an undo changed when it is not the current one", () => {
    const { state, visited, view, editing } = setup();
    editing.strokeBegin({ x: 2, y: 2 }, 1);
    editing.strokeEnd();
    state.slice = 4;
    view.calls.length = 0;
    editing.undo();
    expect(visited).toEqual([2]);
    expect(view.calls).not.toContain("mask");
    editing.redo();
    expect(visited).toEqual([2, 2]);
  });

  it("does nothing on undo with an empty history", () => {
    const { view, editing } = setup();
    editing.undo();
    editing.redo();
    expect(view.calls).toEqual([]);
  });

  it("paints on a coronal slice the voxels the brush covers, one undo step across the axial slices it crossed", () => {
    // Coronal slice y = 3 of 2 mm slices: display rows 0–1 are the top slice (z 4), rows 2–3 z 3, and so on.
    const { state, dirty, editing } = setup(viewerState({ series: { planes: PLANES_2MM } }));
    state.plane = "coronal";
    state.slice = 3;
    state.brushRadius = 1.2;
    editing.strokeBegin({ x: 5, y: 2 }, 1);
    // Voxel centres within 1.2 display pixels of (5, 2): columns 4 and 5 of rows 0 (centre y 1) and 1 (y 3).
    expect(state.volume.nonEmptySlices(LIVER.id)).toEqual([3, 4]);
    editing.strokeExtend({ x: 5, y: 6 });
    editing.strokeEnd();
    expect(state.volume.nonEmptySlices(LIVER.id)).toEqual([1, 2, 3, 4]);
    for (const z of [1, 2, 3, 4]) expect([...state.volume.get(LIVER.id, z).keys()].filter((i) => state.volume.get(LIVER.id, z)[i])).toEqual([34, 35]);
    expect(dirty).toEqual([1, 2, 3, 4].map((z) => [LIVER.id, z, "manual"]));
    editing.undo();
    expect(state.volume.nonEmptySlices(LIVER.id)).toEqual([]);
  });

  it("accepts a coronal candidate into the axial slices it crosses and fills on the voxel grid", () => {
    const { state, editing } = setup(viewerState({ series: { planes: PLANES_2MM } }));
    state.plane = "coronal";
    state.slice = 6;
    const chosen = new Uint8Array(50);
    chosen[0 * 10 + 2] = 1; // z 4, x 2
    chosen[4 * 10 + 8] = 1; // z 0, x 8
    state.candidate = { slice: 6, plane: "coronal", labelId: LUNG.id, masks: [{ mask: chosen, iou: 0.9 }], index: 0, model: "m" };
    editing.accept();
    expect(state.volume.get(LUNG.id, 4)[6 * 10 + 2]).toBe(1);
    expect(state.volume.get(LUNG.id, 0)[6 * 10 + 8]).toBe(1);
    expect(state.history.size.undo).toBe(1);
    editing.clearSlice(); // nothing of Liver here: no step
    expect(state.history.size.undo).toBe(1);
    state.activeLabel = LUNG;
    editing.fill({ x: 5, y: 5 }); // display (5, 5) is voxel column 5, row 2: the whole empty region
    expect(countOn(state.volume.get(LUNG.id, 2))).toBe(10);
  });
});
