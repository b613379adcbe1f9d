/**
 * Raw slice intensities from the server, kept in a small LRU cache so scrolling back is instant and window
 * dragging never refetches. The bytes are little-endian, C order (annotator/imaging/render.py raw_bytes).
 */

import type { Intensities } from "./windowing";

export interface RawSlice {
  index: number;
  width: number;
  height: number;
  /** 1 for grey intensities, 3 for RGB images (then `values` is interleaved uint8). */
  channels: 1 | 3;
  values: Intensities;
}

const DTYPES: Record<string, { bytes: number; make: (b: ArrayBuffer) => Intensities }> = {
  uint8: { bytes: 1, make: (b) => new Uint8Array(b) },
  int16: { bytes: 2, make: (b) => new Int16Array(b) },
  uint16: { bytes: 2, make: (b) => new Uint16Array(b) },
  int32: { bytes: 4, make: (b) => new Int32Array(b) },
  float32: { bytes: 4, make: (b) => new Float32Array(b) },
};

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function parseRawSlice(
  buffer: ArrayBuffer,
  dtype: string,
  height: number,
  width: number,
  channels: 1 | 3 = 1,
  index = 0,
): RawSlice {
  const type = DTYPES[dtype];
  if (!type) throw new Error(`Slices of type ${dtype} cannot be shown.`);
  const expected = height * width * channels * type.bytes;
  if (buffer.byteLength !== expected) {
    throw new Error(`The slice has ${buffer.byteLength} bytes; a ${width}×${height} ${dtype} slice needs ${expected}.`);
  }
  if (!littleEndianHost && type.bytes > 1) {
    const view = new DataView(buffer);
    const out = type.make(new ArrayBuffer(expected));
    for (let i = 0; i < out.length; i++) {
      const o = i * type.bytes;
      out[i] =
        dtype === "int16" ? view.getInt16(o, true)
        : dtype === "uint16" ? view.getUint16(o, true)
        : dtype === "int32" ? view.getInt32(o, true)
        : view.getFloat32(o, true);
    }
    return { index, width, height, channels, values: out };
  }
  return { index, width, height, channels, values: type.make(buffer) };
}

/** RGB(A) pixels of an interleaved uint8 RGB slice. */
export function rgbToRgba(values: Uint8Array, out: Uint8ClampedArray): Uint8ClampedArray {
  for (let i = 0, o = 0; i < values.length; i += 3, o += 4) {
    out[o] = values[i]!;
    out[o + 1] = values[i + 1]!;
    out[o + 2] = values[i + 2]!;
    out[o + 3] = 255;
  }
  return out;
}

export class LruCache<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly capacity: number) {}
  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }
  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }
  has(key: K): boolean {
    return this.map.has(key);
  }
  get size(): number {
    return this.map.size;
  }
}

export interface SliceSourceOptions {
  load: (index: number) => Promise<{ buffer: ArrayBuffer; dtype?: string | null }>;
  dtype: string;
  height: number;
  width: number;
  channels: 1 | 3;
  /** 48 slices of 512² int16 = 24 MB; a 2048² image is one slice anyway. */
  capacity?: number;
}

export class SliceSource {
  private readonly cache: LruCache<number, RawSlice>;
  private readonly inflight = new Map<number, Promise<RawSlice>>();

  constructor(private readonly options: SliceSourceOptions) {
    this.cache = new LruCache(options.capacity ?? 48);
  }

  cached(index: number): RawSlice | undefined {
    return this.cache.get(index);
  }

  get(index: number): Promise<RawSlice> {
    const hit = this.cache.get(index);
    if (hit) return Promise.resolve(hit);
    let pending = this.inflight.get(index);
    if (!pending) {
      const { height, width, channels } = this.options;
      pending = this.options
        .load(index)
        .then(({ buffer, dtype }) => {
          const slice = parseRawSlice(buffer, dtype || this.options.dtype, height, width, channels, index);
          this.cache.set(index, slice);
          return slice;
        })
        .finally(() => this.inflight.delete(index));
      this.inflight.set(index, pending);
    }
    return pending;
  }

  /** Fetch neighbours in the background so scrolling does not wait. */
  prefetch(indices: number[]): void {
    for (const i of indices) if (!this.cache.has(i) && !this.inflight.has(i)) this.get(i).catch(() => {});
  }
}
