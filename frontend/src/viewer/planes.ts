/**
 * The three orthogonal planes in the browser (the server's side is ml_worker/planes.py; docs/protocol.md).
 *
 * Masks live in `state.volume` as axial slices of the stored (Z, Y, X) grid, whatever plane they were drawn
 * in. A plane's *voxel grid* is one slice of that volume, oriented as radiology viewers show it: axial rows
 * y and columns x; coronal rows z from the top slice down, columns x; sagittal rows z from the top down,
 * columns y. Its *display grid* is the same slice resampled to square pixels by the server (`display_rows`
 * × `display_cols`, from the series' `planes`): the image, the viewport, the pointer, boxes and the brush
 * work in display pixels, and masks are turned into display pixels by nearest voxel (a display pixel shows
 * the voxel that holds its centre) and edited on the voxel grid. The axial plane is never resampled.
 */

import type { PlaneGridInfo } from "../endpoints";
import { diffMasks, type SliceChange } from "./history";
import type { MaskVolume, Rect } from "./maskLayer";

export type Plane = "axial" | "coronal" | "sagittal";
export const PLANES: readonly Plane[] = ["axial", "coronal", "sagittal"];

export interface PlaneGrid {
  plane: Plane;
  /** slices along the plane's normal */
  depth: number;
  /** the voxel grid of one slice */
  rows: number;
  cols: number;
  /** the display grid (square pixels) */
  displayRows: number;
  displayCols: number;
}

/** A voxel of the stored volume: x (column), y (row), z (slice). */
export interface Voxel {
  x: number;
  y: number;
  z: number;
}

export type PlaneGrids = Partial<Record<Plane, PlaneGrid>> & { axial: PlaneGrid };

/** The planes a series offers: the server's list, else the axial plane alone (a 2D image, an old server). */
export function planeGrids(
  planes: Partial<Record<string, PlaneGridInfo>> | undefined,
  axial: { depth: number; height: number; width: number },
): PlaneGrids {
  const grids: PlaneGrids = {
    axial: { plane: "axial", depth: axial.depth, rows: axial.height, cols: axial.width, displayRows: axial.height, displayCols: axial.width },
  };
  for (const plane of ["coronal", "sagittal"] as const) {
    const info = planes?.[plane];
    if (info) {
      grids[plane] = { plane, depth: info.depth, rows: info.rows, cols: info.cols, displayRows: info.display_rows, displayCols: info.display_cols };
    }
  }
  return grids;
}

/** Display pixels per voxel along the columns and the rows. */
export function scales(grid: PlaneGrid): { sx: number; sy: number } {
  return { sx: grid.displayCols / grid.cols, sy: grid.displayRows / grid.rows };
}

/** For each of `nOut` display pixels, the voxel holding its centre: floor((2r + 1) nIn / (2 nOut)). */
export function nearestCells(nIn: number, nOut: number): Int32Array {
  const out = new Int32Array(nOut);
  for (let r = 0; r < nOut; r++) out[r] = Math.floor(((2 * r + 1) * nIn) / (2 * nOut));
  return out;
}

/** The voxel-grid (col, row) holding display point (x, y), clamped to the grid. */
export function displayToCell(grid: PlaneGrid, x: number, y: number): { col: number; row: number } {
  const { sx, sy } = scales(grid);
  return { col: clampIndex(Math.floor(x / sx), grid.cols), row: clampIndex(Math.floor(y / sy), grid.rows) };
}

/** The display point at the centre of voxel-grid cell (col, row). */
export function cellCentre(grid: PlaneGrid, col: number, row: number): { x: number; y: number } {
  const { sx, sy } = scales(grid);
  return { x: (col + 0.5) * sx, y: (row + 0.5) * sy };
}

function clampIndex(i: number, n: number): number {
  return Math.min(n - 1, Math.max(0, i));
}

/** Where voxel `v` lies in `plane` of a volume `depthZ` slices deep: slice index, row and column. */
export function voxelToPlane(plane: Plane, depthZ: number, v: Voxel): { index: number; row: number; col: number } {
  if (plane === "axial") return { index: v.z, row: v.y, col: v.x };
  if (plane === "coronal") return { index: v.y, row: depthZ - 1 - v.z, col: v.x };
  return { index: v.x, row: depthZ - 1 - v.z, col: v.y };
}

/** The voxel at (row, col) of slice `index` of `plane`. */
export function planeToVoxel(plane: Plane, depthZ: number, index: number, row: number, col: number): Voxel {
  if (plane === "axial") return { x: col, y: row, z: index };
  if (plane === "coronal") return { x: col, y: index, z: depthZ - 1 - row };
  return { x: index, y: col, z: depthZ - 1 - row };
}

/** The slice of `plane` that holds voxel `v`. */
export function indexOf(plane: Plane, v: Voxel): number {
  return plane === "axial" ? v.z : plane === "coronal" ? v.y : v.x;
}

