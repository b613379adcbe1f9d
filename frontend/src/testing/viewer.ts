/** Fixtures for the viewer parts' tests: a small series, a recording view and notifier. */

import type { LabelInfo, ProjectInfo, SeriesInfo } from "../endpoints";
import { createViewerState, type ViewerState } from "../viewer/state";
import type { Notifier, ViewerView } from "../viewer/view";

export const LIVER: LabelInfo = { id: 11, name: "Liver", value: 1, color: "#ff0000", window_preset: "soft_tissue" };
export const LUNG: LabelInfo = { id: 12, name: "Lung", value: 2, color: "#00ff00", window_preset: "lung" };
export const TUMOUR: LabelInfo = { id: 13, name: "Tumour", value: 3, color: "#0000ff", window_preset: "soft_tissue" };

export function project(labels: LabelInfo[] = [LIVER, LUNG, TUMOUR]): ProjectInfo {
  return { id: 1, name: "Livers", description: "", settings: {}, labels, role: "annotator", created_at: "" };
}

/** A CT series of `depth` slices of 8 × 10 pixels (rows × columns). */
export function series(depth = 5, extra: Partial<SeriesInfo> = {}): SeriesInfo {
  return { id: 7, kind: "volume", modality: "CT", shape: [depth, 8, 10], dtype: "int16", window_presets: [], default_window: "soft_tissue", ...extra };
}

/**
 * The planes of that series if its 5 slices were 2 mm thick with 1 mm pixels: coronal slices (one per row
 * y, 8 of them) are 5 × 10 voxels shown as 10 × 10 pixels, sagittal ones (one per column x, 10) 5 × 8
 * voxels shown as 10 × 8 (what annotator/api/studies.py sends as `planes`).
 */
export const PLANES_2MM: NonNullable<SeriesInfo["planes"]> = {
  axial: { depth: 5, rows: 8, cols: 10, display_rows: 8, display_cols: 10, pixel_mm: [1, 1] },
  coronal: { depth: 8, rows: 5, cols: 10, display_rows: 10, display_cols: 10, pixel_mm: [1, 1] },
  sagittal: { depth: 10, rows: 5, cols: 8, display_rows: 10, display_cols: 8, pixel_mm: [1, 1] },
};

export interface StateOptions {
  depth?: number;
  labels?: LabelInfo[];
  role?: string | null;
  series?: Partial<SeriesInfo>;
}

/** A viewer state on a 5-slice 8 × 10 CT as "anna", on slice 2. */
export function viewerState({ depth = 5, labels, role = "annotator", series: extra }: StateOptions = {}): ViewerState {
  const state = createViewerState({ project: project(labels), series: series(depth, extra), username: "anna", role });
  state.slice = Math.floor(depth / 2);
  // A screen of 100 × 80 CSS pixels showing the 10 × 8 image at scale 10: screen = 10 × image.
  state.viewport.resize({ width: 100, height: 80 });
  state.viewport.fit();
  return state;
}

/** A view that records which method was called with what, in order. */
export function recordingView(): ViewerView & { calls: string[]; masks: unknown[]; hints: string[] } {
  const calls: string[] = [];
  const masks: unknown[] = [];
  const hints: string[] = [];
  const note = (name: string) => () => void calls.push(name);
  return {
    calls,
    masks,
    hints,
    image: note("image"),
    mask: (rect) => {
      calls.push("mask");
      masks.push(rect ?? null);
    },
    redraw: note("redraw"),
    candidates: note("candidates"),
    job: note("job"),
    labels: note("labels"),
    presence: note("presence"),
    slices: note("slices"),
    windowPresets: note("windowPresets"),
    windowReadout: note("windowReadout"),
    historyButtons: note("historyButtons"),
    tool: note("tool"),
    brush: note("brush"),
    help: note("help"),
    hint: (text) => {
      calls.push("hint");
      hints.push(text);
    },
    saveState: note("saveState"),
    connection: note("connection"),
    plane: note("plane"),
    crosshair: note("crosshair"),
    readout: note("readout"),
  };
}

export interface Shown {
  message: string;
  tone: string | undefined;
  actions: { label: string; run: () => void }[];
}

/** A notifier that keeps what it was asked to show; errors are kept as "context: message". */
export function recordingNotifier(): Notifier & { shown: Shown[]; errors: string[] } {
  const shown: Shown[] = [];
  const errors: string[] = [];
  return {
    shown,
    errors,
    show: (message, tone, _ms, actions = []) => {
      shown.push({ message, tone, actions });
      return () => {};
    },
    error: (error, context) => void errors.push(`${context ?? ""}: ${error instanceof Error ? error.message : String(error)}`),
  };
}

/** A binary mask of `height × width` with the listed (x, y) pixels set. */
export function maskWith(pixels: [number, number][], height = 8, width = 10): Uint8Array {
  const mask = new Uint8Array(height * width);
  for (const [x, y] of pixels) mask[y * width + x] = 1;
  return mask;
}

export function countOn(mask: Uint8Array | undefined): number {
  return mask ? mask.reduce((n, v) => n + (v ? 1 : 0), 0) : 0;
}
