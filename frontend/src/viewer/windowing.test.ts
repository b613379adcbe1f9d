import { describe, expect, it } from "vitest";
import { applyWindow, CT_PRESETS, describeWindow, dragWindow, percentileWindow, quantile } from "./windowing";

const grey = (rgba: Uint8ClampedArray) => Array.from({ length: rgba.length / 4 }, (_, i) => rgba[i * 4]!);

describe("windowing", () => {
  it("has the CT presets the product names", () => {
    const byKey = Object.fromEntries(CT_PRESETS.map((p) => [p.key, [p.level, p.width]]));
    expect(byKey).toEqual({
      soft_tissue: [40, 400],
      lung: [-600, 1500],
      bone: [400, 1800],
      brain: [40, 80],
    });
  });

  it("maps the soft tissue window of Hounsfield units to grey levels", () => {
    // lower bound -160, upper 240: air black, fat darkish, liver mid grey, bone white
    const hu = Int16Array.from([-1000, -160, -100, 40, 60, 240, 1000]);
    const rgba = applyWindow(hu, { level: 40, width: 400 });
    expect(grey(rgba)).toEqual([0, 0, 38, 128, 140, 255, 255]);
  });

  it("writes opaque grey pixels (r = g = b, alpha 255)", () => {
    const rgba = applyWindow(Float32Array.from([0.25, 0.75]), { level: 0.5, width: 1 });
    expect(Array.from(rgba)).toEqual([64, 64, 64, 255, 191, 191, 191, 255]);
  });

  it("narrows contrast as the width grows", () => {
    const values = Int16Array.from([100]);
    const narrow = grey(applyWindow(values, { level: 40, width: 200 }))[0]!;
    const wide = grey(applyWindow(values, { level: 40, width: 2000 }))[0]!;
    expect(narrow).toBeGreaterThan(wide);
    expect(wide).toBeGreaterThan(128);
  });

  it("refuses an output buffer of the wrong size", () => {
    expect(() => applyWindow(Int16Array.from([1, 2]), { level: 0, width: 1 }, new Uint8ClampedArray(4))).toThrow(
      RangeError,
    );
  });

  it("interpolates quantiles like numpy", () => {
    // np.percentile([1, 2, 3, 4], 25) == 1.75
    expect(quantile([1, 2, 3, 4], 25)).toBeCloseTo(1.75);
    expect(quantile([5], 99.5)).toBe(5);
  });

  it("takes the MR window from the 0.5-99.5 percentiles of the non-zero intensities", () => {
    // background zeros must not pull the window down; one hot outlier must not stretch it
    const values = new Float32Array(1000);
    for (let i = 0; i < 800; i++) values[200 + i] = 100 + (i % 200);
    values[999] = 50_000;
    const win = percentileWindow(values);
    const lo = win.level - win.width / 2;
    const hi = win.level + win.width / 2;
    expect(lo).toBeGreaterThanOrEqual(100);
    expect(lo).toBeLessThan(102);
    expect(hi).toBeGreaterThan(297);
    expect(hi).toBeLessThanOrEqual(300);
  });

  it("gives a usable window for an all-zero slice", () => {
    expect(percentileWindow(new Int16Array(16)).width).toBeGreaterThan(0);
  });

  it("changes width horizontally and level vertically when right-dragging, never below width 1", () => {
    expect(dragWindow({ level: 40, width: 400 }, 10, -20, 2)).toEqual({ level: 0, width: 420 });
    expect(dragWindow({ level: 40, width: 400 }, -1000, 0, 2).width).toBe(1);
  });

  it("describes the window the panel shows while right-dragging", () => {
    expect(describeWindow({ level: -600.4, width: 1500.6 })).toBe("L -600 · W 1501 (right-drag)");
  });
});
