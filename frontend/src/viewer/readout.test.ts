import { describe, expect, it } from "vitest";
import { PLANES_2MM, viewerState } from "../testing/viewer";
import { Readout, readoutText, valueAt, voxelToMm } from "./readout";
import type { RawSlice } from "./sliceSource";

/** A CT of 5 slices of 2 mm (8 × 10 pixels of 0.5 mm) whose voxel (x, y, z) holds 1000 z + 10 y + x HU. */
function ct() {
  const affine = [
    [0.5, 0, 0, -100],
    [0, 0.5, 0, -50],
    [0, 0, 2, 300],
    [0, 0, 0, 1],
  ];
  const state = viewerState({ series: { planes: PLANES_2MM, affine } });
  const hu = (x: number, y: number, z: number) => 1000 * z + 10 * y + x;
  const axial = (z: number): RawSlice => ({ index: z, width: 10, height: 8, channels: 1, values: Int16Array.from({ length: 80 }, (_, i) => hu(i % 10, Math.floor(i / 10), z)) });
  // A coronal slice y on the voxel grid: rows from the top slice (z 4) down, columns x.
  const coronal = (y: number): RawSlice => ({ index: y, width: 10, height: 5, channels: 1, values: Int16Array.from({ length: 50 }, (_, i) => hu(i % 10, y, 4 - Math.floor(i / 10))) });
  const asked: string[] = [];
  const cached = new Map<string, RawSlice>();
  const readout = new Readout({
    state,
    current: () => axial(state.slice),
    voxelPlane: (plane, index) => {
      asked.push(`${plane} ${index}`);
      return cached.get(`${plane} ${index}`);
    },
  });
  return { state, readout, asked, cached, coronal };
}

describe("the hover readout", () => {
  it("names the voxel, its place in the patient and its Hounsfield units on an axial slice", () => {
    const { state, readout } = ct();
    state.slice = 3;
    state.pointer = { x: 7.6, y: 2.2 };
    expect(readout.voxel()).toEqual({ x: 7, y: 2, z: 3 });
    expect(readout.text()).toBe("x 7 y 2 z 3 · (-96.5, -49.0, 306.0) mm · 3027 HU");
    state.pointer = { x: -1, y: 2 };
    expect(readout.text()).toBe("");
  });

  it("reads a coronal voxel's stored value from that plane on the voxel grid, fetched once", () => {
    const { state, readout, asked, cached, coronal } = ct();
    state.plane = "coronal";
    state.slice = 6;
    state.viewport.image = { width: 10, height: 10 };
    state.pointer = { x: 3.5, y: 2.5 }; // display row 2 is voxel row 1: slice z 3
    expect(readout.text()).toBe("x 3 y 6 z 3 · (-98.5, -47.0, 306.0) mm · …");
    cached.set("coronal 6", coronal(6));
    expect(readout.text()).toBe("x 3 y 6 z 3 · (-98.5, -47.0, 306.0) mm · 3063 HU");
    expect(asked).toEqual(["coronal 6", "coronal 6"]);
  });

  it("says raw values for other modalities, R G B for colour, and leaves out millimetres without an affine", () => {
    expect(readoutText({ x: 1, y: 2, z: 0 }, null, [412.5], "MR")).toBe("x 1 y 2 z 0 · 412.50");
    expect(readoutText({ x: 1, y: 2, z: 0 }, null, [1, 2, 3], "XC")).toBe("x 1 y 2 z 0 · RGB 1 2 3");
    expect(voxelToMm(undefined, { x: 1, y: 1, z: 1 })).toBeNull();
    const rgb: RawSlice = { index: 0, width: 2, height: 1, channels: 3, values: Uint8Array.from([1, 2, 3, 4, 5, 6]) };
    expect(valueAt(rgb, 0, 1)).toEqual([4, 5, 6]);
  });
});
