import { describe, expect, it } from "vitest";
import { finishedRuns, headline, pairedPoints, type StudyReport } from "./reportData";

const report = {
  n_masks: 4,
  n_pairs: 2,
  time_saved_pct: 74.98,
  ci95: [70.04, 79.5],
  ci_method: "BCa",
  p_value: 0.5,
  test: "Wilcoxon signed-rank, two-sided",
  pairs: [
    { case: 0, manual_s: 60, assisted_s: 15 },
    { case: 1, manual_s: 50, assisted_s: 14 },
  ],
  runs: [
    { state: "submitted", active_s: 60, position: 0 },
    { state: "in_progress", active_s: 12, position: 1 },
    { state: "approved", active_s: null, position: 1 },
  ],
} as unknown as StudyReport;

describe("the report's derived parts", () => {
  it("states time saved with its interval and the paired test", () => {
    expect(headline(report)).toBe("Time saved with the model: 75.0% (95% CI 70.0% to 79.5%; Wilcoxon signed-rank p = 0.500; 2 paired cases, 4 masks).");
    expect(headline({ ...report, time_saved_pct: -10, ci95: null, ci_method: "needs at least two paired cases" })).toBe(
      "Time saved with the model: -10.0% (no interval: needs at least two paired cases; Wilcoxon signed-rank p = 0.500; 2 paired cases, 4 masks). Negative: the model made annotation slower.",
    );
    expect(headline({ ...report, time_saved_pct: null, n_pairs: 0, n_masks: 1 })).toBe("No case is finished in both conditions yet (1 finished mask).");
  });

  it("plots finished runs by step and each case as a manual–assisted pair", () => {
    expect(finishedRuns(report).map((r) => [r.step, r.active_s])).toEqual([[1, 60]]);
    expect(pairedPoints(report)).toEqual([
      { case: "case 1", condition: "manual", seconds: 60 },
      { case: "case 1", condition: "assisted", seconds: 15 },
      { case: "case 2", condition: "manual", seconds: 50 },
      { case: "case 2", condition: "assisted", seconds: 14 },
    ]);
  });
});
