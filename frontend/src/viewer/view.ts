/**
 * What the parts ask of the screen, as narrow interfaces: a part that changed some state says which
 * picture is now stale, and the screen (screen.ts: canvases and panels) redraws it. Parts take the
 * `Pick` they need, so their tests pass a recorder instead of a DOM.
 */

import type { AutosaveState } from "./autosave";
import type { Rect } from "./maskLayer";
import type { RawSlice } from "./sliceSource";
import type { SocketStatus } from "../socket";
import type { Banner } from "../ui/banner";

export interface ViewerView {
  /** Redraw the image layer from a slice's raw intensities with the display window (nothing if undefined). */
  image(raw: RawSlice | undefined): void;
  /** Recomposite the mask overlay of the current slice (only `rect` of it when given) and redraw. */
  mask(rect?: Rect | null): void;
  /** Redraw the layers on the next frame (after a zoom or pan, a box being dragged, the brush cursor). */
  redraw(): void;
  candidates(): void;
  job(): void;
  labels(): void;
  presence(): void;
  /** The slider, the slice label and the embedding-readiness bar. */
  slices(): void;
  /** The window preset buttons and the current window (presets of `raw` when given, else of the cached slice). */
  windowPresets(raw?: RawSlice): void;
  /** Only the line naming the current window (cheap enough for every mouse move of a window drag). */
  windowReadout(): void;
  historyButtons(): void;
  tool(): void;
  brush(): void;
  /** Show or hide the help overlay as `state.helpOpen` says. */
  help(): void;
  hint(text: string): void;
  saveState(state: AutosaveState): void;
  connection(status: SocketStatus): void;
  // Planes (issue 15)
  /** The main view's plane changed: size the image for it, the slice bar for its depth, the switcher. */
  plane(): void;
  /** The crosshair moved (or was hidden): redraw its lines and the small views of the other planes. */
  crosshair(): void;
  /** The hover readout (voxel, position, value) for where the mouse is now. */
  readout(): void;
}

/** Where parts report problems and results to the user (the page's banner). */
export type Notifier = Pick<Banner, "show" | "error">;
