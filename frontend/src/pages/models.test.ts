import { describe, expect, it } from "vitest";
import type { ModelVersionInfo } from "../protocol";
import { formValues, settingsBody, type AlSettings } from "./alSettings";
import { diceSeries, mergeCurve, stateText, storedCurve, type VersionsBody } from "./models";
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

describe("the loss curve after a reload", () => {
  const point = (step: number, loss: number) => ({ step, epoch: 1, loss });
  const body = (training: unknown, versions: ModelVersionInfo[]) => ({ versions, active: null, training, settings: {} }) as unknown as VersionsBody;

  it("draws the run under way's stored curve, then the newest trained version's", () => {
    const running = { id: 4, kind: "train", state: "running", progress: 0.4, message: "", error: "", result: { loss_curve: [point(1, 0.9), point(2, 0.8)] } };
    expect(storedCurve(body(running, []))).toEqual({ points: [point(1, 0.9), point(2, 0.8)], caption: "Loss of the run under way" });
    const v1 = { ...version(1, 10), loss_curve: [point(1, 0.7)] };
    const v2 = { ...version(2, 11), loss_curve: [point(1, 0.6), point(2, 0.5)] };
    expect(storedCurve(body(null, [version(0, null), v1, v2]))).toEqual({ points: v2.loss_curve, caption: "Loss of v2's training run" });
    expect(storedCurve(body(null, [version(0, null)])).points).toEqual([]);
  });

  it("appends only the live points that come after the stored ones", () => {
    expect(mergeCurve([point(1, 0.9), point(2, 0.8)], [point(2, 0.8), point(3, 0.7)]).map((p) => p.step)).toEqual([1, 2, 3]);
  });
});

describe("the active-learning settings form", () => {
  const settings: AlSettings = {
    training_masks: "approved",
    training_strategy: "hardest-corrected",
    training_strategies: ["hardest-corrected", "uniform"],
    queue_ordering: "priority",
    queue_orderings: ["priority", "lowest-iou"],
    heldout_fraction: 0.2,
    max_cases: 400,
    min_area: 20,
    recipe: { max_epochs: 8, lr: 5e-5, batch_size: 8, max_clicks: 8, max_seconds: null },
    promotion: { dsc_margin: 0, clicks: 3, click_margin: 0, min_cases: 1 },
    auto_promote: false,
  };

  it("sends what the form shows back as nested settings, numbers as numbers and an empty time limit as none", () => {
    const values = formValues(settings);
    expect(values["recipe.max_seconds"]).toBe("");
    values["recipe.lr"] = "0.0001";
    values["queue_ordering"] = "lowest-iou";
    values["auto_promote"] = true;
    const sent = settingsBody(values);
    expect(sent.queue_ordering).toBe("lowest-iou");
    expect(sent.changes.recipe).toEqual({ max_epochs: 8, lr: 0.0001, batch_size: 8, max_clicks: 8, max_seconds: null });
    expect(sent.changes.promotion).toEqual({ dsc_margin: 0, clicks: 3, click_margin: 0, min_cases: 1 });
    expect(sent.changes.auto_promote).toBe(true);
    expect("queue_ordering" in sent.changes || "heldout_series" in sent.changes).toBe(false);
  });

  it("sends text that is no number as typed, for the server to name the field", () => {
    const values = { ...formValues(settings), heldout_fraction: "a fifth" };
    expect(settingsBody(values).changes.heldout_fraction).toBe("a fifth");
  });
});
