/**
 * Changing masks: accepting the model's candidate, brush and eraser strokes, fill, clearing a slice, and
 * undo/redo across all of them. Every change is applied to the mask volume at once, recorded as one
 * history entry (the pixels it flipped) and marked dirty for autosave.
 */

import { floodFill, stampDisc, strokeSegment, type Point } from "./brush";
import { applyFlips, diffMasks, nearestSlice, type EditSource, type HistoryEntry, type SliceChange } from "./history";
import { unionRect, type Rect } from "./maskLayer";
import type { ViewerState } from "./state";
import type { ViewerView } from "./view";

export interface DirtyMarker {
  markDirty(labelId: number, slice: number, source: EditSource): void;
}

export interface EditingDeps {
  state: ViewerState;
  autosave: DirtyMarker;
  view: Pick<ViewerView, "mask" | "candidates" | "historyButtons" | "hint">;
  /** show another slice (where an undo happened) */
  goToSlice(z: number): void;
}

export class Editing {
  constructor(private readonly deps: EditingDeps) {}

  /** Record an applied edit in the history, mark it for autosave and redraw (only `rect` when given). */
  commit(description: string, source: EditSource, changes: SliceChange[], rect: Rect | null, redraw = true): void {
    const { state, autosave, view } = this.deps;
    if (!state.history.record({ description, source, changes })) return;
    for (const c of changes) autosave.markDirty(c.labelId, c.slice, source);
    view.historyButtons();
    if (redraw) view.mask(rect);
  }

  /** Record an edit whose slices were already marked dirty one by one (a 3D propagation). */
  record(entry: HistoryEntry): void {
    this.deps.state.history.record(entry);
    this.deps.view.historyButtons();
  }

  undo(): void {
    this.step("undo");
  }

  redo(): void {
    this.step("redo");
  }

  private step(which: "undo" | "redo"): void {
    const { state, autosave, view } = this.deps;
    const touched = new Set<number>();
    const apply = (c: SliceChange) => {
      applyFlips(state.volume.get(c.labelId, c.slice), c.flipped);
      touched.add(c.slice);
    };
    const entry = which === "undo" ? state.history.undo(apply) : state.history.redo(apply);
    if (!entry) return;
    for (const c of entry.changes) autosave.markDirty(c.labelId, c.slice, entry.source);
    view.historyButtons();
    view.hint(`${which === "undo" ? "Undid" : "Redid"}: ${entry.description}`);
    if (touched.has(state.slice)) view.mask();
    else if (touched.size) this.deps.goToSlice(nearestSlice([...touched], state.slice));
  }

  /** Make the candidate's chosen mask part of its label's mask (added to what is there). */
  accept(): void {
    const { state, view } = this.deps;
    const c = state.candidate;
    if (!c) return;
    const mask = state.volume.get(c.labelId, c.slice);
    const before = mask.slice();
    const chosen = c.masks[c.index]!.mask;
    for (let i = 0; i < mask.length; i++) if (chosen[i]) mask[i] = 1;
    state.candidate = null;
    state.prompt = null;
    this.commit("Accept model mask", "model", [{ labelId: c.labelId, slice: c.slice, flipped: diffMasks(before, mask) }], null);
    view.candidates();
    view.mask();
  }

  clearSlice(): void {
    const { state } = this.deps;
    const label = state.activeLabel;
    if (state.readOnly || !label) return;
    const mask = state.volume.peek(label.id, state.slice);
    if (!mask) return;
    const before = mask.slice();
    mask.fill(0);
    this.commit(`Clear ${label.name}`, "manual", [{ labelId: label.id, slice: state.slice, flipped: diffMasks(before, mask) }], null);
  }

  /** Start a brush (value 1) or eraser (0) stroke with a disc at `p`; a pending candidate is accepted first. */
  strokeBegin(p: Point, value: 0 | 1): void {
    const { state, view } = this.deps;
    this.accept();
    const label = state.activeLabel;
    if (!label) return;
    const { width, height } = state.geometry;
    const mask = state.volume.get(label.id, state.slice);
    const before = mask.slice();
    const dirty = stampDisc(mask, width, height, p.x, p.y, state.brushRadius, value);
    state.stroke = { labelId: label.id, slice: state.slice, value, before, dirty, last: p };
    view.mask(dirty);
  }

  /** Paint the stroke on to `p` (nothing once the slice shown is another one). */
  strokeExtend(p: Point): void {
    const { state, view } = this.deps;
    const s = state.stroke;
    if (!s || s.slice !== state.slice) return;
    const { width, height } = state.geometry;
    const rect = strokeSegment(state.volume.get(s.labelId, s.slice), width, height, s.last, p, state.brushRadius, s.value);
    s.dirty = unionRect(s.dirty, rect);
    s.last = p;
    view.mask(rect);
  }

  /** The stroke becomes one undo step. */
  strokeEnd(): void {
    const { state } = this.deps;
    const s = state.stroke;
    state.stroke = null;
    if (!s) return;
    const mask = state.volume.get(s.labelId, s.slice);
    const flipped = diffMasks(s.before, mask, state.geometry.width, s.dirty);
    this.commit(s.value ? "Brush" : "Eraser", "manual", [{ labelId: s.labelId, slice: s.slice, flipped }], null, false);
  }

  /** Fill the region around `p` with the active label. */
  fill(p: Point): void {
    const { state } = this.deps;
    this.accept();
    const label = state.activeLabel;
    if (!label) return;
    const { width, height } = state.geometry;
    const mask = state.volume.get(label.id, state.slice);
    const before = mask.slice();
    const rect = floodFill(mask, width, height, p.x, p.y, 1);
    if (rect) this.commit("Fill", "manual", [{ labelId: label.id, slice: state.slice, flipped: diffMasks(before, mask, width, rect) }], rect);
  }
}
