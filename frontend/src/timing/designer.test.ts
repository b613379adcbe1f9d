import { describe, expect, it } from "vitest";
import { cellKey, planSummary, studyBody } from "./designer";

const base = { name: "Nodules", cells: [cellKey(3, 1), cellKey(4, 1)], participants: [7, 8], modelVersion: "lite_medsam@79d8c9dca6db", seed: "", washout: "", instructions: "" };

describe("the study designer", () => {
  it("turns the ticked cells and people into the request, with the default washout and no seed", () => {
    expect(studyBody(base)).toEqual({
      body: { name: "Nodules", cases: [{ series: 3, label: 1 }, { series: 4, label: 1 }], participants: [7, 8], model_version: "lite_medsam@79d8c9dca6db", washout: 1, instructions: "" },
    });
    expect(studyBody({ ...base, seed: "42", washout: "2" })).toMatchObject({ body: { seed: 42, washout: 2 } });
  });

  it("says what is missing before asking the server", () => {
    expect(studyBody({ ...base, name: "  " })).toEqual({ error: "Give the study a name." });
    expect(studyBody({ ...base, cells: [] })).toMatchObject({ error: expect.stringContaining("at least one case") });
    expect(studyBody({ ...base, participants: [7, 7] })).toMatchObject({ error: expect.stringContaining("two participants") });
    expect(studyBody({ ...base, washout: "1.5" })).toMatchObject({ error: expect.stringContaining("washout") });
    expect(studyBody({ ...base, seed: "-3" })).toMatchObject({ error: expect.stringContaining("seed") });
  });

  it("summarises the plan", () => {
    expect(planSummary(4, 2)).toBe("4 cases × 2 participants: each participant does every case once (2 manual and 2 assisted); 8 tasks in all.");
    expect(planSummary(3, 2)).toContain("1–2 of each condition");
    expect(planSummary(3, 1)).toBe("");
  });
});
