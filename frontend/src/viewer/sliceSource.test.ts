import { describe, expect, it } from "vitest";
import { LruCache, parseRawSlice, rgbToRgba, SliceSource } from "./sliceSource";

describe("sliceSource", () => {
  it("reads little-endian int16 intensities of the right size", () => {
    const bytes = new Uint8Array([0x18, 0xfc, 0x28, 0x00]); // -1000, 40
    const slice = parseRawSlice(bytes.buffer, "int16", 1, 2);
    expect(Array.from(slice.values)).toEqual([-1000, 40]);
  });

  it("refuses a payload of the wrong length with a readable reason", () => {
    expect(() => parseRawSlice(new ArrayBuffer(6), "int16", 2, 2)).toThrow(/6 bytes; a 2×2 int16 slice needs 8/);
    expect(() => parseRawSlice(new ArrayBuffer(4), "complex64", 1, 1)).toThrow(/cannot be shown/);
  });

  it("expands RGB to opaque RGBA", () => {
    expect(Array.from(rgbToRgba(Uint8Array.from([1, 2, 3, 4, 5, 6]), new Uint8ClampedArray(8)))).toEqual([1, 2, 3, 255, 4, 5, 6, 255]);
  });

  it("evicts the least recently used slice", () => {
    const cache = new LruCache<number, string>(2);
    cache.set(1, "a");
    cache.set(2, "b");
    cache.get(1);
    cache.set(3, "c");
    expect(cache.has(2)).toBe(false);
    expect(cache.has(1)).toBe(true);
  });

  it("loads a slice once even when asked twice at the same time, and serves it from cache after", async () => {
    const loads: number[] = [];
    const source = new SliceSource({
      load: async (i) => {
        loads.push(i);
        return { buffer: new Float32Array([i]).buffer, dtype: "float32" };
      },
      dtype: "int16",
      height: 1,
      width: 1,
      channels: 1,
    });
    const [a, b] = await Promise.all([source.get(5), source.get(5)]);
    expect(a).toBe(b);
    await source.get(5);
    expect(loads).toEqual([5]);
    expect(Array.from(a.values)).toEqual([5]);
  });
});
