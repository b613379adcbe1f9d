/**
 * What the end-to-end browser tests (tests/browser/) read from a running viewer through
 * `window.__delineate`: where an image pixel is on the screen, what the mask layer shows, the masks held,
 * the save state and the timings. Read-only: the tests drive the viewer with the mouse and keyboard only.
 */

import type { Rle } from "../rle";
import type { Viewport } from "./viewport";

export interface ProbeMask {
  slice: number;
  labelId: number;
  pixels: number;
  rle: Rle;
}

export interface ViewerProbe {
  perf: { boxToMaskMs: number[]; promptServerMs: number[]; brushFrameMs: number[] };
  /** Viewport (client) coordinates of image point (x, y): what page.mouse.move takes. */
  imageToScreen(x: number, y: number): [number, number];
  slice(): number;
  activeLabelId(): number | null;
  /** Whether the current slice's embedding is ready (prompts answer without running the encoder). */
  embeddingReady(): boolean;
  /** The active label's saved-or-edited mask on a slice (the current one by default). */
  mask(slice?: number, labelId?: number): ProbeMask;
  /** The model's candidate mask being shown, not yet accepted. */
  candidate(): (ProbeMask & { iou: number }) | null;
  /** Pixels the composited mask overlay of the current slice paints (alpha > 0), at image resolution. */
  overlayPixels(): number;
  /** Pixels of the on-screen mask canvas that are not transparent. */
  screenMaskPixels(): number;
  hasUnsaved(): boolean;
  /** Slices whose embedding (for the model's preset) the viewer knows to be ready, ascending. */
  readySlices(): number[];
  /** How many embedding.ready messages the viewer has received. */
  embeddingEvents(): number;
  /** The display window now (right-drag changes it in the browser). */
  displayWindow(): { level: number; width: number };
  /** The current or last 3D propagation. */
  propagation(): PropagationProbe | null;
}

export interface PropagationProbe {
  jobId: number;
  phase: "running" | "cancelling" | "done" | "cancelled" | "failed";
  /** propagate.slice messages received, applied or not */
  received: number;
  /** slices whose mask it changed */
  slices: number[];
  /** propagate.slice messages that arrived after Cancel / the end and were not applied */
  dropped: number;
  /** job.progress messages that arrived after it ended here */
  lateEvents: number;
  text: string;
}

/** Client coordinates of image point (ix, iy): the viewport's transform plus where the canvas sits. */
export function imageToClient(viewport: Viewport, canvas: { left: number; top: number }, ix: number, iy: number): [number, number] {
  const [sx, sy] = viewport.toScreen(ix, iy);
  return [canvas.left + sx, canvas.top + sy];
}

/** How many pixels of an RGBA buffer are not fully transparent. */
export function countOpaque(rgba: Uint8ClampedArray): number {
  let n = 0;
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i]) n++;
  return n;
}

/** How many pixels of a binary mask are set. */
export function countSet(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) n++;
  return n;
}
