import { describe, expect, it } from "vitest";
import type { LabelInfo } from "../endpoints";
import { labelEdits, moveLabel, removeQuestion } from "./labelsPanel";

const liver: LabelInfo = { id: 1, name: "liver", value: 1, color: "#ff0000", window_preset: "" };

describe("the label editor", () => {
  it("moves a label up or down, stopping at the ends", () => {
    expect(moveLabel([1, 2, 3], 3, -1)).toEqual([1, 3, 2]);
    expect(moveLabel([1, 2, 3], 1, -1)).toEqual([1, 2, 3]);
    expect(moveLabel([1, 2, 3], 1, 1)).toEqual([2, 1, 3]);
    expect(moveLabel([1, 2, 3], 9, 1)).toEqual([1, 2, 3]);
  });

  it("sends only what changed", () => {
    expect(labelEdits(liver, { name: " liver ", color: "#FF0000", window_preset: "" })).toBeNull();
    expect(labelEdits(liver, { name: "Liver", color: "#00ff00", window_preset: "lung" })).toEqual({ name: "Liver", color: "#00ff00", window_preset: "lung" });
  });

  it("asks before removing a label with masks and says what happens to them", () => {
    expect(removeQuestion(liver, 3)).toBe("liver has 3 saved masks. Remove it anyway? Its masks stay in the database but leave exports and the approved masks.");
    expect(removeQuestion(liver, 1)).toMatch(/1 saved mask\./);
  });
});
