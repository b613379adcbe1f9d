/**
 * What the end-to-end browser tests (tests/browser/) read from a running viewer through
 * `window.__delineate`: where an image pixel is on the screen, what the mask layer shows, the masks held,
 * the save state and the timings. Read-only: the tests drive the viewer with the mouse and keyboard only.
 *
 * Kept out of the viewer's own code paths: `recordPerf` listens on the viewer's bus for the timings, and
 * `installProbe` (called once by the page, viewer/index.ts) publishes read-only views of the state.
 */

import { encode, type Rle } from "../rle";
import type { SliceMarks } from "./annotations";
import type { Dispatched, ViewerEvent } from "./bus";
import { readPlane, type Plane, type Voxel } from "./planes";
import { currentGrid, planeOf, type ViewerState } from "./state";
import type { Viewport } from "./viewport";

export interface ProbeMask {
  slice: number;
  labelId: number;
  pixels: number;
  rle: Rle;
}

/** Numbers the end-to-end round reads (window.__delineate.perf): box mouse-up → mask drawn; brush frames. */
export interface PerfLog {
  boxToMaskMs: number[];
  /** The worker's share of each of those (prompt.result timings.total_ms). */
  promptServerMs: number[];
  brushFrameMs: number[];
}

export interface ViewerProbe {
  perf: PerfLog;
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
  /** A prompt was sent and its answer (or its failure) has not come yet. */
  promptPending(): boolean;
  /** Slices whose embedding (for the model's preset) the viewer knows to be ready, ascending. */
  readySlices(): number[];
  /** How many embedding.ready messages the viewer has received. */
  embeddingEvents(): number;
  /** The display window now (right-drag changes it in the browser). */
  displayWindow(): { level: number; width: number };
  /** The current or last 3D propagation. */
  propagation(): PropagationProbe | null;
  // Planes (issue 15)
  /** The main view's plane; `slice()` counts along its normal. */
  plane(): Plane;
  /** The crosshair's voxel (x, y, z). */
  cursor(): Voxel;
  /** The plane shown as [rows, cols]: its display grid (image points) and its voxel grid (masks). */
  planeSize(): { display: [number, number]; voxels: [number, number] };
  /** A label's mask on slice `index` of `plane`, on that plane's voxel grid. */
  planeMask(plane: Plane, index: number, labelId?: number): ProbeMask;
  /** The slices of the plane shown that hold a mask, per visible label (what the slice bar marks). */
  annotatedSlices(): { labelId: number; slices: number[] }[];
  /** The slice bar's annotation marks' title. */
  annotatedTitle(): string;
  /** The hover readout's text. */
  readout(): string;
  /** The case opened with ?assignment= (review.ts): its mode, each layer's pixels on the current slice, comments. */
  review(): ReviewProbe;
}

