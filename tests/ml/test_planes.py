"""Planes resampled to square pixels, and masks between the display and the voxel grid (ml_worker.planes),
on synthetic anisotropic volumes whose answers are known exactly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from ml_worker import planes

# The pyradiomics lung1 CT: 48 slices of 5 mm, 512 × 512 pixels of 0.5703125 mm.
LUNG1_SHAPE, LUNG1_SPACING = (48, 512, 512), (5.0, 0.5703125, 0.5703125)


def test_thick_slice_ct_is_shown_coronally_and_sagittally_with_its_in_plane_pixel_size():
    axial = planes.plane_grid(LUNG1_SHAPE, LUNG1_SPACING, "axial")
    coronal = planes.plane_grid(LUNG1_SHAPE, LUNG1_SPACING, "coronal")
    sagittal = planes.plane_grid(LUNG1_SHAPE, LUNG1_SPACING, "sagittal")
    assert (axial.depth, axial.display_shape, axial.resampled) == (48, (512, 512), False)
    # 48 × 5 mm = 240 mm of 0.5703125 mm pixels = 420.8 → 421 rows; each slice is 421 / 48 ≈ 8.8 rows tall.
    assert (coronal.depth, coronal.voxel_shape, coronal.display_shape) == (512, (48, 512), (421, 512))
    assert (sagittal.depth, sagittal.voxel_shape, sagittal.display_shape) == (512, (48, 512), (421, 512))
    assert coronal.pixel_mm == (0.5703125, 0.5703125)


def test_thin_slices_stretch_the_in_plane_axis_instead_and_nothing_is_ever_shrunk():
    grid = planes.plane_grid((100, 64, 80), (0.5, 1.0, 1.0), "coronal")
    assert grid.voxel_shape == (100, 80) and grid.display_shape == (100, 160)
    sagittal = planes.plane_grid((100, 64, 80), (0.5, 1.0, 1.0), "sagittal")
    assert sagittal.display_shape == (100, 128)


def test_a_plane_longer_than_the_display_limit_gets_larger_pixels():
    grid = planes.plane_grid((600, 10, 100), (5.0, 1.0, 1.0), "coronal")
    assert max(grid.display_shape) == planes.MAX_DISPLAY_SIDE
    assert grid.display_shape == (2048, 68)


def test_planes_are_oriented_as_radiology_viewers_show_them():
    volume = np.zeros((3, 4, 5), dtype=np.int16)
    volume[2, 1, 3] = 7  # the top slice (superior), one row posterior, towards the patient's left
    coronal = planes.voxel_plane(volume, "coronal", 1)
    sagittal = planes.voxel_plane(volume, "sagittal", 3)
    assert coronal.shape == (3, 5) and coronal[0, 3] == 7  # superior at the top, x across
    assert sagittal.shape == (3, 4) and sagittal[0, 1] == 7  # superior at the top, anterior on the left
    assert planes.voxel_plane(volume, "axial", 2)[1, 3] == 7
    with pytest.raises(IndexError, match="coronal slice 4 is outside 0..3"):
        planes.voxel_plane(volume, "coronal", 4)


def test_a_coronal_plane_is_interpolated_linearly_between_slice_centres():
    # Intensity 10 × z on three slices of 4 mm with 1 mm pixels: 12 display rows, 4 per slice.
    z = np.arange(3, dtype=np.float32)[:, None, None]
    volume = np.broadcast_to(10 * z, (3, 2, 2)).copy()
    image = planes.reslice(volume, (4.0, 1.0, 1.0), "coronal", 0)
    assert image.shape == (12, 2) and image.dtype == np.float32
    # Row r has its centre at (r + 0.5) / 4 slices from the top; the top slice (z = 2) is 20.
    expected = [20, 20, 18.75, 16.25, 13.75, 11.25, 8.75, 6.25, 3.75, 1.25, 0, 0]
    np.testing.assert_allclose(image[:, 0], expected)
    np.testing.assert_array_equal(image[:, 0], image[:, 1])


def test_integer_intensities_stay_integers_and_an_unstretched_axis_keeps_its_values():
    rng = np.random.default_rng(0)
    volume = rng.integers(-1000, 1000, size=(6, 5, 7)).astype(np.int16)
    image = planes.reslice(volume, (3.0, 1.0, 1.0), "sagittal", 4)
    assert image.dtype == np.int16 and image.shape == (18, 5)
    # Every third row's centre falls on a slice's centre: those rows are the stored values exactly.
    np.testing.assert_array_equal(image[1::3], volume[::-1, :, 4])


def test_a_mask_survives_voxels_to_display_and_back_unchanged():
    rng = np.random.default_rng(1)
    grid = planes.plane_grid(LUNG1_SHAPE, LUNG1_SPACING, "coronal")
    mask = rng.random(grid.voxel_shape) > 0.5
    display = planes.mask_to_display(mask, grid)
    assert display.shape == (421, 512)
    np.testing.assert_array_equal(planes.mask_to_voxels(display, grid), mask)


def test_a_voxel_is_set_when_at_least_half_of_the_display_pixels_inside_it_are():
    grid = planes.plane_grid((2, 1, 3), (4.0, 1.0, 1.0), "coronal")  # 2 × 3 voxels shown as 8 × 3
    display = np.zeros(grid.display_shape, dtype=bool)
    display[0:2, 0] = True  # half of the top-left voxel's 4 rows
    display[4:5, 1] = True  # a quarter of the bottom-middle voxel's
    display[4:8, 2] = True
    np.testing.assert_array_equal(
        planes.mask_to_voxels(display, grid), [[True, False, False], [False, False, True]]
    )


def test_on_a_shrunk_axis_each_voxel_takes_the_display_pixel_over_its_centre():
    centres = planes.nearest_cells(10, 4)
    start, stop = planes.centre_ranges(10, 4)
    assert centres.tolist() == [1, 3, 6, 8]
    # Every voxel gets exactly one display pixel; the four that hold a display centre get that pixel.
    assert (stop - start).tolist() == [1] * 10
    assert [start[c] for c in centres] == [0, 1, 2, 3]


def sphere(
    shape: tuple[int, int, int], spacing: tuple[float, float, float], centre_mm, radius_mm
) -> np.ndarray:
    """Voxels whose centres lie within ``radius_mm`` of ``centre_mm`` (z, y, x mm from the volume's corner)."""
    grids = np.meshgrid(
        *[(np.arange(n) + 0.5) * s for n, s in zip(shape, spacing, strict=True)], indexing="ij"
    )
    distance = sum((g - c) ** 2 for g, c in zip(grids, centre_mm, strict=True))
    return distance <= radius_mm**2


def within_one_voxel(a: np.ndarray, b: np.ndarray) -> bool:
    """Each mask lies inside the other grown by one voxel (8-connected): they differ only at the edge."""
    grow = np.ones((3, 3), dtype=bool)
    return bool(
        (a <= ndimage.binary_dilation(b, grow)).all() and (b <= ndimage.binary_dilation(a, grow)).all()
    )


@pytest.mark.parametrize("plane", ["coronal", "sagittal"])
def test_a_perfect_disc_drawn_on_the_resampled_plane_of_a_sphere_maps_back_to_its_voxels(plane):
    # A sphere of 11 mm in 4 mm slices of 1 × 0.8 mm pixels: on the voxel grid its section is a few rows tall.
    shape, spacing = (16, 40, 50), (4.0, 1.0, 0.8)
    centre, radius = (31.0, 19.0, 21.0), 11.0
    ball = sphere(shape, spacing, centre, radius)
    grid = planes.plane_grid(shape, spacing, plane)
    index = int(centre[1] // spacing[1]) if plane == "coronal" else int(centre[2] // spacing[2])
    reference = planes.voxel_plane(ball, plane, index)
    # What a model that is right in millimetres draws: the display pixels whose centres lie in the disc
    # where the plane cuts the sphere (display rows run from the top slice down).
    row_mm = (np.arange(grid.display_rows) + 0.5) * shape[0] * spacing[0] / grid.display_rows
    col_axis = 2 if plane == "coronal" else 1
    col_mm = (np.arange(grid.display_cols) + 0.5) * shape[col_axis] * spacing[col_axis] / grid.display_cols
    depth_mm = (index + 0.5) * (spacing[1] if plane == "coronal" else spacing[2])
    off_plane = (depth_mm - (centre[1] if plane == "coronal" else centre[2])) ** 2
    top_down = shape[0] * spacing[0] - row_mm
    drawn = (top_down[:, None] - centre[0]) ** 2 + (col_mm[None, :] - centre[col_axis]) ** 2 + off_plane
    drawn = drawn <= radius**2
    mapped = planes.mask_to_voxels(drawn, grid)
    assert within_one_voxel(mapped, reference)
    assert 2 * (mapped & reference).sum() / (mapped.sum() + reference.sum()) > 0.9
