/**
 * Changing masks: accepting the model's candidate, brush and eraser strokes, fill, clearing a slice, and
 * undo/redo across all of them. Every change is applied to the mask volume at once, recorded as one
 * history entry (the pixels it flipped) and marked dirty for autosave.
 *
 * Edits happen on the shown plane's voxel grid (planes.ts): on an axial slice straight in the volume; on a
 * coronal or sagittal slice in a copy of that plane, written back into the volume's axial slices as it is
 * painted. Brush and points come in display pixels; a stroke covers the voxels whose centres it holds.
 */

import { floodFill, stampDisc, strokeSegment, type Point } from "./brush";
import { applyFlips, diffMasks, nearestSlice, type EditSource, type HistoryEntry, type SliceChange } from "./history";
import { unionRect, type Rect } from "./maskLayer";
import { planeChanges, readPlane, scales, writePlane, type PlaneGrid } from "./planes";
import { currentGrid, planeOf, type ViewerState } from "./state";
import type { ViewerView } from "./view";

/** A label's mask on the plane shown, opened for editing. */
interface PlaneEdit {
  grid: PlaneGrid;
  index: number;
  labelId: number;
  /** the voxel-grid mask to change: the volume's own slice when axial, else a copy */
  mask: Uint8Array;
}

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
  /** the plane mask a stroke paints (a copy for non-axial planes) */
  private strokeEdit: PlaneEdit | null = null;

  constructor(private readonly deps: EditingDeps) {}

  /** The label's mask on the slice shown, on its plane's voxel grid, ready to change. */
  private open(labelId: number): PlaneEdit {
    const { state } = this.deps;
    const grid = currentGrid(state);
    const index = state.slice;
    const mask = grid.plane === "axial" ? state.volume.get(labelId, index) : (readPlane(state.volume, labelId, grid, index) ?? new Uint8Array(grid.rows * grid.cols));
    return { grid, index, labelId, mask };
  }

  /** Write an edited non-axial mask (only `rect` of it) back into the volume's axial slices. */
  private flush(edit: PlaneEdit, rect?: Rect | null): void {
    if (edit.grid.plane !== "axial") writePlane(this.deps.state.volume, edit.labelId, edit.grid, edit.index, edit.mask, rect);
  }

  /** What an edit changed since `before`, as the axial slices' flips (only within `rect` when given). */
  private changes(edit: PlaneEdit, before: Uint8Array, rect?: Rect | null): SliceChange[] {
    const { volume } = this.deps.state;
    if (edit.grid.plane === "axial") return [{ labelId: edit.labelId, slice: edit.index, flipped: diffMasks(before, edit.mask, edit.grid.cols, rect) }];
    return planeChanges(edit.labelId, edit.grid, edit.index, volume.width, volume.depth, before, edit.mask);
  }

  /** The overlay rectangle to redraw after an edit of `rect`: only axial slices redraw a part. */
  private redrawRect(edit: PlaneEdit, rect: Rect | null): Rect | null {
    return edit.grid.plane === "axial" ? rect : null;
  }

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
    // Changes are kept per axial slice; another plane shown is simply redrawn.
    if (touched.has(state.slice) || state.plane !== "axial") view.mask();
    else if (touched.size) this.deps.goToSlice(nearestSlice([...touched], state.slice));
  }

  /** Make the candidate's chosen mask part of its label's mask (added to what is there). */
  accept(): void {
    const { state, view } = this.deps;
    const c = state.candidate;
    if (!c) return;
    const grid = state.planes[planeOf(c)] ?? state.planes.axial;
    const edit: PlaneEdit =
      grid.plane === "axial"
        ? { grid, index: c.slice, labelId: c.labelId, mask: state.volume.get(c.labelId, c.slice) }
        : { grid, index: c.slice, labelId: c.labelId, mask: readPlane(state.volume, c.labelId, grid, c.slice) ?? new Uint8Array(grid.rows * grid.cols) };
    const before = edit.mask.slice();
    const chosen = c.masks[c.index]!.mask;
    for (let i = 0; i < edit.mask.length; i++) if (chosen[i]) edit.mask[i] = 1;
    this.flush(edit);
    state.candidate = null;
    state.prompt = null;
    this.commit("Accept model mask", "model", this.changes(edit, before), null);
    view.candidates();
    view.mask();
  }

  clearSlice(): void {
    const { state } = this.deps;
    const label = state.activeLabel;
    if (state.readOnly || !label) return;
    const edit = this.open(label.id);
    const before = edit.mask.slice();
    edit.mask.fill(0);
    this.flush(edit);
    this.commit(`Clear ${label.name}`, "manual", this.changes(edit, before), null);
  }

  /** Start a brush (value 1) or eraser (0) stroke with a disc at `p`; a pending candidate is accepted first. */
  strokeBegin(p: Point, value: 0 | 1): void {
    const { state, view } = this.deps;
    this.accept();
    const label = state.activeLabel;
    if (!label) return;
    const edit = this.open(label.id);
    const { sx, sy } = scales(edit.grid);
    const before = edit.mask.slice();
    const dirty = stampDisc(edit.mask, edit.grid.cols, edit.grid.rows, p.x, p.y, state.brushRadius, value, sx, sy);
    this.flush(edit, dirty);
    this.strokeEdit = edit;
    state.stroke = { labelId: label.id, slice: state.slice, plane: state.plane, value, before, dirty, last: p };
    view.mask(this.redrawRect(edit, dirty));
  }

  /** Paint the stroke on to `p` (nothing once the slice or plane shown is another one). */
  strokeExtend(p: Point): void {
    const { state, view } = this.deps;
    const s = state.stroke;
    const edit = this.strokeEdit;
    if (!s || !edit || s.slice !== state.slice || planeOf(s) !== state.plane) return;
    const { sx, sy } = scales(edit.grid);
    const rect = strokeSegment(edit.mask, edit.grid.cols, edit.grid.rows, s.last, p, state.brushRadius, s.value, sx, sy);
    this.flush(edit, rect);
    s.dirty = unionRect(s.dirty, rect);
    s.last = p;
    view.mask(this.redrawRect(edit, rect));
  }

  /** The stroke becomes one undo step. */
  strokeEnd(): void {
    const { state } = this.deps;
    const s = state.stroke;
    const edit = this.strokeEdit;
    state.stroke = null;
    this.strokeEdit = null;
    if (!s || !edit) return;
    this.commit(s.value ? "Brush" : "Eraser", "manual", this.changes(edit, s.before, s.dirty), null, false);
  }

  /** Fill the region around `p` (display pixels) with the active label. */
  fill(p: Point): void {
    const { state } = this.deps;
    this.accept();
    const label = state.activeLabel;
    if (!label) return;
    const edit = this.open(label.id);
    const { sx, sy } = scales(edit.grid);
    const before = edit.mask.slice();
    const rect = floodFill(edit.mask, edit.grid.cols, edit.grid.rows, p.x / sx, p.y / sy, 1);
    if (!rect) return;
    this.flush(edit, rect);
    this.commit("Fill", "manual", this.changes(edit, before, rect), this.redrawRect(edit, rect));
  }
}
