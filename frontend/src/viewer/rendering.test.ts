import { describe, expect, it } from "vitest";
import { LIVER, LUNG, maskWith, viewerState } from "../testing/viewer";
import { overlayLayers, promptMarks } from "./rendering";

describe("what the overlay shows", () => {
  it("paints every visible label's mask of the current slice, in label order, with its colour", () => {
    const state = viewerState();
    state.volume.set(LIVER.id, state.slice, maskWith([[1, 1]]));
    state.volume.set(LUNG.id, state.slice, maskWith([[2, 2]]));
    state.volume.set(LIVER.id, state.slice + 1, maskWith([[3, 3]]));
    const layers = overlayLayers(state);
    expect(layers.map((l) => l.color)).toEqual([
      [255, 0, 0],
      [0, 255, 0],
    ]);
    expect(layers[0]!.mask).toBe(state.volume.peek(LIVER.id, state.slice));
  });

  it("leaves out hidden labels, and draws the candidate fainter on top in its label's colour", () => {
    const state = viewerState();
    state.volume.set(LIVER.id, state.slice, maskWith([[1, 1]]));
    state.hiddenLabels.add(LIVER.id);
    const candidate = maskWith([[5, 5]]);
    state.candidate = { slice: state.slice, labelId: LUNG.id, masks: [{ mask: new Uint8Array(80), iou: 0.5 }, { mask: candidate, iou: 0.9 }], index: 1, model: "m" };
    expect(overlayLayers(state)).toEqual([{ mask: candidate, color: [0, 255, 0], alpha: 0.7 }]);
    state.candidate.slice = state.slice + 1;
    expect(overlayLayers(state)).toEqual([]);
  });
});

describe("what the prompt layer shows", () => {
  it("draws the slice's box and points, not another slice's", () => {
    const state = viewerState();
    state.prompt = { slice: state.slice, box: [1, 2, 6, 7], points: [{ x: 3, y: 4, label: 0 }] };
    expect(promptMarks(state)).toEqual([
      { kind: "box", x0: 1, y0: 2, x1: 6, y1: 7, dashed: false },
      { kind: "point", x: 3, y: 4, positive: false },
    ]);
    state.slice += 1;
    expect(promptMarks(state)).toEqual([]);
  });

  it("draws a box being dragged dashed", () => {
    const state = viewerState();
    state.drag = { kind: "box", start: { x: 1, y: 1 }, last: { x: 4, y: 3 } };
    expect(promptMarks(state)).toEqual([{ kind: "box", x0: 1, y0: 1, x1: 4, y1: 3, dashed: true }]);
  });

  it("shows the brush outline in the label's colour, the eraser's in white, and none to a reviewer", () => {
    const state = viewerState();
    state.pointer = { x: 2, y: 3 };
    expect(promptMarks(state)).toEqual([]); // box tool: no cursor
    state.tool = "brush";
    state.brushRadius = 4;
    expect(promptMarks(state)).toEqual([{ kind: "cursor", x: 2, y: 3, radius: 4, color: "#ff0000" }]);
    state.tool = "eraser";
    expect(promptMarks(state)).toEqual([{ kind: "cursor", x: 2, y: 3, radius: 4, color: "#fff" }]);
    const reviewer = viewerState({ role: "reviewer" });
    reviewer.tool = "brush";
    reviewer.pointer = { x: 2, y: 3 };
    expect(promptMarks(reviewer)).toEqual([]);
  });
});
