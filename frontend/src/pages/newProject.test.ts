import { describe, expect, it } from "vitest";
import { LABEL_COLORS, nextColor, projectPayload } from "./newProject";

describe("new project form", () => {
  it("trims, lower-cases colours and ignores blank label rows", () => {
    const result = projectPayload({
      name: "  Brain MR ",
      description: " tumours ",
      labels: [
        { name: " tumour ", color: "#FF8800", window_preset: "" },
        { name: "   ", color: "#000000", window_preset: "lung" },
        { name: "oedema", color: "#3cb44b", window_preset: "soft_tissue" },
      ],
    });
    expect(result).toEqual({
      ok: true,
      payload: {
        name: "Brain MR",
        description: "tumours",
        labels: [
          { name: "tumour", color: "#ff8800", window_preset: "" },
          { name: "oedema", color: "#3cb44b", window_preset: "soft_tissue" },
        ],
      },
    });
  });

  it("asks for the Retain UIDs Option only when it is chosen", () => {
    const chosen = projectPayload({ name: "PACS", description: "", labels: [], retain_uids: true });
    const not = projectPayload({ name: "Upload", description: "", labels: [], retain_uids: false });
    expect(chosen).toEqual({ ok: true, payload: { name: "PACS", description: "", labels: [], retain_uids: true } });
    expect(not).toEqual({ ok: true, payload: { name: "Upload", description: "", labels: [] } });
  });

  it("asks for the Clean Descriptors Option only when it is chosen", () => {
    const chosen = projectPayload({ name: "MR", description: "", labels: [], clean_descriptors: true });
    expect(chosen).toEqual({ ok: true, payload: { name: "MR", description: "", labels: [], clean_descriptors: true } });
    expect(projectPayload({ name: "MR", description: "", labels: [], clean_descriptors: false })).toEqual({ ok: true, payload: { name: "MR", description: "", labels: [] } });
  });

  it("names the problem: no name, a label twice, a bad colour", () => {
    expect(projectPayload({ name: " ", description: "", labels: [] })).toEqual({ ok: false, error: "Give the project a name." });
    const twice = projectPayload({ name: "p", description: "", labels: [{ name: "Liver", color: "#000000", window_preset: "" }, { name: "liver ", color: "#111111", window_preset: "" }] });
    expect(twice).toEqual({ ok: false, error: 'Label "liver" is listed twice.' });
    const colour = projectPayload({ name: "p", description: "", labels: [{ name: "a", color: "red", window_preset: "" }] });
    expect(colour).toEqual({ ok: false, error: "Label 1 needs a colour like #ff8800." });
  });

  it("gives each new label row a colour not used yet", () => {
    expect(nextColor([])).toBe(LABEL_COLORS[0]);
    expect(nextColor([LABEL_COLORS[0]!.toUpperCase(), LABEL_COLORS[1]!])).toBe(LABEL_COLORS[2]);
    expect(LABEL_COLORS).toContain(nextColor(LABEL_COLORS));
  });
});
