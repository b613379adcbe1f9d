import { describe, expect, it } from "vitest";
import { floodFill, stampDisc, strokeSegment } from "./brush";

const sum = (m: Uint8Array) => m.reduce((a, b) => a + b, 0);
const render = (m: Uint8Array, w: number) =>
  Array.from({ length: m.length / w }, (_, y) => Array.from(m.subarray(y * w, (y + 1) * w)).join("")).join("\n");

describe("brush", () => {
  it("stamps a disc of about πr² pixels centred on the cursor", () => {
    const mask = new Uint8Array(64 * 64);
    const rect = stampDisc(mask, 64, 64, 32, 32, 10, 1);
    expect(Math.abs(sum(mask) - Math.PI * 100)).toBeLessThan(12);
    expect(rect).toEqual({ x0: 22, y0: 22, x1: 42, y1: 42 });
    // symmetric about the centre
    expect(mask[32 * 64 + 22]).toBe(1);
    expect(mask[32 * 64 + 41]).toBe(1);
    expect(mask[22 * 64 + 22]).toBe(0);
  });

  it("a radius-1 stamp paints a plus-shaped cross of pixels", () => {
    const mask = new Uint8Array(25);
    stampDisc(mask, 5, 5, 2.5, 2.5, 1, 1);
    expect(render(mask, 5)).toBe(["00000", "00100", "01110", "00100", "00000"].join("\n"));
  });

  it("clips at the image border without wrapping to the next row", () => {
    const mask = new Uint8Array(10 * 10);
    stampDisc(mask, 10, 10, 0, 5, 3, 1);
    for (let y = 0; y < 10; y++) expect(mask[y * 10 + 9]).toBe(0);
    expect(stampDisc(mask, 10, 10, -20, -20, 3, 1)).toBeNull();
  });

  it("interpolates a fast stroke into a continuous band", () => {
    const mask = new Uint8Array(100 * 20);
    strokeSegment(mask, 100, 20, { x: 5, y: 10 }, { x: 95, y: 10 }, 2, 1);
    for (let x = 5; x < 95; x++) expect(mask[10 * 100 + x]).toBe(1);
    expect(mask[10 * 100 + 99]).toBe(0);
  });

  it("erases with value 0 and reports the touched rectangle", () => {
    const mask = new Uint8Array(20 * 20).fill(1);
    const rect = strokeSegment(mask, 20, 20, { x: 5, y: 5 }, { x: 15, y: 5 }, 2, 0);
    expect(mask[5 * 20 + 10]).toBe(0);
    expect(mask[15 * 20 + 10]).toBe(1);
    expect(rect!.y0).toBeGreaterThanOrEqual(2);
    expect(rect!.y1).toBeLessThanOrEqual(8);
  });

  it("flood fill fills the inside of a closed outline and not the outside", () => {
    const w = 7;
    const mask = Uint8Array.from(
      ("0000000" + "0111110" + "0100010" + "0100010" + "0111110" + "0000000").split("").map(Number),
    );
    const rect = floodFill(mask, w, 6, 3, 2, 1);
    expect(render(mask, w)).toBe(["0000000", "0111110", "0111110", "0111110", "0111110", "0000000"].join("\n"));
    expect(rect).toEqual({ x0: 2, y0: 2, x1: 5, y1: 4 });
  });

  it("flood fill is 4-connected: a diagonal gap stops it", () => {
    const mask = Uint8Array.from([0, 1, 1, 0]); // 2×2, the zeros touch only diagonally
    floodFill(mask, 2, 2, 0, 0, 1);
    expect(Array.from(mask)).toEqual([1, 1, 1, 0]);
  });

  it("flood fill on a region already of the value changes nothing", () => {
    const mask = new Uint8Array(4).fill(1);
    expect(floodFill(mask, 2, 2, 0, 0, 1)).toBeNull();
    expect(floodFill(mask, 2, 2, 5, 5, 0)).toBeNull();
  });

  it("flood fill handles a 2048×2048 region", () => {
    const mask = new Uint8Array(2048 * 2048);
    floodFill(mask, 2048, 2048, 1000, 1000, 1);
    expect(sum(mask)).toBe(2048 * 2048);
  });
});
