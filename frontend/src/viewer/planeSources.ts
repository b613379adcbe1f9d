/**
 * Raw slices of every plane: the axial source the viewer always had, one source per other plane serving
 * its slices resampled to square pixels (`?plane=`, what is shown), and per other plane the same slices on
 * the stored voxel grid (`?axis=`, exact values for the hover readout). `get` / `cached` / `prefetch` serve
 * the plane shown in the main view, so the slice navigation works the same in any plane.
 */

import type { Plane, PlaneGrids } from "./planes";
import { SliceSource, type RawSlice } from "./sliceSource";

export type Loader = (url: string) => Promise<{ buffer: ArrayBuffer; dtype?: string | null }>;

export interface PlaneSourcesOptions {
  grids: PlaneGrids;
  /** the axial slices (the stored ones) */
  axial: SliceSource;
  /** URL of a resampled plane slice, and of a plane slice on the voxel grid */
  planeUrl(plane: Plane, index: number): string;
  voxelUrl(plane: Exclude<Plane, "axial">, index: number): string;
  load: Loader;
  dtype: string;
  /** the plane of the main view */
  current(): Plane;
}

export class PlaneSources {
  private readonly display = new Map<Plane, SliceSource>();
  private readonly voxels = new Map<Plane, SliceSource>();

  constructor(private readonly options: PlaneSourcesOptions) {
    this.display.set("axial", options.axial);
  }

  /** The source of `plane`'s slices as shown (square pixels). */
  of(plane: Plane): SliceSource {
    let source = this.display.get(plane);
    if (!source) {
      const grid = this.options.grids[plane];
      if (!grid) throw new Error(`This series has no ${plane} plane.`);
      source = new SliceSource({
        load: (index) => this.options.load(this.options.planeUrl(plane, index)),
        dtype: this.options.dtype,
        height: grid.displayRows,
        width: grid.displayCols,
        channels: 1,
        capacity: 24,
      });
      this.display.set(plane, source);
    }
    return source;
  }

  /** `plane`'s slice `index` on the stored voxel grid if cached; otherwise it is fetched and `then` runs. */
  voxelPlane(plane: Exclude<Plane, "axial">, index: number, then: () => void): RawSlice | undefined {
    let source = this.voxels.get(plane);
    if (!source) {
      const grid = this.options.grids[plane]!;
      source = new SliceSource({
        load: (i) => this.options.load(this.options.voxelUrl(plane, i)),
        dtype: this.options.dtype,
        height: grid.rows,
        width: grid.cols,
        channels: 1,
        capacity: 8,
      });
      this.voxels.set(plane, source);
    }
    const hit = source.cached(index);
    if (!hit) source.get(index).then(then, () => {});
    return hit;
  }

  get(index: number): Promise<RawSlice> {
    return this.of(this.options.current()).get(index);
  }

  cached(index: number): RawSlice | undefined {
    return this.of(this.options.current()).cached(index);
  }

  prefetch(indices: number[]): void {
    this.of(this.options.current()).prefetch(indices);
  }
}
