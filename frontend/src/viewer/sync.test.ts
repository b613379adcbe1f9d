import { describe, expect, it } from "vitest";
import { ApiError } from "../api";
import type { RevisionSummary } from "../protocol";
import { encode } from "../rle";
import { countOn, LIVER, LUNG, maskWith, recordingNotifier, recordingView, viewerState } from "../testing/viewer";
import type { Command } from "./bus";
import { MaskSync } from "./sync";

function revision(id: number, number: number, slices: number[] = [], author = "anna"): RevisionSummary {
  return { id, number, author, created_at: "", source: "manual", slices };
}

type Reply = unknown | Error;

/** An API whose GET replies are given per path (the last one repeats); POSTs are recorded and answered in turn. */
function fakeApi(gets: Record<string, Reply[]>, posts: Reply[] = []) {
  const posted: { path: string; body: Record<string, unknown>; headers?: Record<string, string> }[] = [];
  const api = {
    get: async <T>(path: string): Promise<T> => {
      const queue = gets[path] ?? [new ApiError(404, "not_found", `no ${path}`)];
      const reply = queue.length > 1 ? queue.shift() : queue[0];
      if (reply instanceof Error) throw reply;
      return reply as T;
    },
    post: async <T>(path: string, body: unknown, headers?: Record<string, string>): Promise<T> => {
      posted.push({ path, body: body as Record<string, unknown>, headers });
      const reply = posts.shift();
      if (reply instanceof Error) throw reply;
      return reply as T;
    },
  };
  return { api, posted };
}

const liverPath = `/api/series/7/masks/${LIVER.id}/`;
const lungPath = `/api/series/7/masks/${LUNG.id}/`;

function setup(gets: Record<string, Reply[]>, posts: Reply[] = [], socketId: string | null = "sock-1") {
  const state = viewerState({ labels: [LIVER, LUNG] });
  const view = recordingView();
  const notify = recordingNotifier();
  const commands: Command[] = [];
  const { api, posted } = fakeApi(gets, posts);
  const sync = new MaskSync({ state, api, socketId: () => socketId, view, notify, dispatch: (c) => void commands.push(c) });
  return { state, view, notify, commands, posted, sync };
}

describe("loading and saving masks", () => {
  it("loads every label's saved slices and bases autosave on their revisions; a failing label is reported", async () => {
    const { state, notify, sync } = setup({
      [liverPath]: [{ revision: revision(40, 3), slices: { "1": encode(maskWith([[2, 2], [3, 2]]), 8, 10) } }],
      [lungPath]: [new ApiError(500, "boom", "server broke")],
    });
    await sync.loadAll();
    expect(countOn(state.volume.peek(LIVER.id, 1))).toBe(2);
    expect(sync.autosave.baseOf(LIVER.id)).toBe(40);
    expect(notify.errors).toEqual(["Loading the saved Lung mask: server broke"]);
  });

  it("saves a label's slices with the model's first predictions beside them, once", async () => {
    const { state, posted, sync } = setup({}, [{ revision: revision(41, 4) }, { revision: revision(42, 5) }]);
    const first = encode(maskWith([[1, 1]]), 8, 10);
    state.volume.set(LIVER.id, 2, maskWith([[1, 1], [2, 1]]));
    state.firstPredictions.set(`${LIVER.id}:2`, { rle: first, iou: 0.88, model: "litemedsam@1" });
    const saved = await sync.save({ labelId: LIVER.id, baseRevisionId: 40, slices: [2, 3], source: "corrected" });
    expect(saved.id).toBe(41);
    expect(posted[0]).toEqual({
      path: `/api/series/7/masks/${LIVER.id}/revisions/`,
      headers: { "X-Delineate-Socket": "sock-1" },
      body: {
        base_revision: 40,
        source: "corrected",
        slices: { 2: encode(maskWith([[1, 1], [2, 1]]), 8, 10), 3: encode(new Uint8Array(80), 8, 10) },
        first_predictions: { 2: first },
        predicted_iou: { 2: 0.88 },
        model_version: "litemedsam@1",
      },
    });
    await sync.save({ labelId: LIVER.id, baseRevisionId: 41, slices: [2], source: "manual" });
    expect(posted[1]!.body.first_predictions).toBeUndefined();
  });
});

