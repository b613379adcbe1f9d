/**
 * Keeping the browser's masks in step with the server: load every label's saved mask, save edits as
 * revisions through autosave (with the model's first predictions beside them), take in revisions saved
 * elsewhere, and resolve a conflicting save the way the user chooses.
 */

import type { Api } from "../api";
import { endpoints, SOCKET_HEADER, type LabelInfo } from "../endpoints";
import type { RevisionSummary } from "../protocol";
import { decode, encode, type Rle } from "../rle";
import { Autosaver, revisionName, type AutosaveState, type SaveBatch } from "./autosave";
import type { Dispatch, Emit } from "./bus";
import { firstPredictionKey, type ViewerState } from "./state";
import type { Notifier, ViewerView } from "./view";

interface SavedMask {
  revision: RevisionSummary | null;
  slices: Record<string, Rle>;
}

export interface SyncDeps {
  state: ViewerState;
  api: Pick<Api, "get" | "post">;
  /** the socket's id, sent with saves so the server does not echo revision.created back to it */
  socketId(): string | null;
  view: Pick<ViewerView, "mask" | "historyButtons" | "hint" | "saveState">;
  notify: Notifier;
  dispatch: Dispatch;
  /** tells the bus a revision was saved (the interaction log attributes work to it) */
  emit?: Emit;
  /** autosave timings (tests shorten them) */
  autosave?: { delayMs?: number; maxDelayMs?: number };
  /** a label's saved masks were loaded (at start, or replacing the ones here) */
  onLoaded?(): void;
}

export class MaskSync {
  readonly autosave: Autosaver;

  constructor(private readonly deps: SyncDeps) {
    this.autosave = new Autosaver({ ...deps.autosave, save: (batch) => this.save(batch), onState: (state) => this.onAutosave(state) });
  }

  /** Load every label's saved mask (a label that fails to load is reported, the others still load). */
  async loadAll(): Promise<void> {
    const { state, notify } = this.deps;
    await Promise.all(
      state.labels.map(async (label) => {
        try {
          const data = await this.deps.api.get<SavedMask>(endpoints.labelMask(state.series.id, label.id));
          this.apply(label.id, data);
        } catch (error) {
          notify.error(error, `Loading the saved ${label.name} mask`);
        }
      }),
    );
    this.deps.view.mask();
  }

  /** Save one label's dirty slices as a revision on top of `baseRevisionId` (autosave calls this). */
  async save({ labelId, baseRevisionId, slices, source }: SaveBatch): Promise<RevisionSummary> {
    const { state } = this.deps;
    const { height, width } = state.geometry;
    const body: Record<string, unknown> = {
      base_revision: baseRevisionId,
      source,
      slices: Object.fromEntries(slices.map((z) => [z, encode(state.volume.get(labelId, z), height, width)])),
    };
    const first = slices.map((z) => [z, state.firstPredictions.get(firstPredictionKey(labelId, z))] as const).filter(([, f]) => f);
    if (first.length) {
      body.first_predictions = Object.fromEntries(first.map(([z, f]) => [z, f!.rle]));
      body.predicted_iou = Object.fromEntries(first.map(([z, f]) => [z, f!.iou]));
      body.model_version = first[0]![1]!.model;
    }
    const socketId = this.deps.socketId();
    const headers: Record<string, string> = socketId ? { [SOCKET_HEADER]: socketId } : {};
    const reply = await this.deps.api.post<{ revision: RevisionSummary }>(endpoints.revisions(state.series.id, labelId), body, headers);
    for (const [z] of first) state.firstPredictions.delete(firstPredictionKey(labelId, z));
    const saved = reply.revision;
    this.deps.emit?.({ type: "mask.saved", labelId, revisionId: saved.id, source: saved.source, modelVersion: saved.model_version ?? "" });
    return saved;
  }

