/**
 * Moving between planes and through the crosshair: the main view's plane (A / C / S, or the switcher), the
 * crosshair point shared by the views (a click in a small view, Shift+click in the main one, moves it and
 * the other views follow), `[` / `]` to the previous / next annotated slice, and which embeddings are ready
 * per plane (the server answers a view on another plane with `embeddings.state`).
 */

import type { Annotations } from "./annotations";
import { displayToCell, indexOf, planeName, planeToVoxel, type Plane } from "./planes";
import type { ViewerState } from "./state";
import type { Notifier, ViewerView } from "./view";

export interface PlaneNavDeps {
  state: ViewerState;
  annotations: Pick<Annotations, "next">;
  view: Pick<ViewerView, "plane" | "crosshair" | "slices" | "hint">;
  notify: Notifier;
  /** show slice `index` of the plane in the main view (loads it and tells the server) */
  show(index: number): Promise<void>;
  /** drop the candidate and prompts (they belong to the plane left) */
  discard(): void;
}

export class PlaneNavigation {
  constructor(private readonly deps: PlaneNavDeps) {}

  /** Show `plane` in the main view, at the crosshair. */
  select(plane: Plane): Promise<void> {
    const { state, view, notify } = this.deps;
    if (plane === state.plane) return Promise.resolve();
    if (!state.planes[plane]) {
      notify.show(`This series has no ${plane} plane: it is a single image.`, "warn");
      return Promise.resolve();
    }
    if (state.candidate || state.prompt) this.deps.discard();
    state.drag = null;
    state.pointer = null; // a point of the plane left; the next mouse move gives one of this plane
    state.plane = plane;
    state.ready = state.readyByPlane[plane];
    view.plane();
    view.hint(`${planeName(plane)} plane${plane === "axial" ? "" : ", resampled to square pixels"}.`);
    return this.deps.show(indexOf(plane, state.cursor));
  }

  /** A click at display point (x, y) of a view of `plane` (the main one or a small one): the crosshair goes there. */
  point(plane: Plane, x: number, y: number): void {
    const { state, view } = this.deps;
    const grid = state.planes[plane];
    if (!grid) return;
    const { row, col } = displayToCell(grid, x, y);
    state.cursor = planeToVoxel(plane, state.geometry.depth, indexOf(plane, state.cursor), row, col);
    const along = indexOf(state.plane, state.cursor);
    if (along !== state.slice) void this.deps.show(along);
    else view.crosshair();
  }

  toggleCrosshair(): void {
    this.deps.state.crosshairVisible = !this.deps.state.crosshairVisible;
    this.deps.view.crosshair();
  }

  /** `]` (1) or `[` (−1): the next annotated slice that way in the plane shown. */
  jump(direction: 1 | -1): void {
    const { state, annotations, view } = this.deps;
    const z = annotations.next(state.plane, state.slice, direction);
    if (z === null) view.hint(`No annotated slice ${direction > 0 ? "after" : "before"} this one.`);
    else void this.deps.show(z);
  }

  /** The slices of `plane` whose embedding is ready (the subscription's or an embeddings.state). */
  setReady(plane: Plane, ready: readonly number[]): void {
    const { state, view } = this.deps;
    const set = state.readyByPlane[plane];
    set.clear();
    for (const z of ready) set.add(z);
    if (plane === state.plane) view.slices();
  }

  /** One more ready slice (embedding.ready). */
  addReady(plane: Plane, index: number): void {
    const { state, view } = this.deps;
    state.readyByPlane[plane].add(index);
    if (plane === state.plane) view.slices();
  }
}
