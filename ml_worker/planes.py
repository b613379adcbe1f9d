"""The three orthogonal planes of a volume, resampled to square pixels: what the viewer shows and what the
model sees on coronal and sagittal slices, and how a mask drawn there maps back to the voxels.

Volumes are canonical ``(Z, Y, X)`` arrays (axes towards patient Superior, Posterior, Left; see
``annotator.models.studies``) with a voxel size ``(sz, sy, sx)`` in mm. A plane's *voxel grid* is one slice
of that array, oriented as radiology viewers show it:

==========  =============  ==========================  =========================
plane       slice index    rows (top → bottom)         columns (left → right)
==========  =============  ==========================  =========================
axial       z              y: anterior → posterior     x: patient right → left
coronal     y              z: superior → inferior      x: patient right → left
sagittal    x              z: superior → inferior      y: anterior → posterior
==========  =============  ==========================  =========================

Its *display grid* has square pixels: each axis of the plane is stretched to the finer of the plane's two
voxel sizes (no axis is ever shrunk), so a 5 mm CT shown coronally gets 5 / 0.57 ≈ 8.8 display rows per
slice instead of one. Sizes are rounded to whole pixels (``display = round(voxels × voxel_mm / pixel_mm)``),
so the scale per axis is ``display / voxels`` exactly and a pixel is square to within half a pixel over
the whole image. A plane whose longest display side would exceed :data:`MAX_DISPLAY_SIDE` gets a larger
pixel. The axial plane is never resampled: it is the stored slice (its embeddings, caches and masks are
those of every earlier version), with ``sy × sx`` pixels, square for every source seen so far.

Pixel centres are aligned as in every image library's "half-pixel" convention: display pixel ``r`` has its
centre at voxel coordinate ``(r + 0.5) × voxels / display`` (voxel ``i`` spans ``[i, i + 1)``).

* Images are resampled with **linear** interpolation between voxel centres, separably along each axis,
  edges clamped (:func:`reslice`); integer intensities are rounded back to their dtype, so an axis that is
  not stretched keeps its stored values exactly.
* Masks go to the display grid by **nearest** voxel (:func:`mask_to_display`): a display pixel shows the
  voxel that holds its centre.
* Masks come back to the voxels by **majority** (:func:`mask_to_voxels`): a voxel is set when at least half
  of the display pixels whose centres lie inside it are set; a voxel that holds no display centre (an axis
  shrunk by the size limit) takes the display pixel over its own centre. Display → voxels → display is
  exact for any mask made by :func:`mask_to_display`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

Plane = Literal["axial", "coronal", "sagittal"]
PLANES: tuple[Plane, ...] = ("axial", "coronal", "sagittal")
AXIAL: Final = "axial"
# Bump when the resampling changes: it is part of the slice hash of every non-axial embedding.
RESLICE_VERSION = "1"
# A coronal plane of 400 slices of 5 mm on 0.98 mm pixels is 2041 rows: whole-body CT fits unshrunk.
MAX_DISPLAY_SIDE = 2048


@dataclass(frozen=True)
class PlaneGrid:
    """One plane of a volume: ``depth`` slices along its normal, each ``rows × cols`` voxels shown as
    ``display_rows × display_cols`` pixels of ``pixel_mm`` (row height × column width, equal once resampled)."""

    plane: Plane
    depth: int
    rows: int
    cols: int
    display_rows: int
    display_cols: int
    pixel_mm: tuple[float, float]

    @property
    def resampled(self) -> bool:
        return (self.display_rows, self.display_cols) != (self.rows, self.cols)

    @property
    def display_shape(self) -> tuple[int, int]:
        return self.display_rows, self.display_cols

    @property
    def voxel_shape(self) -> tuple[int, int]:
        return self.rows, self.cols

    def as_json(self) -> dict[str, object]:
        return {
            "depth": self.depth,
            "rows": self.rows,
            "cols": self.cols,
            "display_rows": self.display_rows,
            "display_cols": self.display_cols,
            "pixel_mm": list(self.pixel_mm),
        }


def check_plane(plane: str) -> Plane:
    if plane not in PLANES:
        raise ValueError(f"unknown plane {plane!r}; use {', '.join(PLANES)}")
    return plane


def _axes(plane: Plane) -> tuple[int, int, int]:
    """(normal, row axis, column axis) of the canonical (Z, Y, X) array."""
    return {"axial": (0, 1, 2), "coronal": (1, 0, 2), "sagittal": (2, 0, 1)}[plane]


def plane_grid(
    shape: tuple[int, ...] | list[int], spacing: tuple[float, ...] | list[float], plane: str
) -> PlaneGrid:
    """The grid of ``plane`` for a volume of ``shape`` (Z, Y, X[, 3]) and voxel size ``spacing`` (z, y, x) mm."""
    plane = check_plane(plane)
    size = [int(v) for v in shape[:3]]
    mm = [float(v) if float(v) > 0 else 1.0 for v in spacing[:3]]
    normal, row_axis, col_axis = _axes(plane)
    rows, cols = size[row_axis], size[col_axis]
    if plane == "axial":
        return PlaneGrid(plane, size[normal], rows, cols, rows, cols, (mm[row_axis], mm[col_axis]))
    pixel = min(mm[row_axis], mm[col_axis])
    extent_rows, extent_cols = rows * mm[row_axis], cols * mm[col_axis]
    longest = max(extent_rows, extent_cols) / pixel
    if longest > MAX_DISPLAY_SIDE:
        pixel *= longest / MAX_DISPLAY_SIDE
    display_rows = max(1, round(extent_rows / pixel))
    display_cols = max(1, round(extent_cols / pixel))
    return PlaneGrid(plane, size[normal], rows, cols, display_rows, display_cols, (pixel, pixel))


def voxel_plane(volume: np.ndarray, plane: str, index: int) -> np.ndarray:
    """Slice ``index`` of ``plane`` on the voxel grid, oriented as in the module's table (a view)."""
    plane = check_plane(plane)
    normal = _axes(plane)[0]
    depth = volume.shape[normal]
    if not 0 <= index < depth:
        raise IndexError(f"{plane} slice {index} is outside 0..{depth - 1}")
    if plane == "axial":
        return np.asarray(volume[index])
    if plane == "coronal":
        return np.asarray(volume[::-1, index])
    return np.asarray(volume[::-1, :, index])


