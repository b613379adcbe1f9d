import { describe, expect, it } from "vitest";
import { caseUrl, formatActive, stateLabel } from "./team";

describe("team workflow helpers", () => {
  it("names the case states as the owner's table and the viewer show them", () => {
    expect(["todo", "in_progress", "submitted", "approved", "returned"].map(stateLabel)).toEqual([
      "Not started",
      "In progress",
      "Submitted",
      "Approved",
      "Changes requested",
    ]);
    expect(stateLabel("unknown")).toBe("unknown");
  });

  it("opens a case in the viewer with its assignment", () => {
    expect(caseUrl(12, 34)).toBe("/series/12/?assignment=34");
  });

  it("shows active time once the timing work measures it, a dash before", () => {
    expect(formatActive(null)).toBe("—");
    expect(formatActive(undefined)).toBe("—");
    expect(formatActive(720)).toBe("12 min");
    expect(formatActive(3900)).toBe("1 h 05 min");
  });
});