describe("revisions saved elsewhere", () => {
  it("announces a colleague's revision without touching the masks", async () => {
    const { state, notify, sync } = setup({});
    await sync.onRevision(LIVER.id, "jon", revision(50, 2, [3, 4, 5], "jon"));
    expect(notify.shown.map((s) => s.message)).toEqual(["jon saved Liver, revision 2 (slices 4–6)."]);
    expect(state.volume.peek(LIVER.id, 3)).toBeUndefined();
  });

  it("loads my own revision from another window when nothing here is unsaved, and clears the undo history", async () => {
    const { state, notify, sync } = setup({ [liverPath]: [{ revision: revision(51, 6, [1]), slices: { "1": encode(maskWith([[0, 0]]), 8, 10) } }] });
    state.volume.set(LIVER.id, 4, maskWith([[5, 5]]));
    state.history.record({ description: "Brush", source: "manual", changes: [{ labelId: LIVER.id, slice: 4, flipped: Uint32Array.of(55) }] });
    await sync.onRevision(LIVER.id, "anna", revision(51, 6, [1]));
    expect(countOn(state.volume.peek(LIVER.id, 1))).toBe(1);
    expect(countOn(state.volume.peek(LIVER.id, 4))).toBe(0);
    expect(state.history.canUndo).toBe(false);
    expect(sync.autosave.baseOf(LIVER.id)).toBe(51);
    expect(notify.shown.at(-1)!.message).toBe("Loaded Liver revision 6 (slice 2), saved from another window.");
  });

  it("leaves my own revision alone while this window has unsaved edits of that label", async () => {
    const { notify, sync } = setup({});
    sync.autosave.markDirty(LIVER.id, 1, "manual");
    await sync.onRevision(LIVER.id, "anna", revision(52, 7, [1]));
    expect(notify.shown).toEqual([]);
    sync.autosave.dispose();
  });
});

describe("a conflicting save", () => {
  it("pauses saving that label and offers both ways out, which come back as commands", async () => {
    const { notify, view, commands, sync } = setup({}, [new ApiError(409, "conflict", "jon saved Liver meanwhile (revision 9).")]);
    sync.autosave.markDirty(LIVER.id, 2, "manual");
    await sync.autosave.flush();
    const banner = notify.shown.at(-1)!;
    expect([banner.message, banner.tone]).toEqual(["jon saved Liver meanwhile (revision 9).", "error"]);
    expect(view.hints.at(-1)).toBe("Saving Liver is paused until the conflict is resolved.");
    banner.actions.forEach((a) => a.run());
    expect(banner.actions.map((a) => a.label)).toEqual(["Load theirs", "Keep mine on top"]);
    expect(commands).toEqual([
      { type: "conflict.resolve", labelId: LIVER.id, keepMine: false },
      { type: "conflict.resolve", labelId: LIVER.id, keepMine: true },
    ]);
    sync.autosave.dispose();
  });

  it("keeps mine: saves my slices on top of their revision", async () => {
    const { notify, posted, sync } = setup({ [liverPath]: [{ revision: revision(60, 9), slices: {} }] }, [new ApiError(409, "conflict", "taken"), { revision: revision(61, 10) }]);
    sync.autosave.markDirty(LIVER.id, 2, "manual");
    await sync.autosave.flush();
    await sync.resolveConflict(LIVER.id, true);
    expect(notify.shown.at(-1)!.message).toBe("Saving your Liver changes on top of revision 9.");
    await sync.autosave.flush();
    expect(posted.map((p) => p.body.base_revision)).toEqual([null, 60]);
    expect(sync.autosave.hasUnsaved).toBe(false);
  });

  it("loads theirs: replaces my slices with their revision and drops my unsaved edits", async () => {
    const theirs = { revision: revision(60, 9), slices: { "2": encode(maskWith([[7, 7]]), 8, 10) } };
    const { state, notify, sync } = setup({ [liverPath]: [theirs] }, [new ApiError(409, "conflict", "taken")]);
    state.volume.set(LIVER.id, 2, maskWith([[1, 1]]));
    sync.autosave.markDirty(LIVER.id, 2, "manual");
    await sync.autosave.flush();
    await sync.resolveConflict(LIVER.id, false);
    expect(state.volume.peek(LIVER.id, 2)).toEqual(maskWith([[7, 7]]));
    expect(sync.autosave.hasUnsaved).toBe(false);
    expect(notify.shown.at(-1)!.message).toBe("Loaded Liver revision 9; your unsaved changes to it were dropped.");
    sync.autosave.dispose();
  });
});
