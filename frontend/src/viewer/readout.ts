/**
 * The hover readout: under the mouse, the voxel (x, y, z indices of the stored volume, from 0), where it is
 * in the patient (LPS millimetres through the series' affine) and its stored value: Hounsfield units for
 * CT, the raw value otherwise, R G B for colour images.
 *
 * The value is the voxel's, never an interpolated one: on an axial slice it comes from the slice shown (the
 * stored values); on a coronal or sagittal plane, whose display pixels are interpolated, from that plane's
 * slice on the stored grid (`?axis=`), fetched once per slice the mouse visits.
 */

import type { RawSlice } from "./sliceSource";
import { displayToCell, planeToVoxel, type Plane, type Voxel } from "./planes";
import { currentGrid, type ViewerState } from "./state";

/** Patient LPS mm of voxel `v` through the 4 × 4 affine of (x, y, z) indices, or null without one. */
export function voxelToMm(affine: readonly (readonly number[])[] | undefined, v: Voxel): [number, number, number] | null {
  if (!affine || affine.length < 3) return null;
  const row = (r: readonly number[]) => r[0]! * v.x + r[1]! * v.y + r[2]! * v.z + r[3]!;
  return [row(affine[0]!), row(affine[1]!), row(affine[2]!)];
}

/** What the readout says: "x 12 y 40 z 3 · L 12.0 P −4.5 S 60.0 mm · −734 HU" (value "…" while loading). */
export function readoutText(v: Voxel, mm: [number, number, number] | null, value: number[] | null, modality: string): string {
  const parts = [`x ${v.x} y ${v.y} z ${v.z}`];
  if (mm) parts.push(`(${mm.map((m) => m.toFixed(1)).join(", ")}) mm`);
  if (value === null) parts.push("…");
  else if (value.length === 3) parts.push(`RGB ${value.join(" ")}`);
  else parts.push(`${formatValue(value[0]!)}${modality === "CT" ? " HU" : ""}`);
  return parts.join(" · ");
}

function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(5);
}

/** The stored value(s) at (row, col) of a raw slice: one number, or three for RGB. */
export function valueAt(raw: RawSlice, row: number, col: number): number[] {
  const i = row * raw.width + col;
  if (raw.channels === 3) return [raw.values[3 * i]!, raw.values[3 * i + 1]!, raw.values[3 * i + 2]!];
  return [raw.values[i]!];
}

export interface ReadoutDeps {
  state: Pick<ViewerState, "pointer" | "plane" | "planes" | "slice" | "geometry" | "series" | "viewport">;
  /** the axial slice shown (its stored values) */
  current(): RawSlice | undefined;
  /** a coronal or sagittal slice on the stored voxel grid: cached, else loaded and then `loaded` is called */
  voxelPlane(plane: Exclude<Plane, "axial">, index: number): RawSlice | undefined;
}

export class Readout {
  constructor(private readonly deps: ReadoutDeps) {}

  /** The voxel under the mouse, or null off the image. */
  voxel(): Voxel | null {
    const { state } = this.deps;
    const p = state.pointer;
    if (!p || !state.viewport.contains(p.x, p.y)) return null;
    const grid = currentGrid(state);
    const { row, col } = displayToCell(grid, p.x, p.y);
    return planeToVoxel(state.plane, state.geometry.depth, state.slice, row, col);
  }

  /** The readout line, "" when the mouse is off the image. */
  text(): string {
    const { state } = this.deps;
    const v = this.voxel();
    if (!v) return "";
    return readoutText(v, voxelToMm(state.series.affine, v), this.value(v), state.series.modality);
  }

  private value(v: Voxel): number[] | null {
    const { state } = this.deps;
    if (state.plane === "axial") {
      const raw = this.deps.current();
      return raw && raw.index === v.z ? valueAt(raw, v.y, v.x) : null;
    }
    const raw = this.deps.voxelPlane(state.plane, state.slice);
    if (!raw) return null;
    const row = state.geometry.depth - 1 - v.z;
    return valueAt(raw, row, state.plane === "coronal" ? v.x : v.y);
  }
}
