import { describe, expect, it } from "vitest";
import { composite, MaskVolume, parseColor, unionRect } from "./maskLayer";

describe("maskLayer", () => {
  it("parses label colours", () => {
    expect(parseColor("#ff8800")).toEqual([255, 136, 0]);
    expect(() => parseColor("red")).toThrow();
  });

  it("creates slice masks lazily and keeps labels apart", () => {
    const volume = new MaskVolume(3, 2, 2);
    expect(volume.peek(1, 0)).toBeUndefined();
    volume.get(1, 0)[3] = 1;
    expect(Array.from(volume.get(2, 0))).toEqual([0, 0, 0, 0]);
    expect(volume.nonEmptySlices(1)).toEqual([0]);
    expect(volume.nonEmptySlices(2)).toEqual([]);
    expect(() => volume.get(1, 3)).toThrow(RangeError);
  });

  it("composites labels with their colours and the opacity, later labels on top", () => {
    const liver = Uint8Array.from([1, 1, 0, 0]);
    const tumour = Uint8Array.from([0, 1, 1, 0]);
    const out = new Uint8ClampedArray(16).fill(7);
    composite(
      [
        { mask: liver, color: [255, 0, 0] },
        { mask: tumour, color: [0, 255, 0] },
      ],
      0.5,
      out,
      2,
    );
    expect(Array.from(out)).toEqual([255, 0, 0, 128, 0, 255, 0, 128, 0, 255, 0, 128, 7, 7, 7, 0]);
  });

  it("only touches the dirty rectangle", () => {
    const mask = new Uint8Array(9).fill(1);
    const out = new Uint8ClampedArray(36);
    composite([{ mask, color: [1, 2, 3] }], 1, out, 3, { x0: 1, y0: 1, x1: 2, y1: 2 });
    const alphas = Array.from({ length: 9 }, (_, i) => out[i * 4 + 3]);
    expect(alphas).toEqual([0, 0, 0, 0, 255, 0, 0, 0, 0]);
  });

  it("draws a candidate layer fainter than accepted ones", () => {
    const out = new Uint8ClampedArray(4);
    composite([{ mask: Uint8Array.from([1]), color: [0, 0, 255], alpha: 0.5 }], 0.8, out, 1);
    expect(out[3]).toBe(102);
  });

  it("unions dirty rectangles", () => {
    expect(unionRect({ x0: 0, y0: 5, x1: 2, y1: 6 }, { x0: 1, y0: 1, x1: 4, y1: 3 })).toEqual({
      x0: 0,
      y0: 1,
      x1: 4,
      y1: 6,
    });
    expect(unionRect(null, null)).toBeNull();
  });
});