  /**
   * A revision saved elsewhere. Another annotator's revision is their own track: announce it. One of ours
   * came from another window: load it when nothing here is unsaved (else autosave will report the conflict).
   */
  async onRevision(labelId: number, annotator: string, revision: RevisionSummary): Promise<void> {
    const { state, notify } = this.deps;
    const label = state.labels.find((l) => l.id === labelId);
    const z = revision.slices;
    const where = z.length ? ` (slice${z.length > 1 ? "s" : ""} ${z[0]! + 1}${z.length > 1 ? `–${z[z.length - 1]! + 1}` : ""})` : "";
    const name = label?.name ?? "a mask";
    if (annotator !== state.username) {
      notify.show(`${revision.author} saved ${name}, revision ${revision.number}${where}.`, "info", 6000);
      return;
    }
    if (!label || this.autosave.dirtySlices(labelId).length || this.autosave.baseOf(labelId) === revision.id) return;
    await this.reload(label);
    notify.show(`Loaded ${name} revision ${revision.number}${where}, saved from another window.`, "info", 6000);
  }

  /** After a 409: load the other save, then either drop our unsaved slices or save them on top of it. */
  async resolveConflict(labelId: number, keepMine: boolean): Promise<void> {
    const { state, notify } = this.deps;
    const label = state.labels.find((l) => l.id === labelId);
    if (!label) return;
    try {
      // Say when it is done: loading the other save takes a request, and the canvas change may be small.
      // The status line's "saving is paused" hint no longer holds either.
      if (keepMine) {
        const data = await this.deps.api.get<{ revision: RevisionSummary | null }>(endpoints.labelMask(state.series.id, labelId));
        this.autosave.resolveConflict(labelId, data.revision?.id ?? null, true);
        notify.show(`Saving your ${label.name} changes on top of ${revisionName(data.revision)}.`, "ok");
      } else {
        const revision = await this.reload(label);
        this.autosave.resolveConflict(labelId, this.autosave.baseOf(labelId), false);
        notify.show(`Loaded ${label.name} ${revisionName(revision)}; your unsaved changes to it were dropped.`, "ok");
      }
      this.deps.view.hint("");
    } catch (error) {
      notify.error(error, "Resolving the conflict");
    }
  }

  private onAutosave(saving: AutosaveState): void {
    const { state, view, notify, dispatch } = this.deps;
    view.saveState(saving);
    if (saving.state === "conflict") {
      const label = state.labels.find((l) => l.id === saving.labelId);
      notify.show(saving.message, "error", null, [
        { label: "Load theirs", run: () => dispatch({ type: "conflict.resolve", labelId: saving.labelId, keepMine: false }) },
        { label: `Keep mine on top`, run: () => dispatch({ type: "conflict.resolve", labelId: saving.labelId, keepMine: true }) },
      ]);
      view.hint(`Saving ${label?.name ?? "this label"} is paused until the conflict is resolved.`);
    }
    if (saving.state === "error" && saving.retryInMs === null) notify.show(saving.message, "error");
  }

  /** Replace the label's masks by its saved head; returns that revision. */
  private async reload(label: LabelInfo): Promise<RevisionSummary | null> {
    const { state, view } = this.deps;
    const data = await this.deps.api.get<SavedMask>(endpoints.labelMask(state.series.id, label.id));
    for (let z = 0; z < state.geometry.depth; z++) state.volume.clear(label.id, z);
    this.apply(label.id, data);
    // Undo steps were recorded against the content just replaced.
    state.history.clear();
    view.historyButtons();
    view.mask();
    return data.revision;
  }

  private apply(labelId: number, data: SavedMask): void {
    const { state } = this.deps;
    const { height, width } = state.geometry;
    for (const [z, rle] of Object.entries(data.slices)) decode(rle, [height, width], state.volume.get(labelId, Number(z)));
    this.autosave.setBase(labelId, data.revision?.id ?? null);
    this.deps.onLoaded?.();
  }
}
