import { describe, expect, it } from "vitest";
import type { ModelVersionInfo } from "../protocol";
import { diceSeries, stateText } from "./models";
import { extent, project } from "./modelsPlot";

function version(number: number, parent: number | null, metrics: Record<string, unknown> = {}): ModelVersionInfo {
  return {
    id: number + 10,
    number,
    project: 1,
    parent,
    replaced: null,
    state: parent === null ? "promoted" : "candidate",
    active: parent === null,
    model_name: "lite_medsam",
    version: `lite_medsam@${number}`,
    sha256: "a",
    encoder_sha256: "e",
    created_at: "",
    metrics,
  };
}

describe("model versions page", () => {
  it("plots the base model as measured beside the first candidate, then each trained version", () => {
    const versions = [
      version(0, null),
      version(1, 10, { active: { mean_dice_per_click: [0.8, 0.7] }, candidate: { mean_dice_per_click: [0.82, 0.86] } }),
    ];
    const lines = diceSeries(versions);
    expect(lines.map((l) => l.name)).toEqual(["v0 (base)", "v1"]);
    expect(lines[0]!.points).toEqual([[0, 0.8], [1, 0.7]]);
    expect(lines[1]!.points).toEqual([[0, 0.82], [1, 0.86]]);
  });

  it("plots nothing before the first run", () => {
    expect(diceSeries([version(0, null)])).toEqual([]);
  });

  it("names states as people read them", () => {
    expect(stateText({ ...version(2, 11), state: "rolled_back" })).toBe("rolled back");
  });

  it("maps data to pixels with y up, and widens a flat line", () => {
    const e = extent([{ name: "a", color: "#000", points: [[0, 0.5], [4, 0.5]] }]);
    expect(e.y).toEqual([0, 1]);
    const frame = { width: 100, height: 100, pad: 10 };
    expect(project([0, 0], e, frame)).toEqual([10, 90]);
    expect(project([4, 1], e, frame)).toEqual([90, 10]);
  });
});
