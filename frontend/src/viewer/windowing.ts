/**
 * Display windowing, done in the browser on the slice's raw intensities so that dragging the window never
 * costs a server round trip (PRODUCT.md, feature 5). The display window is free; the model's input window
 * is a separate, per-label preset chosen on the server.
 */

export type Intensities = Int16Array | Uint16Array | Float32Array | Uint8Array | Int32Array;

export interface DisplayWindow {
  level: number;
  width: number;
}

export interface Preset extends DisplayWindow {
  key: string;
  name: string;
}

/** CT presets in Hounsfield units; soft tissue 40/400 is MedSAM's default CT window. */
export const CT_PRESETS: readonly Preset[] = [
  { key: "soft_tissue", name: "Soft tissue", level: 40, width: 400 },
  { key: "lung", name: "Lung", level: -600, width: 1500 },
  { key: "bone", name: "Bone", level: 400, width: 1800 },
  { key: "brain", name: "Brain", level: 40, width: 80 },
];

export const MIN_WIDTH = 1;

/**
 * Map intensities to grey RGBA (alpha 255) into `out` (length 4 * values.length), a buffer the caller wraps
 * in an ImageData. Values at or below level − width/2 are black, at or above level + width/2 white, linear
 * in between.
 */
export function applyWindow(
  values: Intensities,
  window: DisplayWindow,
  out: Uint8ClampedArray = new Uint8ClampedArray(values.length * 4),
): Uint8ClampedArray {
  if (out.length !== values.length * 4) {
    throw new RangeError(`output holds ${out.length / 4} pixels, the slice has ${values.length}`);
  }
  const width = Math.max(MIN_WIDTH, window.width);
  const lower = window.level - width / 2;
  // A 32-bit view writes one pixel per store: about 4× faster than four byte stores on a 2048² slice.
  const pixels = new Uint32Array(out.buffer, out.byteOffset, values.length);
  const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  const lut = new Uint32Array(256);
  for (let g = 0; g < 256; g++) {
    lut[g] = littleEndian ? (0xff000000 | (g << 16) | (g << 8) | g) >>> 0 : ((g << 24) | (g << 16) | (g << 8) | 0xff) >>> 0;
  }
  for (let i = 0; i < values.length; i++) {
    let g = ((values[i]! - lower) * 255) / width;
    g = g <= 0 ? 0 : g >= 255 ? 255 : Math.round(g);
    pixels[i] = lut[g]!;
  }
  return out;
}

/** The value below which `q` (0–100) percent of `sorted` lies, interpolated linearly (numpy's default). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0;
  const pos = ((sorted.length - 1) * q) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * The MR (and any non-CT) window: from the `low` to the `high` percentile of the non-zero intensities, as
 * MedSAM preprocesses (0.5–99.5 of non-zero voxels). Large slices are subsampled with a fixed stride to at
 * most `maxSamples` values so a 2048² slice is windowed without sorting four million numbers.
 */
export function percentileWindow(
  values: Intensities,
  low = 0.5,
  high = 99.5,
  maxSamples = 1 << 18,
): DisplayWindow {
  const stride = Math.max(1, Math.floor(values.length / maxSamples));
  const sample: number[] = [];
  for (let i = 0; i < values.length; i += stride) {
    const v = values[i]!;
    if (v !== 0 && Number.isFinite(v)) sample.push(v);
  }
  if (sample.length === 0) return { level: 0, width: MIN_WIDTH };
  const sorted = Float64Array.from(sample).sort();
  const lo = quantile(sorted, low);
  const hi = quantile(sorted, high);
  const width = Math.max(MIN_WIDTH, hi - lo);
  return { level: lo + (hi - lo) / 2, width };
}

/**
 * Right-drag window/level: horizontal motion changes the width, vertical the level (down = brighter
 * structures darker, as in most DICOM viewers). `sensitivity` is intensity units per screen pixel.
 */
export function dragWindow(start: DisplayWindow, dx: number, dy: number, sensitivity: number): DisplayWindow {
  return {
    level: start.level + dy * sensitivity,
    width: Math.max(MIN_WIDTH, start.width + dx * sensitivity),
  };
}

/** A drag sensitivity that spans the slice's intensity range in about 500 screen pixels. */
export function dragSensitivity(range: { min: number; max: number }): number {
  return Math.max((range.max - range.min) / 500, 0.01);
}

export function intensityRange(values: Intensities): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min === Infinity ? { min: 0, max: 0 } : { min, max };
}

/** The window as the side panel shows it while and after right-dragging. */
export function describeWindow(window: DisplayWindow): string {
  return `L ${Math.round(window.level)} · W ${Math.round(window.width)} (right-drag)`;
}

/** The preset the window matches, if any (for highlighting the preset button). */
export function matchingPreset(window: DisplayWindow, presets: readonly Preset[] = CT_PRESETS): Preset | undefined {
  return presets.find((p) => p.level === window.level && p.width === window.width);
}
