import { describe, expect, it } from "vitest";
import { countOpaque, countSet, imageToClient } from "./probe";
import { Viewport } from "./viewport";

describe("probe", () => {
  it("maps an image point to client coordinates through the viewport and the canvas position", () => {
    const viewport = new Viewport({ width: 512, height: 512 }, { width: 1024, height: 768 });
    // fit: scale 1.5, image centred horizontally (offset (1024 - 768) / 2 = 128)
    expect(imageToClient(viewport, { left: 10, top: 50 }, 0, 0)).toEqual([138, 50]);
    expect(imageToClient(viewport, { left: 10, top: 50 }, 512, 512)).toEqual([10 + 128 + 768, 50 + 768]);
    viewport.zoomAt(0, 0, 2);
    const [x, y] = imageToClient(viewport, { left: 0, top: 0 }, 100, 20);
    expect(viewport.toImage(x, y)).toEqual([100, 20]);
  });

  it("counts the painted pixels of an overlay and the set pixels of a mask", () => {
    const rgba = new Uint8ClampedArray([255, 0, 0, 128, 9, 9, 9, 0, 0, 0, 0, 1]);
    expect(countOpaque(rgba)).toBe(2);
    expect(countSet(new Uint8Array([0, 1, 1, 0, 1]))).toBe(3);
  });
});