export interface ReviewProbe {
  mode: "annotate" | "review" | null;
  state: string | null;
  layers: { username: string | null; labelId: number; visible: boolean; pixels: number }[];
  comments: { id: number; text: string; slice: number | null; resolved: boolean }[];
  pin: { slice: number; x: number; y: number } | null;
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

/** Where the bus can be listened to. */
export interface BusLike {
  onCommand(listener: (d: Dispatched) => void): () => void;
  onEvent(listener: (e: ViewerEvent) => void): () => void;
  now(): number;
}

/**
 * Collect the timings from the bus: a prompt's time from the command (mouse-up) to the frame after its
 * candidate is drawn, the worker's share of it, and how long each brush or eraser step took to paint.
 */
export function recordPerf(bus: BusLike, nextFrame: (run: () => void) => void = (run) => requestAnimationFrame(run)): PerfLog {
  const perf: PerfLog = { boxToMaskMs: [], promptServerMs: [], brushFrameMs: [] };
  bus.onEvent((event) => {
    if (event.type !== "prompt.answered") return;
    nextFrame(() => perf.boxToMaskMs.push(bus.now() - event.startedAt));
    perf.promptServerMs.push(event.serverMs);
  });
  bus.onCommand(({ command, ms }) => {
    if (command.type === "stroke.begin" || command.type === "stroke.extend") perf.brushFrameMs.push(ms);
  });
  return perf;
}

/** What the probe reads that is not in the state: the screen and the save state. */
export interface ProbeSource {
  state: ViewerState;
  perf: PerfLog;
  imageToScreen(x: number, y: number): [number, number];
  overlayPixels(): number;
  screenMaskPixels(): number;
  hasUnsaved(): boolean;
  planes?: { marks(): SliceMarks[]; readout(): string; annotatedTitle(): string };
}

export function viewerProbe({ state, perf, imageToScreen, overlayPixels, screenMaskPixels, hasUnsaved, planes }: ProbeSource): ViewerProbe {
  const { height, width } = state.geometry;
  const maskOf = (z: number, labelId: number, mask: Uint8Array, rows = height, cols = width): ProbeMask => ({
    slice: z,
    labelId,
    pixels: countSet(mask),
    rle: encode(mask, rows, cols),
  });
  return {
    perf,
    imageToScreen,
    slice: () => state.slice,
    activeLabelId: () => state.activeLabel?.id ?? null,
    embeddingReady: () => state.ready.has(state.slice),
    mask: (z = state.slice, labelId = state.activeLabel?.id ?? 0) => maskOf(z, labelId, state.volume.peek(labelId, z) ?? new Uint8Array(width * height)),
    candidate: () => {
      const c = state.candidate;
      if (!c) return null;
      const grid = state.planes[planeOf(c)] ?? state.planes.axial;
      return { ...maskOf(c.slice, c.labelId, c.masks[c.index]!.mask, grid.rows, grid.cols), iou: c.masks[c.index]!.iou };
    },
    overlayPixels,
    screenMaskPixels,
    hasUnsaved,
    promptPending: () => state.promptPending,
    readySlices: () => [...state.ready].sort((a, b) => a - b),
    embeddingEvents: () => state.embeddingEvents,
    displayWindow: () => ({ ...state.window }),
    plane: () => state.plane,
    cursor: () => ({ ...state.cursor }),
    planeSize: () => {
      const grid = currentGrid(state);
      return { display: [grid.displayRows, grid.displayCols], voxels: [grid.rows, grid.cols] };
    },
    planeMask: (plane, index, labelId = state.activeLabel?.id ?? 0) => {
      const grid = state.planes[plane] ?? state.planes.axial;
      const mask = readPlane(state.volume, labelId, grid, index) ?? new Uint8Array(grid.rows * grid.cols);
      return maskOf(index, labelId, mask, grid.rows, grid.cols);
    },
    annotatedSlices: () => (planes?.marks() ?? []).map((m) => ({ labelId: m.labelId, slices: [...m.slices] })),
    annotatedTitle: () => planes?.annotatedTitle() ?? "",
    readout: () => planes?.readout() ?? "",
    review: () => {
      const r = state.review;
      return {
        mode: r.mode,
        state: r.caseInfo?.assignment.state ?? null,
        layers: r.layers.map((l) => ({ username: l.username, labelId: l.labelId, visible: l.visible, pixels: countSet(l.volume.peek(l.labelId, state.slice) ?? new Uint8Array(0)) })),
        comments: r.comments.map((c) => ({ id: c.id, text: c.text, slice: c.slice_index ?? null, resolved: !!c.resolved })),
        pin: r.pin ? { ...r.pin } : null,
      };
    },
    propagation: () => {
      const r = state.propagation;
      return r
        ? { jobId: r.jobId, phase: r.phase, received: r.received, slices: r.slices, dropped: r.dropped, lateEvents: r.lateEvents, text: r.describe() }
        : null;
    },
  };
}

/** Publish the probe as `window.__delineate` (with the viewer itself, for debugging by hand). */
export function installProbe(target: object, probe: ViewerProbe, viewer: unknown): void {
  (target as { __delineate?: unknown }).__delineate = { viewer, ...probe };
}
