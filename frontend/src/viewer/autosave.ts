/**
 * Autosave: edits mark (label, slice) dirty; a debounced timer saves each label's dirty slices as one
 * revision on top of the revision this browser last saw (the base). A 409 means someone saved the same mask
 * in between (another tab of the same annotator): saving that label stops and the server's sentence naming
 * who saved is shown, so nothing is silently overwritten. Other failures are retried with backoff.
 */

import { ApiError } from "../api";
import type { EditSource } from "./history";
import type { RevisionSummary } from "../protocol";

export type SaveSource = "model" | "manual" | "corrected";

export interface SaveBatch {
  labelId: number;
  baseRevisionId: number | null;
  slices: number[];
  source: SaveSource;
}

export type AutosaveState =
  | { state: "saved"; revision: RevisionSummary | null }
  | { state: "pending" }
  | { state: "saving" }
  | { state: "conflict"; labelId: number; message: string }
  | { state: "error"; message: string; retryInMs: number | null };

export interface AutosaveOptions {
  save: (batch: SaveBatch) => Promise<RevisionSummary>;
  onState?: (state: AutosaveState) => void;
  /** Quiet time after the last edit before saving; a brush stroke is a burst of edits. */
  delayMs?: number;
  /** Save at least this often while someone edits without pause. */
  maxDelayMs?: number;
  retryMs?: { initial: number; max: number };
}

interface Dirty {
  generation: number;
  sources: Set<EditSource>;
}

/** What a revision is, from the kinds of edits since the last save: model only, manual only, or both. */
export function combineSources(sources: Iterable<EditSource>): SaveSource {
  const set = new Set(sources);
  if (set.has("model") && set.has("manual")) return "corrected";
  return set.has("model") ? "model" : "manual";
}

export class Autosaver {
  private readonly dirty = new Map<number, Map<number, Dirty>>();
  private readonly base = new Map<number, number | null>();
  private readonly conflicts = new Map<number, string>();
  private generation = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private firstDirtyAt: number | null = null;
  private saving: Promise<void> | null = null;
  private retryAttempt = 0;
  private readonly delayMs: number;
  private readonly maxDelayMs: number;
  private readonly retry: { initial: number; max: number };
  private lastRevision: RevisionSummary | null = null;

  constructor(
    private readonly options: AutosaveOptions,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.delayMs = options.delayMs ?? 1500;
    this.maxDelayMs = options.maxDelayMs ?? 10_000;
    this.retry = options.retryMs ?? { initial: 2000, max: 30_000 };
  }

  /** The revision the browser's copy of a label is based on (from GET …/masks/{label}/). */
  setBase(labelId: number, revisionId: number | null): void {
    this.base.set(labelId, revisionId);
  }

  baseOf(labelId: number): number | null {
    return this.base.get(labelId) ?? null;
  }

  /** After the user reloaded a label that was in conflict: adopt the new base and save again. */
  resolveConflict(labelId: number, revisionId: number | null, keepEdits: boolean): void {
    this.conflicts.delete(labelId);
    this.base.set(labelId, revisionId);
    if (!keepEdits) this.dirty.delete(labelId);
    this.schedule(this.delayMs);
  }

  get hasUnsaved(): boolean {
    for (const slices of this.dirty.values()) if (slices.size) return true;
    return false;
  }

  dirtySlices(labelId: number): number[] {
    return [...(this.dirty.get(labelId)?.keys() ?? [])].sort((a, b) => a - b);
  }

  markDirty(labelId: number, slice: number, source: EditSource): void {
    let slices = this.dirty.get(labelId);
    if (!slices) this.dirty.set(labelId, (slices = new Map()));
    const entry = slices.get(slice) ?? { generation: 0, sources: new Set<EditSource>() };
    entry.generation = ++this.generation;
    entry.sources.add(source);
    slices.set(slice, entry);
    if (this.firstDirtyAt === null) this.firstDirtyAt = this.now();
    if (!this.saving) this.emit({ state: "pending" });
    const waited = this.now() - this.firstDirtyAt;
    this.schedule(Math.max(0, Math.min(this.delayMs, this.maxDelayMs - waited)));
  }

  /** Save everything dirty now (before leaving the page, or on Ctrl+S). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.saving) await this.saving;
    this.saving = this.saveAll().finally(() => (this.saving = null));
    await this.saving;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, ms);
  }

  private async saveAll(): Promise<void> {
    this.firstDirtyAt = null;
    let failed: ApiError | Error | null = null;
    for (const [labelId, slices] of this.dirty) {
      if (slices.size === 0 || this.conflicts.has(labelId)) continue;
      const snapshot = new Map([...slices].map(([z, d]) => [z, d.generation]));
      const sources = [...slices.values()].flatMap((d) => [...d.sources]);
      this.emit({ state: "saving" });
      try {
        const revision = await this.options.save({
          labelId,
          baseRevisionId: this.baseOf(labelId),
          slices: [...snapshot.keys()].sort((a, b) => a - b),
          source: combineSources(sources),
        });
        this.base.set(labelId, revision.id);
        this.lastRevision = revision;
        // slices edited again while the request was in flight stay dirty for the next save
        for (const [z, generation] of snapshot) if (slices.get(z)?.generation === generation) slices.delete(z);
        this.retryAttempt = 0;
      } catch (error) {
        if (error instanceof ApiError && error.status === 409) {
          this.conflicts.set(labelId, error.message);
          this.emit({ state: "conflict", labelId, message: error.message });
          continue;
        }
        failed = error as Error;
      }
    }
    const conflicted = [...this.conflicts.keys()];
    if (failed) {
      const permanent = failed instanceof ApiError && failed.status >= 400 && failed.status < 500 && failed.status !== 408 && failed.status !== 429;
      if (permanent) {
        this.emit({ state: "error", message: `Not saved: ${failed.message}`, retryInMs: null });
      } else {
        this.retryAttempt += 1;
        const wait = Math.min(this.retry.max, this.retry.initial * 2 ** (this.retryAttempt - 1));
        this.emit({ state: "error", message: `Not saved yet: ${failed.message}`, retryInMs: wait });
        this.schedule(wait);
      }
      return;
    }
    if (conflicted.length) {
      const labelId = conflicted[0]!;
      this.emit({ state: "conflict", labelId, message: this.conflicts.get(labelId)! });
      return;
    }
    if (this.hasUnsaved) {
      this.emit({ state: "pending" });
      this.schedule(this.delayMs);
    } else {
      this.emit({ state: "saved", revision: this.lastRevision });
    }
  }

  private emit(state: AutosaveState): void {
    this.options.onState?.(state);
  }
}

export function describeAutosave(state: AutosaveState): string {
  switch (state.state) {
    case "saved":
      return state.revision ? `Saved (revision ${state.revision.number})` : "All changes saved";
    case "pending":
      return "Unsaved changes…";
    case "saving":
      return "Saving…";
    case "conflict":
      return state.message;
    case "error":
      return state.retryInMs ? `${state.message} Retrying in ${Math.ceil(state.retryInMs / 1000)} s.` : state.message;
  }
}

/** "revision 3", or what a label with nothing saved is called (after a conflict is resolved). */
export function revisionName(revision: Pick<RevisionSummary, "number"> | null): string {
  return revision ? `revision ${revision.number}` : "the empty mask (nothing saved yet)";
}