def write_voxel_plane(volume: np.ndarray, plane: str, index: int, values: np.ndarray) -> None:
    """Write a voxel-grid plane (as :func:`voxel_plane` returns it) back into ``volume``."""
    view = voxel_plane(volume, plane, index)
    if view.shape[:2] != values.shape[:2]:
        raise ValueError(f"a {plane} plane of this volume is {view.shape[:2]}, got {values.shape[:2]}")
    view[...] = values


# -- 1-D maps between voxels and display pixels ------------------------------------------------------
def _linear_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each output pixel: the two input cells around its centre and the weight of the second."""
    centre = (np.arange(n_out, dtype=np.float64) + 0.5) * n_in / n_out - 0.5
    centre = np.clip(centre, 0.0, n_in - 1.0)
    low = np.floor(centre).astype(np.int64)
    high = np.minimum(low + 1, n_in - 1)
    return low, high, centre - low


def nearest_cells(n_in: int, n_out: int) -> np.ndarray:
    """For each output pixel, the input cell that holds its centre: ``floor((2r + 1) n_in / (2 n_out))``."""
    r = np.arange(n_out, dtype=np.int64)
    return ((2 * r + 1) * n_in) // (2 * n_out)


def centre_ranges(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """For each input cell ``i``, ``[start, stop)`` of the output pixels whose centres lie inside it; a cell
    holding none (a shrunk axis) gets the one output pixel over its own centre."""
    i = np.arange(n_in, dtype=np.int64)
    # centre (r + 1/2) n_in / n_out >= i  <=>  r >= (2 i n_out - n_in) / (2 n_in): integer ceilings, exact.
    start = -((n_in - 2 * i * n_out) // (2 * n_in))
    stop = -((n_in - 2 * (i + 1) * n_out) // (2 * n_in))
    start, stop = np.clip(start, 0, n_out), np.clip(stop, 0, n_out)
    empty = stop <= start
    own = np.minimum(((2 * i + 1) * n_out) // (2 * n_in), n_out - 1)
    start = np.where(empty, own, start)
    stop = np.where(empty, own + 1, stop)
    return start, stop


# -- images and masks ----------------------------------------------------------------------------------
def resample_image(plane: np.ndarray, display_shape: tuple[int, int]) -> np.ndarray:
    """A voxel-grid plane ``(rows, cols)`` resampled linearly to ``display_shape``; integer dtypes are
    rounded back to their dtype, anything else comes back as float32. Colour planes are not supported."""
    rows, cols = plane.shape[:2]
    out_rows, out_cols = display_shape
    if (rows, cols) == (out_rows, out_cols):
        return np.array(plane)
    # float32 holds int16 and uint16 intensities exactly; 200 × 512 → 1429 × 512 takes ~10 ms against ~50 ms
    # in float64 (this 2-core machine), with results at most 1 apart after rounding.
    data = np.asarray(plane, dtype=np.float32)
    if out_rows != rows:
        low, high, t = _linear_weights(rows, out_rows)
        weight = t.astype(np.float32)[:, None]
        data = data[low] * (1 - weight) + data[high] * weight
    if out_cols != cols:
        low, high, t = _linear_weights(cols, out_cols)
        weight = t.astype(np.float32)[None, :]
        data = data[:, low] * (1 - weight) + data[:, high] * weight
    if np.issubdtype(plane.dtype, np.integer):
        info = np.iinfo(plane.dtype)
        return np.clip(np.rint(data), info.min, info.max).astype(plane.dtype)
    return data.astype(np.float32)


def reslice(
    volume: np.ndarray, spacing: tuple[float, ...] | list[float], plane: str, index: int
) -> np.ndarray:
    """Slice ``index`` of ``plane`` on its square-pixel display grid (linear interpolation)."""
    grid = plane_grid(volume.shape, spacing, plane)
    return resample_image(voxel_plane(volume, plane, index), grid.display_shape)


def mask_to_display(mask: np.ndarray, grid: PlaneGrid) -> np.ndarray:
    """A voxel-grid ``(rows, cols)`` mask on the display grid: each pixel takes the voxel holding its centre."""
    if mask.shape != grid.voxel_shape:
        raise ValueError(f"a {grid.plane} mask of this series is {grid.voxel_shape}, got {mask.shape}")
    rows = nearest_cells(grid.rows, grid.display_rows)
    cols = nearest_cells(grid.cols, grid.display_cols)
    return np.asarray(np.asarray(mask)[rows[:, None], cols[None, :]])


def mask_to_voxels(mask: np.ndarray, grid: PlaneGrid) -> np.ndarray:
    """A display-grid mask back on the voxel grid ``(rows, cols)`` by majority (see the module docstring)."""
    if mask.shape != grid.display_shape:
        raise ValueError(
            f"a {grid.plane} display mask of this series is {grid.display_shape}, got {mask.shape}"
        )
    binary = np.asarray(mask, dtype=bool)
    if not grid.resampled:
        return binary.copy()
    integral = np.zeros((grid.display_rows + 1, grid.display_cols + 1), dtype=np.int64)
    integral[1:, 1:] = binary.cumsum(axis=0).cumsum(axis=1)
    r0, r1 = centre_ranges(grid.rows, grid.display_rows)
    c0, c1 = centre_ranges(grid.cols, grid.display_cols)
    on = (
        integral[r1[:, None], c1[None, :]]
        - integral[r0[:, None], c1[None, :]]
        - integral[r1[:, None], c0[None, :]]
        + integral[r0[:, None], c0[None, :]]
    )
    total = (r1 - r0)[:, None] * (c1 - c0)[None, :]
    return np.asarray(2 * on >= total)


# -- cache keys --------------------------------------------------------------------------------------
def slice_key(content_hash: str, index: int, grid: PlaneGrid | None = None) -> str:
    """The identity of one slice's pixels as the model sees them (its embedding's cache key).

    An axial slice: the stored array's hash and the index, as before planes existed (existing caches stay
    valid). A coronal or sagittal slice adds the plane, the display size (the same pixels with another
    voxel size resample to another image) and :data:`RESLICE_VERSION`.
    """
    text = f"{content_hash}:{index}"
    if grid is not None and grid.plane != AXIAL:
        text = f"{text}:{grid.plane}:{grid.display_rows}x{grid.display_cols}:reslice-{RESLICE_VERSION}"
    return hashlib.sha256(text.encode()).hexdigest()


# -- points ------------------------------------------------------------------------------------------
def voxel_to_plane(grid: PlaneGrid, depth_z: int, voxel: tuple[int, int, int]) -> tuple[int, int, int]:
    """``(index, row, col)`` in ``grid``'s voxel grid of voxel ``(x, y, z)`` of a volume ``depth_z`` slices deep."""
    x, y, z = voxel
    if grid.plane == "axial":
        return z, y, x
    if grid.plane == "coronal":
        return y, depth_z - 1 - z, x
    return x, depth_z - 1 - z, y
