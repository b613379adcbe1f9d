/**
 * Undo/redo across model and manual edits. Masks are binary, so an edit of a slice is fully described by
 * the pixels it flipped: undo and redo both flip them back. An entry stores those indices (4 bytes each) per
 * slice it touched, never whole volumes, and the stacks drop their oldest entries beyond a byte budget.
 */

import type { Rect } from "./maskLayer";

export type EditSource = "model" | "manual";

export interface SliceChange {
  labelId: number;
  slice: number;
  /** pixel indices (row-major) whose value flipped */
  flipped: Uint32Array;
}

export interface HistoryEntry {
  description: string;
  source: EditSource;
  changes: SliceChange[];
}

/** Indices where `before` and `after` differ, optionally only inside `rect` of an image `width` wide. */
export function diffMasks(before: Uint8Array, after: Uint8Array, width?: number, rect?: Rect | null): Uint32Array {
  if (before.length !== after.length) throw new RangeError("masks differ in size");
  const out: number[] = [];
  if (rect && width) {
    for (let y = rect.y0; y < rect.y1; y++) {
      for (let i = y * width + rect.x0, end = y * width + rect.x1; i < end; i++) {
        if ((before[i] !== 0) !== (after[i] !== 0)) out.push(i);
      }
    }
  } else {
    for (let i = 0; i < before.length; i++) if ((before[i] !== 0) !== (after[i] !== 0)) out.push(i);
  }
  return Uint32Array.from(out);
}

/** Flip the listed pixels of a binary mask. */
export function applyFlips(mask: Uint8Array, flipped: Uint32Array): void {
  for (let k = 0; k < flipped.length; k++) {
    const i = flipped[k]!;
    mask[i] = mask[i] ? 0 : 1;
  }
}

function entryBytes(entry: HistoryEntry): number {
  // 64 bytes of bookkeeping per slice change is a fair estimate of the object overhead.
  return entry.changes.reduce((n, c) => n + c.flipped.byteLength + 64, 0);
}

export interface HistoryOptions {
  /** Budget for both stacks together. 32 MB holds ~8 million flipped pixels: hundreds of full-slice edits. */
  maxBytes?: number;
  maxEntries?: number;
}

export class History {
  private undoStack: HistoryEntry[] = [];
  private redoStack: HistoryEntry[] = [];
  private readonly maxBytes: number;
  private readonly maxEntries: number;
  private bytesUsed = 0;

  constructor(options: HistoryOptions = {}) {
    this.maxBytes = options.maxBytes ?? 32 * 1024 * 1024;
    this.maxEntries = options.maxEntries ?? 500;
  }

  get canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  get canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  get bytes(): number {
    return this.bytesUsed;
  }

  get size(): { undo: number; redo: number } {
    return { undo: this.undoStack.length, redo: this.redoStack.length };
  }

  /** Record an edit that has already been applied. Empty changes are ignored; a new edit clears redo. */
  record(entry: HistoryEntry): boolean {
    const changes = entry.changes.filter((c) => c.flipped.length > 0);
    if (changes.length === 0) return false;
    const kept = { ...entry, changes };
    for (const e of this.redoStack) this.bytesUsed -= entryBytes(e);
    this.redoStack = [];
    this.undoStack.push(kept);
    this.bytesUsed += entryBytes(kept);
    while (this.undoStack.length > 1 && (this.bytesUsed > this.maxBytes || this.undoStack.length > this.maxEntries)) {
      this.bytesUsed -= entryBytes(this.undoStack.shift()!);
    }
    return true;
  }

  /**
   * Undo the newest edit: `apply` receives each slice change to flip (the caller owns the masks and knows
   * which slices to redraw and mark dirty). Returns the entry undone, or null.
   */
  undo(apply: (change: SliceChange) => void): HistoryEntry | null {
    const entry = this.undoStack.pop();
    if (!entry) return null;
    for (let i = entry.changes.length - 1; i >= 0; i--) apply(entry.changes[i]!);
    this.redoStack.push(entry);
    return entry;
  }

  redo(apply: (change: SliceChange) => void): HistoryEntry | null {
    const entry = this.redoStack.pop();
    if (!entry) return null;
    for (const change of entry.changes) apply(change);
    this.undoStack.push(entry);
    return entry;
  }

  clear(): void {
    this.undoStack = [];
    this.redoStack = [];
    this.bytesUsed = 0;
  }
}

/** Symmetric difference of two ascending index lists: flipping a pixel twice leaves it as it was. */
export function xorIndices(a: Uint32Array, b: Uint32Array): Uint32Array {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]! < b[j]!)) out.push(a[i++]!);
    else if (i >= a.length || b[j]! < a[i]!) out.push(b[j++]!);
    else {
      i++;
      j++;
    }
  }
  return Uint32Array.from(out);
}

/** The slice of `slices` closest to `current` (the earlier one on a tie): where an undo of several slices is shown. */
export function nearestSlice(slices: readonly number[], current: number): number {
  if (!slices.length) throw new RangeError("no slices");
  return slices.reduce((best, z) => {
    const d = Math.abs(z - current);
    const b = Math.abs(best - current);
    return d < b || (d === b && z < best) ? z : best;
  }, slices[0]!);
}
