/**
 * Label maps in the browser: one binary Uint8Array (0/1, row-major) per (label, slice), created lazily so a
 * 200-slice series costs memory only for the slices someone has drawn on. Compositing turns the visible
 * labels of a slice into an RGBA overlay with the labels' colours.
 */

export type Rgb = readonly [number, number, number];

export interface Rect {
  x0: number;
  y0: number;
  /** exclusive */
  x1: number;
  /** exclusive */
  y1: number;
}

export function parseColor(hex: string): Rgb {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex.trim());
  if (!m) throw new Error(`not a colour: ${hex}`);
  const n = parseInt(m[1]!, 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

export function fullRect(width: number, height: number): Rect {
  return { x0: 0, y0: 0, x1: width, y1: height };
}

export function unionRect(a: Rect | null, b: Rect | null): Rect | null {
  if (!a) return b;
  if (!b) return a;
  return { x0: Math.min(a.x0, b.x0), y0: Math.min(a.y0, b.y0), x1: Math.max(a.x1, b.x1), y1: Math.max(a.y1, b.y1) };
}

export function isEmpty(mask: Uint8Array): boolean {
  for (let i = 0; i < mask.length; i++) if (mask[i]) return false;
  return true;
}

export class MaskVolume {
  private readonly masks = new Map<number, Map<number, Uint8Array>>();

  constructor(
    readonly depth: number,
    readonly height: number,
    readonly width: number,
  ) {}

  get pixels(): number {
    return this.height * this.width;
  }

  /** The label's mask on a slice, created empty on first use. */
  get(labelId: number, slice: number): Uint8Array {
    this.checkSlice(slice);
    let bySlice = this.masks.get(labelId);
    if (!bySlice) this.masks.set(labelId, (bySlice = new Map()));
    let mask = bySlice.get(slice);
    if (!mask) bySlice.set(slice, (mask = new Uint8Array(this.pixels)));
    return mask;
  }

  /** The mask if it was ever created, without creating it. */
  peek(labelId: number, slice: number): Uint8Array | undefined {
    return this.masks.get(labelId)?.get(slice);
  }

  set(labelId: number, slice: number, mask: Uint8Array): void {
    if (mask.length !== this.pixels) throw new RangeError(`mask has ${mask.length} pixels, expected ${this.pixels}`);
    this.get(labelId, slice).set(mask);
  }

  clear(labelId: number, slice: number): void {
    this.peek(labelId, slice)?.fill(0);
  }

  /** Slices of the label that hold at least one foreground pixel. */
  nonEmptySlices(labelId: number): number[] {
    const bySlice = this.masks.get(labelId);
    if (!bySlice) return [];
    return [...bySlice.entries()].filter(([, m]) => !isEmpty(m)).map(([z]) => z).sort((a, b) => a - b);
  }

  private checkSlice(slice: number): void {
    if (!Number.isInteger(slice) || slice < 0 || slice >= this.depth) {
      throw new RangeError(`slice ${slice} is outside 0–${this.depth - 1}`);
    }
  }
}

export interface OverlayLayer {
  mask: Uint8Array;
  color: Rgb;
  /** multiplies the global opacity; a model candidate not yet accepted is drawn fainter. */
  alpha?: number;
}

/**
 * Paint `layers` (later ones on top) into the RGBA buffer `out` of an image `width` pixels wide, within
 * `rect` (the whole image by default). Pixels no layer covers become fully transparent, so the buffer can be
 * put on a canvas stacked over the image canvas.
 */
export function composite(
  layers: readonly OverlayLayer[],
  opacity: number,
  out: Uint8ClampedArray,
  width: number,
  rect?: Rect,
): void {
  const height = out.length / 4 / width;
  const r = rect ?? fullRect(width, height);
  const base = Math.max(0, Math.min(1, opacity)) * 255;
  const alphas = layers.map((l) => Math.round(base * (l.alpha ?? 1)));
  for (let y = r.y0; y < r.y1; y++) {
    for (let x = r.x0; x < r.x1; x++) {
      const i = y * width + x;
      const o = i * 4;
      out[o + 3] = 0;
      for (let k = layers.length - 1; k >= 0; k--) {
        const layer = layers[k]!;
        if (layer.mask[i]) {
          out[o] = layer.color[0];
          out[o + 1] = layer.color[1];
          out[o + 2] = layer.color[2];
          out[o + 3] = alphas[k]!;
          break;
        }
      }
    }
  }
}