/** `v` moved to slice `index` of `plane` (the other two coordinates kept). */
export function withIndex(plane: Plane, v: Voxel, index: number): Voxel {
  return plane === "axial" ? { ...v, z: index } : plane === "coronal" ? { ...v, y: index } : { ...v, x: index };
}

/** Row-major offset, within axial slice z, of cell (row, col) of slice `index` of a non-axial plane. */
function axialOffset(plane: Plane, width: number, index: number, col: number): number {
  return plane === "coronal" ? index * width + col : col * width + index;
}

/**
 * A label's mask on slice `index` of `plane`, on the plane's voxel grid (rows × cols). The axial plane's
 * is the volume's own slice (undefined when never drawn on); the others are fresh copies.
 */
export function readPlane(volume: MaskVolume, labelId: number, grid: PlaneGrid, index: number): Uint8Array | undefined {
  if (grid.plane === "axial") return volume.peek(labelId, index);
  const out = new Uint8Array(grid.rows * grid.cols);
  let any = false;
  for (let row = 0; row < grid.rows; row++) {
    const slice = volume.peek(labelId, volume.depth - 1 - row);
    if (!slice) continue;
    any = true;
    for (let col = 0; col < grid.cols; col++) out[row * grid.cols + col] = slice[axialOffset(grid.plane, volume.width, index, col)]!;
  }
  return any ? out : undefined;
}

/** Write rows `rect.y0`–`rect.y1` (columns `rect.x0`–`rect.x1`) of a non-axial plane mask into the volume. */
export function writePlane(volume: MaskVolume, labelId: number, grid: PlaneGrid, index: number, mask: Uint8Array, rect?: Rect | null): void {
  if (grid.plane === "axial") {
    volume.set(labelId, index, mask);
    return;
  }
  const r = rect ?? { x0: 0, y0: 0, x1: grid.cols, y1: grid.rows };
  for (let row = r.y0; row < r.y1; row++) {
    const slice = volume.get(labelId, volume.depth - 1 - row);
    for (let col = r.x0; col < r.x1; col++) slice[axialOffset(grid.plane, volume.width, index, col)] = mask[row * grid.cols + col]!;
  }
}

/** The flips that turn plane mask `before` into `after`, as the axial slices' changes the history keeps. */
export function planeChanges(labelId: number, grid: PlaneGrid, index: number, width: number, depthZ: number, before: Uint8Array, after: Uint8Array): SliceChange[] {
  if (grid.plane === "axial") return [{ labelId, slice: index, flipped: diffMasks(before, after) }];
  const changes: SliceChange[] = [];
  for (let row = 0; row < grid.rows; row++) {
    const flipped: number[] = [];
    for (let col = 0; col < grid.cols; col++) {
      const i = row * grid.cols + col;
      if ((before[i] !== 0) !== (after[i] !== 0)) flipped.push(axialOffset(grid.plane, width, index, col));
    }
    if (flipped.length) changes.push({ labelId, slice: depthZ - 1 - row, flipped: Uint32Array.from(flipped) });
  }
  return changes.sort((a, b) => a.slice - b.slice);
}

/** A voxel-grid plane mask on the display grid (nearest voxel); the axial plane's as it is. */
export function toDisplay(mask: Uint8Array, grid: PlaneGrid, out?: Uint8Array): Uint8Array {
  if (grid.displayRows === grid.rows && grid.displayCols === grid.cols) return mask;
  const rows = nearestCells(grid.rows, grid.displayRows);
  const cols = nearestCells(grid.cols, grid.displayCols);
  const target = out ?? new Uint8Array(grid.displayRows * grid.displayCols);
  for (let r = 0; r < grid.displayRows; r++) {
    const from = rows[r]! * grid.cols;
    const to = r * grid.displayCols;
    for (let c = 0; c < grid.displayCols; c++) target[to + c] = mask[from + cols[c]!]!;
  }
  return target;
}

/** A voxel-grid rectangle of a plane as the display rectangle that shows it. */
export function displayRect(grid: PlaneGrid, rect: Rect): Rect {
  const { sx, sy } = scales(grid);
  return {
    x0: Math.floor(rect.x0 * sx),
    y0: Math.floor(rect.y0 * sy),
    x1: Math.min(grid.displayCols, Math.ceil(rect.x1 * sx)),
    y1: Math.min(grid.displayRows, Math.ceil(rect.y1 * sy)),
  };
}

/** The crosshair in a view of `grid`: the display column and row through the centre of the cursor's voxel. */
export function crosshairAt(grid: PlaneGrid, depthZ: number, cursor: Voxel): { x: number; y: number } {
  const { row, col } = voxelToPlane(grid.plane, depthZ, cursor);
  return cellCentre(grid, col, row);
}

export function planeName(plane: Plane): string {
  return plane[0]!.toUpperCase() + plane.slice(1);
}
