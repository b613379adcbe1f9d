import { describe, expect, it } from "vitest";
import { MAX_SCALE, Viewport, wheelZoomFactor } from "./viewport";

describe("viewport", () => {
  it("fits a 512² slice into an 800×600 screen, centred", () => {
    const v = new Viewport({ width: 512, height: 512 }, { width: 800, height: 600 });
    expect(v.scale).toBeCloseTo(600 / 512);
    expect(v.toScreen(0, 0)).toEqual([100, 0]);
    expect(v.toScreen(512, 512)).toEqual([700, 600]);
  });

  it("fits a 2048² image by shrinking it", () => {
    const v = new Viewport({ width: 2048, height: 2048 }, { width: 1024, height: 768 });
    expect(v.scale).toBeCloseTo(0.375);
    const [ix, iy] = v.toImage(512, 384);
    expect(ix).toBeCloseTo(1024);
    expect(iy).toBeCloseTo(1024);
  });

  it("converts screen to image and back", () => {
    const v = new Viewport({ width: 100, height: 50 }, { width: 300, height: 300 });
    v.zoomAt(17, 40, 2.5);
    v.panBy(-30, 12);
    const [ix, iy] = v.toImage(123, 77);
    const [sx, sy] = v.toScreen(ix, iy);
    expect(sx).toBeCloseTo(123);
    expect(sy).toBeCloseTo(77);
  });

  it("zooms about the cursor: the image point under it stays put", () => {
    const v = new Viewport({ width: 512, height: 512 }, { width: 512, height: 512 });
    const before = v.toImage(100, 200);
    v.zoomAt(100, 200, 3);
    expect(v.scale).toBeCloseTo(3);
    const after = v.toImage(100, 200);
    expect(after[0]).toBeCloseTo(before[0]);
    expect(after[1]).toBeCloseTo(before[1]);
  });

  it("never zooms past its limits", () => {
    const v = new Viewport({ width: 10, height: 10 }, { width: 10, height: 10 });
    for (let i = 0; i < 50; i++) v.zoomAt(0, 0, 2);
    expect(v.scale).toBe(MAX_SCALE);
  });

  it("gives a canvas matrix scaled by the device pixel ratio", () => {
    const v = new Viewport({ width: 100, height: 100 }, { width: 200, height: 100 });
    expect(v.matrix(2)).toEqual([2, 0, 0, 2, 100, 0]);
  });

  it("keeps the centred image point when the screen resizes", () => {
    const v = new Viewport({ width: 100, height: 100 }, { width: 200, height: 200 });
    v.zoomAt(50, 50, 2);
    const centre = v.toImage(100, 100);
    v.resize({ width: 400, height: 300 });
    const after = v.toImage(200, 150);
    expect(after[0]).toBeCloseTo(centre[0]);
    expect(after[1]).toBeCloseTo(centre[1]);
  });

  it("zooms in when the wheel turns away (negative delta)", () => {
    expect(wheelZoomFactor(-100)).toBeGreaterThan(1);
    expect(wheelZoomFactor(100)).toBeLessThan(1);
  });
});
