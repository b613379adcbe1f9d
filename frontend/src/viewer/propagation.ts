/**
 * Client-side bookkeeping of one 3D propagation job (docs/protocol.md: propagate → job.created → a stream
 * of propagate.slice → job.progress done / cancelled / failed).
 *
 * Each arriving slice is applied at once to the label's mask as a model result (the annotator watches the
 * structure fill in while scrolling, and autosave keeps it), and its flipped pixels are accumulated here so
 * the whole propagation becomes ONE undo step when the job ends. Once the user presses Cancel nothing more
 * is applied: slices the worker had already sent are counted as dropped, never painted.
 */

import type { HistoryEntry, SliceChange } from "./history";
import { xorIndices } from "./history";
import type { JobState } from "../protocol";

export type RunPhase = "running" | "cancelling" | "done" | "cancelled" | "failed";

const FINAL = new Set<JobState["state"]>(["done", "cancelled", "failed"]);

export class PropagationRun {
  private readonly changes = new Map<number, SliceChange>();
  phase: RunPhase = "running";
  progress = 0;
  message = "";
  error = "";
  /** propagate.slice messages of this job received, applied or not */
  received = 0;
  /** propagate.slice messages of this job that arrived after Cancel (or after the end) and were ignored */
  dropped = 0;
  /** job.progress messages of this job that arrived after it had ended here (the worker's own stop notice) */
  lateEvents = 0;

  constructor(
    readonly jobId: number,
    readonly labelId: number,
  ) {}

  /** Whether slices of this job are still applied. */
  get applying(): boolean {
    return this.phase === "running";
  }

  get ended(): boolean {
    return this.phase === "done" || this.phase === "cancelled" || this.phase === "failed";
  }

  /**
   * Note a slice of the job. Returns false (and counts it as dropped) when it must not be applied; the
   * caller then leaves the mask alone. Otherwise the caller applies it and calls `record` with the flips.
   */
  admit(): boolean {
    this.received += 1;
    if (this.applying) return true;
    this.dropped += 1;
    return false;
  }

  /** The pixels a propagated slice flipped (a slice sent twice is folded into one change). */
  record(slice: number, flipped: Uint32Array): void {
    const previous = this.changes.get(slice);
    this.changes.set(slice, {
      labelId: this.labelId,
      slice,
      flipped: previous ? xorIndices(previous.flipped, flipped) : flipped,
    });
  }

  /** Slices whose mask this run changed, ascending. */
  get slices(): number[] {
    return [...this.changes.values()].filter((c) => c.flipped.length > 0).map((c) => c.slice).sort((a, b) => a - b);
  }

  /** The user pressed Cancel: stop applying now, before the server confirms. */
  cancel(): void {
    if (this.phase === "running") this.phase = "cancelling";
  }

  /**
   * A job.progress of this job. Returns the history entry to record (one step for the whole run) when this
   * ends the run, else null. Progress after the end only counts as a late event.
   */
  update(state: JobState): HistoryEntry | null {
    if (state.id !== this.jobId) return null;
    if (this.ended) {
      this.lateEvents += 1;
      return null;
    }
    this.progress = state.progress;
    this.message = state.message;
    if (!FINAL.has(state.state)) return null;
    this.phase = state.state as RunPhase;
    this.error = state.error;
    if (this.phase === "done") this.progress = 1;
    return { description: "3D propagation", source: "model", changes: [...this.changes.values()] };
  }

  /** The line the job panel shows. */
  describe(): string {
    const n = this.slices.length;
    const slices = `${n} slice${n === 1 ? "" : "s"}`;
    switch (this.phase) {
      case "running":
        return `Propagating… ${Math.round(100 * this.progress)}% (${slices} so far)`;
      case "cancelling":
        return `Cancelling… (${slices} kept)`;
      case "cancelled":
        return `Propagation cancelled: kept ${slices}${n ? " (Ctrl+Z removes them)" : ""}.`;
      case "done":
        return `Propagation done: ${slices} filled${n ? " (Ctrl+Z removes them)" : ""}.`;
      case "failed":
        return `Propagation failed: ${this.error || this.message || "unknown error"}.`;
    }
  }
}

/**
 * Messages (propagate.slice, job.progress) of a job whose job.created reply has not arrived yet (the worker
 * can be faster than the reply): held, bounded, and handed over once the job id is known.
 */
export class EarlyMessages<T> {
  private held: { jobId: number; item: T }[] = [];

  constructor(private readonly capacity = 512) {}

  hold(jobId: number, item: T): void {
    this.held.push({ jobId, item });
    if (this.held.length > this.capacity) this.held.shift();
  }

  /** The held items of `jobId`, in arrival order; everything else is discarded. */
  take(jobId: number): T[] {
    const mine = this.held.filter((h) => h.jobId === jobId).map((h) => h.item);
    this.held = [];
    return mine;
  }

  get size(): number {
    return this.held.length;
  }
}
