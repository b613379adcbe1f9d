import { describe, expect, it } from "vitest";
import { PLANES_2MM } from "../testing/viewer";
import { MaskVolume } from "./maskLayer";
import {
  crosshairAt,
  displayToCell,
  indexOf,
  nearestCells,
  planeChanges,
  planeGrids,
  planeToVoxel,
  readPlane,
  toDisplay,
  voxelToPlane,
  withIndex,
  writePlane,
  type Plane,
} from "./planes";
import { fitIn, otherPlanes } from "./planeViews";

// A 5-slice volume of 8 rows × 10 columns whose slices are 2 mm thick with 1 mm pixels (PLANES_2MM).
const grids = planeGrids(PLANES_2MM, { depth: 5, height: 8, width: 10 });

describe("the planes of a series", () => {
  it("come from the server's list, the axial one always, the others only for a volume that has them", () => {
    expect(grids.coronal).toEqual({ plane: "coronal", depth: 8, rows: 5, cols: 10, displayRows: 10, displayCols: 10 });
    expect(grids.sagittal).toMatchObject({ depth: 10, rows: 5, cols: 8, displayRows: 10, displayCols: 8 });
    const image = planeGrids(undefined, { depth: 1, height: 4, width: 6 });
    expect(Object.keys(image)).toEqual(["axial"]);
    expect(image.axial).toEqual({ plane: "axial", depth: 1, rows: 4, cols: 6, displayRows: 4, displayCols: 6 });
  });

  it("show each display pixel the voxel holding its centre, as the server does (floor((2r + 1) n / 2N))", () => {
    // 48 slices of 5 mm on 421 rows of 0.57 mm (the lung CT): about 8.8 rows a slice.
    const rows = nearestCells(48, 421);
    expect(rows[0]).toBe(0);
    expect(rows[420]).toBe(47);
    expect([...rows].filter((z) => z === 0)).toHaveLength(9);
    expect([...nearestCells(5, 10)]).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
  });

  it("put the top slice at the top of coronal and sagittal slices, anterior on the left of sagittal ones", () => {
    const voxel = { x: 7, y: 2, z: 4 };
    expect(voxelToPlane("axial", 5, voxel)).toEqual({ index: 4, row: 2, col: 7 });
    expect(voxelToPlane("coronal", 5, voxel)).toEqual({ index: 2, row: 0, col: 7 });
    expect(voxelToPlane("sagittal", 5, voxel)).toEqual({ index: 7, row: 0, col: 2 });
    for (const plane of ["axial", "coronal", "sagittal"] as Plane[]) {
      const { index, row, col } = voxelToPlane(plane, 5, voxel);
      expect(planeToVoxel(plane, 5, index, row, col)).toEqual(voxel);
      expect(indexOf(plane, voxel)).toBe(index);
    }
    expect(withIndex("coronal", voxel, 6)).toEqual({ x: 7, y: 6, z: 4 });
  });

  it("find the voxel under a display point and draw the crosshair through the centre of the cursor's voxel", () => {
    // Coronal display pixels are 1 mm; a voxel row is 2 mm: display rows 2 and 3 are voxel row 1.
    expect(displayToCell(grids.coronal!, 4.5, 3.9)).toEqual({ col: 4, row: 1 });
    expect(displayToCell(grids.coronal!, -3, 99)).toEqual({ col: 0, row: 4 });
    expect(crosshairAt(grids.coronal!, 5, { x: 4, y: 2, z: 3 })).toEqual({ x: 4.5, y: 3 });
  });
});

describe("masks on a plane", () => {
  it("read a coronal plane from the axial masks and write it back, as changes of those axial slices", () => {
    const volume = new MaskVolume(5, 8, 10);
    volume.get(1, 4)[2 * 10 + 3] = 1; // top slice, row y = 2, column x = 3
    volume.get(1, 0)[2 * 10 + 9] = 1; // bottom slice
    const coronal = grids.coronal!;
    const plane = readPlane(volume, 1, coronal, 2)!;
    expect(plane.length).toBe(50);
    expect([...plane.keys()].filter((i) => plane[i])).toEqual([0 * 10 + 3, 4 * 10 + 9]);
    expect(readPlane(volume, 1, coronal, 3)?.some((v) => v)).toBe(false);
    expect(readPlane(volume, 2, coronal, 2)).toBeUndefined(); // a label never drawn
    const before = plane.slice();
    plane[1 * 10 + 5] = 1; // slice z = 3, x = 5
    plane[4 * 10 + 9] = 0; // erase the bottom one
    writePlane(volume, 1, coronal, 2, plane);
    expect(volume.get(1, 3)[2 * 10 + 5]).toBe(1);
    expect(volume.get(1, 0)[2 * 10 + 9]).toBe(0);
    const changes = planeChanges(1, coronal, 2, 10, 5, before, plane);
    expect(changes.map((c) => [c.slice, [...c.flipped]])).toEqual([
      [0, [29]],
      [3, [25]],
    ]);
  });

  it("write only the rectangle asked for, and a sagittal plane by columns x", () => {
    const volume = new MaskVolume(5, 8, 10);
    const sagittal = grids.sagittal!;
    const mask = new Uint8Array(5 * 8).fill(1);
    writePlane(volume, 1, sagittal, 6, mask, { x0: 2, y0: 1, x1: 4, y1: 2 }); // row 1 = slice z 3, y 2–3
    expect(volume.nonEmptySlices(1)).toEqual([3]);
    expect([...volume.get(1, 3).keys()].filter((i) => volume.get(1, 3)[i])).toEqual([2 * 10 + 6, 3 * 10 + 6]);
  });

  it("show a plane mask on the display grid by nearest voxel, and an axial one as it is", () => {
    const mask = new Uint8Array(50);
    mask[0] = 1;
    const shown = toDisplay(mask, grids.coronal!);
    expect(shown.length).toBe(100);
    expect([...shown.keys()].filter((i) => shown[i])).toEqual([0, 10]); // voxel row 0 is display rows 0–1
    const axial = new Uint8Array(80);
    expect(toDisplay(axial, grids.axial)).toBe(axial);
  });
});

describe("the small views of the other planes", () => {
  it("show the two planes not in the main view, fitted and centred in their box", () => {
    expect(otherPlanes({ plane: "coronal", planes: grids })).toEqual(["axial", "sagittal"]);
    expect(otherPlanes({ plane: "axial", planes: planeGrids(undefined, { depth: 1, height: 4, width: 6 }) })).toEqual([]);
    // A 10 × 8 sagittal display in a 200 × 100 box: scaled 10×, centred horizontally.
    expect(fitIn(grids.sagittal!, 200, 100)).toEqual({ scale: 10, x: 60, y: 0 });
  });
});
