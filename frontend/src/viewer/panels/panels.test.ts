import { describe, expect, it } from "vitest";
import type { JobState } from "../../protocol";
import { LIVER, LUNG, TUMOUR, viewerState } from "../../testing/viewer";
import { PropagationRun } from "../propagation";
import { candidatePanel } from "./candidates";
import { jobPanel, propagationBusy } from "./job";
import { labelRows } from "./labels";
import { presenceEntries } from "./presence";
import { readinessMarks, sliceLabel } from "./sliceBar";
import { connectionText, pointsHelp } from "./status";
import { titled, toolButtons } from "./toolbar";
import { prettyPreset, presetText } from "./windowPresets";

function job(state: JobState["state"], progress: number): JobState {
  return { id: 9, kind: "propagate", state, progress, message: `at ${progress}`, error: "" };
}

describe("the label picker", () => {
  it("marks the active label and the hidden ones, and numbers the first nine", () => {
    const state = viewerState();
    state.activeLabel = LUNG;
    state.hiddenLabels.add(TUMOUR.id);
    expect(labelRows(state).map((r) => [r.label.name, r.active, r.hidden, r.key])).toEqual([
      ["Liver", false, false, "1"],
      ["Lung", true, false, "2"],
      ["Tumour", false, true, "3"],
    ]);
    const many = viewerState({ labels: Array.from({ length: 10 }, (_, i) => ({ ...LIVER, id: 100 + i, name: `L${i}` })) });
    expect(labelRows(many).map((r) => r.key)).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9", null]);
  });
});

describe("presence", () => {
  it("lists the others with the slice they are on, counted from 1, and never me", () => {
    const users = [
      { username: "anna", slice_index: 3 },
      { username: "jon", slice_index: 11 },
      { username: "ines", slice_index: null },
      { username: "olle", slice_index: 239, plane: "coronal" as const },
    ];
    expect(presenceEntries(users, "anna")).toEqual([
      { text: "jon · slice 12", slice: 11 },
      { text: "ines", slice: null },
      { text: "olle · coronal 240", slice: 239, plane: "coronal" },
    ]);
  });
});

describe("the mask panel", () => {
  it("invites a box, says what a pending prompt waits for, and lists the candidates with their IoU", () => {
    const state = viewerState();
    expect(candidatePanel(state)).toEqual({ notes: ["Draw a box around a structure."], choices: [] });
    state.promptPending = true;
    expect(candidatePanel(state).notes).toEqual(["Computing this slice's embedding, then segmenting…"]);
    state.ready.add(state.slice);
    expect(candidatePanel(state).notes).toEqual(["Segmenting…"]);
    state.promptPending = false;
    state.candidate = { slice: state.slice, labelId: LIVER.id, masks: [{ mask: new Uint8Array(80), iou: 0.912 }, { mask: new Uint8Array(80), iou: 0.5 }], index: 1, model: "m" };
    expect(candidatePanel(state)).toEqual({
      notes: [],
      choices: [
        { text: "Mask 1 · IoU 0.91", active: false },
        { text: "Mask 2 · IoU 0.50", active: true },
      ],
    });
    expect(candidatePanel(viewerState({ role: "reviewer" })).notes).toEqual(["Read-only."]);
  });
});

describe("the propagation panel", () => {
  it("shows starting, then the run's progress with Cancel while it runs, then how it ended", () => {
    const state = viewerState();
    expect(jobPanel(state)).toEqual({ kind: "none" });
    expect(propagationBusy(state)).toBe(false);
    state.startingJob = true;
    expect(jobPanel(state)).toEqual({ kind: "starting", line: "Starting the propagation…" });
    expect(propagationBusy(state)).toBe(true);
    state.startingJob = false;
    const run = new PropagationRun(9, LIVER.id);
    state.propagation = run;
    run.update(job("running", 0.456));
    expect(jobPanel(state)).toMatchObject({ kind: "run", phase: "running", percent: 46, label: "Propagating… 46%", title: "at 0.456", cancellable: true });
    run.update(job("done", 1));
    expect(jobPanel(state)).toMatchObject({ kind: "run", phase: "done", percent: 100, label: "Done", cancellable: false, line: "Propagation done: 0 slices filled." });
    expect(propagationBusy(state)).toBe(false);
  });
});

describe("the slice bar", () => {
  it("counts slices from 1 and says whether the slice's embedding is ready", () => {
    expect(sliceLabel({ slice: 0, depth: 40, ready: new Set([0]) })).toEqual({ text: "Slice 1 / 40", ready: true });
    expect(sliceLabel({ slice: 39, depth: 40, ready: new Set([0]) })).toEqual({ text: "Slice 40 / 40", ready: false });
  });

  it("marks ready slices and then the current one along the bar", () => {
    expect(readinessMarks({ slice: 3, depth: 4, ready: new Set([0, 2]) }, 100)).toEqual([
      { x: 0, width: 25, current: false },
      { x: 50, width: 25, current: false },
      { x: 75, width: 25, current: true },
    ]);
    // more slices than pixels: every mark is at least one pixel wide
    expect(readinessMarks({ slice: 1999, depth: 2000, ready: new Set() }, 1024)).toEqual([{ x: 1023, width: 1, current: true }]);
  });
});

describe("the status line and the toolbar", () => {
  it("says Live when connected, else what the connection is doing", () => {
    expect(connectionText({ state: "open", reconnected: false })).toBe("● Live");
    expect(connectionText({ state: "reconnecting", attempt: 2, delayMs: 4000 })).toBe("○ Connection lost. Reconnecting in 4 s (attempt 2)…");
    expect(connectionText({ state: "closed" })).toBe("○ Offline");
  });

  it("shows each tool with its key, and disables the editing tools for a reviewer", () => {
    expect(toolButtons(false).map((b) => [b.title, b.disabled])).toEqual([
      ["Box (B)", false],
      ["+ Point (P)", false],
      ["− Point (N)", false],
      ["Brush (D)", false],
      ["Eraser (E)", false],
      ["Fill (F)", false],
      ["Pan (V)", false],
      ["Comment (K)", false],
    ]);
    expect(toolButtons(true).filter((b) => !b.disabled).map((b) => b.tool)).toEqual(["pan", "comment"]);
    // the Comment tool shows only in a case opened from the project page (it keeps the toolbar to one row)
    expect(toolButtons(false, false).filter((b) => b.hidden).map((b) => b.tool)).toEqual(["comment"]);
    expect(toolButtons(false, true).filter((b) => b.hidden)).toEqual([]);
    expect(titled("Undo", "undo")).toBe("Undo (Ctrl+Z)");
  });

  it("says in the help what points do with the model prompts are decoded with", () => {
    const boxOnly = pointsHelp({ name: "lite_medsam", clicks_trained: false });
    expect(boxOnly).toContain("lite_medsam: this model learnt from boxes, not clicks");
    expect(boxOnly).toContain("only corrects the mask near it");
    expect(boxOnly).toContain("rates its mask lower is ignored");
    expect(pointsHelp({ name: "sam_vit_b", clicks_trained: true })).toBe("Points (P, N) refine the mask: sam_vit_b was trained on corrective clicks.");
  });
});

describe("the window panel", () => {
  it("names presets as people write them", () => {
    expect(prettyPreset("soft_tissue")).toBe("Soft tissue");
    expect(presetText({ name: "lung", level: -600, width: 1500 })).toBe("Lung -600/1500");
  });
});
