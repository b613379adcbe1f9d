import { describe, expect, it } from "vitest";
import { LIVER, project, series } from "../testing/viewer";
import { createViewerState, firstPredictionKey, geometryOf } from "./state";

describe("the viewer state", () => {
  it("reads slices and pixels from the series shape: a volume [Z, Y, X], a colour image [1, Y, X, 3]", () => {
    expect(geometryOf({ kind: "volume", shape: [40, 512, 256] })).toEqual({ depth: 40, height: 512, width: 256, channels: 1 });
    expect(geometryOf({ kind: "image", shape: [1, 300, 400, 3] })).toEqual({ depth: 1, height: 300, width: 400, channels: 3 });
    expect(geometryOf({ kind: "image", shape: [1, 300, 400] })).toEqual({ depth: 1, height: 300, width: 400, channels: 1 });
  });

  it("starts an annotator on the first label with the box tool, and a reviewer read-only with the pan tool", () => {
    const annotator = createViewerState({ project: project(), series: series(), username: "anna", role: "annotator" });
    expect(annotator.activeLabel).toEqual(LIVER);
    expect(annotator.tool).toBe("box");
    expect(annotator.readOnly).toBe(false);
    const reviewer = createViewerState({ project: project(), series: series(), username: "rex", role: "reviewer" });
    expect(reviewer.readOnly).toBe(true);
    expect(reviewer.tool).toBe("pan");
  });

  it("has no active label in a project without labels, and a mask volume the size of the series", () => {
    const state = createViewerState({ project: project([]), series: series(3), username: "anna", role: null });
    expect(state.activeLabel).toBeNull();
    expect([state.volume.depth, state.volume.height, state.volume.width]).toEqual([3, 8, 10]);
    expect(state.viewport.image).toEqual({ width: 10, height: 8 });
  });

  it("keys first predictions by label and slice", () => {
    expect(firstPredictionKey(11, 4)).toBe("11:4");
    expect(firstPredictionKey(11, 4)).not.toBe(firstPredictionKey(4, 11));
  });
});
