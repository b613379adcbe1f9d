import { describe, expect, it } from "vitest";
import type { CommentInfo } from "../protocol";
import type { AgreementInfo, TaskReview } from "../team";
import { LIVER, LUNG } from "../testing/viewer";
import { agreementRows, commentMarks, emptyReview, isReviewCommand, layerRows, layersOf, modelName, pinText, reviewOverlayLayers, revisionLine } from "./reviewState";

const geometry = { depth: 3, height: 2, width: 2 };

const task: TaskReview = {
  task: 5,
  series: 7,
  labels: [LIVER.id],
  instructions: "",
  assignments: [
    { id: 1, annotator: 1, username: "anna", state: "submitted", state_label: "Submitted", color: "#00bcd4", masks: { [LIVER.id]: null } },
    { id: 2, annotator: 2, username: "ben", state: "submitted", state_label: "Submitted", color: "#ff9800", masks: { [LIVER.id]: null } },
  ],
  consensus: { color: "#ffffff", masks: { [LIVER.id]: null } },
};

function comment(id: number, slice: number | null, extra: Partial<CommentInfo> = {}): CommentInfo {
  return { id, assignment: 1, series_id: 7, author: "rui", text: `c${id}`, slice_index: slice, x: slice === null ? null : 3, y: slice === null ? null : 4, created_at: "", ...extra };
}

describe("the review's layers", () => {
  it("gives each annotator and the consensus a layer per label, in their colours, all shown", () => {
    const layers = layersOf(task, geometry);
    expect(layers.map((l) => [l.username, l.labelId, l.color, l.visible])).toEqual([
      ["anna", LIVER.id, "#00bcd4", true],
      ["ben", LIVER.id, "#ff9800", true],
      [null, LIVER.id, "#ffffff", true],
    ]);
    expect(layerRows({ layers }, [LIVER]).map((r) => `${r.name} · ${r.label} · ${r.detail}`)).toEqual([
      "anna · Liver · no mask saved",
      "ben · Liver · no mask saved",
      "Consensus · Liver · not built yet",
    ]);
  });

  it("draws the visible layers that have a mask on the slice, each in its annotator's colour", () => {
    const layers = layersOf(task, geometry);
    layers[0]!.volume.get(LIVER.id, 1)[0] = 1;
    layers[1]!.volume.get(LIVER.id, 1)[3] = 1;
    expect(reviewOverlayLayers({ layers }, 1).map((l) => l.color)).toEqual([
      [0, 188, 212],
      [255, 152, 0],
    ]);
    layers[1]!.visible = false;
    expect(reviewOverlayLayers({ layers }, 1)).toHaveLength(1);
    expect(reviewOverlayLayers({ layers }, 0)).toHaveLength(0);
  });
});

describe("comments on the image", () => {
  it("marks the comments pinned on the slice, numbered as in the panel, and the pin being placed", () => {
    const review = { ...emptyReview(), comments: [comment(1, 2), comment(2, null), comment(3, 2, { resolved: true }), comment(4, 0)], pin: { slice: 2, x: 5, y: 6 } };
    expect(commentMarks(review, 2)).toEqual([
      { x: 3, y: 4, label: "1", resolved: false, pending: false },
      { x: 3, y: 4, label: "3", resolved: true, pending: false },
      { x: 5, y: 6, label: "+", resolved: false, pending: true },
    ]);
    expect(commentMarks(review, 1)).toEqual([]);
  });

  it("names a pin by its slice as the slice bar counts (from 1) and its rounded point", () => {
    expect(pinText({ slice: 2, x: 120.4, y: 87.6 })).toBe("slice 3, (120, 88)");
    expect(pinText(null)).toBe("not pinned");
  });
});

describe("agreement and history", () => {
  it("lists pairwise Dice over the volume and on the current slice", () => {
    const agreement: AgreementInfo = { task: 5, labels: [{ label: LUNG.id, annotators: ["anna", "ben"], pairs: [{ a: "anna", b: "ben", dice: 0.5625, slices: { "2": 0.5 } }] }] };
    expect(agreementRows(agreement, 2, [LUNG])).toEqual([{ label: "Lung", pair: "anna · ben", volume: "0.563", slice: "0.500" }]);
    expect(agreementRows(agreement, 1, [LUNG])[0]!.slice).toBe("—");
    expect(agreementRows(null, 1, [LUNG])).toEqual([]);
  });

  it("says who saved a revision, when, how and with which model", () => {
    const base = { id: 1, number: 3, author: "anna", created_at: "2026-11-28T09:15:02+00:00", slices: [] };
    expect(revisionLine({ ...base, source: "corrected", model_version: "lite_medsam@79d8" })).toBe("#3 · anna · 2026-11-28 09:15 · corrected · lite_medsam@79d8");
    expect(revisionLine({ ...base, source: "consensus", inputs: { method: "staple" } })).toBe("#3 · anna · 2026-11-28 09:15 · consensus (staple)");
  });

  it("names the model version that made a mask by the project's short name, the full string for the tooltip", () => {
    const base = { id: 1, number: 3, author: "anna", created_at: "2026-11-28T09:15:02+00:00", slices: [], source: "corrected" };
    const full = "lite_medsam@0c1d2e3f4a5b";
    expect(revisionLine({ ...base, model_version: full, model_label: "v3" })).toBe("#3 · anna · 2026-11-28 09:15 · corrected · v3");
    expect(revisionLine({ ...base, model_version: full, model_label: "base LiteMedSAM" })).toMatch(/· base LiteMedSAM$/);
    expect(modelName({ model_version: full, model_label: "" })).toBe(full); // a model the project does not know
    const layers = layersOf(task, geometry);
    layers[0]!.revision = { ...base, model_version: full, model_label: "v3" };
    const [anna, ben] = layerRows({ layers }, [LIVER]);
    expect(anna!.detail).toBe("revision 3 · Submitted · v3");
    expect(anna!.model).toBe(full);
    expect(ben!.model).toBe("");
  });

  it("routes only the review's commands to the review part", () => {
    expect(isReviewCommand({ type: "comment.pin" })).toBe(true);
    expect(isReviewCommand({ type: "case.submit-next" })).toBe(true);
    expect(isReviewCommand({ type: "slice.go" })).toBe(false);
  });
});
