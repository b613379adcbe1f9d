"""DSC and NSD against values worked out by hand on squares, discs, shifted copies and empty masks."""

from __future__ import annotations

import numpy as np
import pytest

from ml_worker.evaluation.metrics import boundary, dice, normalized_surface_dice


def square(top: int = 10, left: int = 10, size: int = 10, shape: tuple[int, int] = (40, 40)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top : top + size, left : left + size] = True
    return mask


def disc(cy: int, cx: int, radius: float, shape: tuple[int, int] = (64, 64)) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2


def test_identical_masks_score_one():
    for mask in (square(), disc(30, 30, 12)):
        assert dice(mask, mask) == 1.0
        assert normalized_surface_dice(mask, mask, (0.7, 0.7), tolerance_mm=0.0) == 1.0


def test_dice_of_a_square_and_its_copy_shifted_three_columns_is_point_seven():
    # 10×10 squares overlapping on 10×7 pixels: 2·70 / (100 + 100)
    assert dice(square(), square(left=13)) == pytest.approx(0.7)


def test_dice_of_disjoint_masks_is_zero():
    assert dice(square(), square(top=25)) == 0.0


def test_boundary_of_a_square_is_its_ring_and_the_image_edge_closes_it():
    assert boundary(square()).sum() == 36  # 4·10 − 4 corners
    assert (
        boundary(np.ones((5, 5), bool)).sum() == 16
    )  # the field of view cuts the mask: its edge is boundary
    assert not boundary(square())[12:18, 12:18].any()


def test_nsd_of_squares_shifted_three_columns_counts_boundary_pixels_within_two_pixels():
    # ∂A (36 px): top and bottom rows 9 within 2 px of ∂B each (cols 11..19), left column none (3 px away),
    # right column rows 11, 12, 17, 18 (1–2 px from ∂B's top/bottom rows): 22; ∂B is symmetric: 22.
    assert normalized_surface_dice(square(), square(left=13), (1.0, 1.0), 2.0) == pytest.approx(44 / 72)


def test_nsd_uses_the_pixel_spacing_along_each_axis():
    a, b = square(), square(left=13)
    # columns 0.5 mm wide: the 3-column shift is 1.5 mm, every boundary pixel is within 2 mm
    assert normalized_surface_dice(a, b, (1.0, 0.5), 2.0) == 1.0
    # rows 0.5 mm, columns 1 mm: the shift is 3 mm, but the whole right column of A is now within 2 mm of
    # B's top or bottom row (rows 11..14 and 15..18): 9 + 9 + 0 + 8 = 26 per mask
    assert normalized_surface_dice(a, b, (0.5, 1.0), 2.0) == pytest.approx(52 / 72)


def test_nsd_tolerance_is_inclusive_and_zero_tolerance_needs_coinciding_boundaries():
    a, b = square(), square(left=11)
    # τ = 0: only the top and bottom rows' 9 shared pixels coincide, per mask: 18 of 36
    assert normalized_surface_dice(a, b, (1.0, 1.0), 0.0) == pytest.approx(0.5)
    assert normalized_surface_dice(a, b, (1.0, 1.0), 1.0) == 1.0


def test_disc_shifted_by_one_pixel_is_perfect_at_one_pixel_tolerance_but_not_in_dice():
    a, b = disc(30, 30, 12), disc(30, 31, 12)
    # each boundary pixel of one has its shifted twin on the other's boundary, 1 px away
    assert normalized_surface_dice(a, b, (1.0, 1.0), 1.0) == 1.0
    assert normalized_surface_dice(a, b, (1.0, 1.0), 0.0) < 1.0
    assert 0.9 < dice(a, b) < 1.0


def test_a_small_disc_inside_a_large_one():
    # concentric discs of radius 6 and 12: boundaries 6 px apart; 3 mm pixels make that 18 mm
    small, large = disc(30, 30, 6), disc(30, 30, 12)
    assert dice(small, large) == pytest.approx(2 * small.sum() / (small.sum() + large.sum()))
    assert normalized_surface_dice(small, large, (3.0, 3.0), 2.0) == 0.0
    assert normalized_surface_dice(small, large, (0.1, 0.1), 2.0) == 1.0


def test_empty_mask_conventions():
    empty, full = np.zeros((20, 20), bool), square(shape=(20, 20))
    assert dice(empty, empty) == 1.0
    assert normalized_surface_dice(empty, empty) == 1.0
    for pred, ref in ((empty, full), (full, empty)):
        assert dice(pred, ref) == 0.0
        assert normalized_surface_dice(pred, ref) == 0.0


def test_mismatched_shapes_and_bad_spacing_are_refused():
    with pytest.raises(ValueError, match="shape"):
        dice(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="spacing"):
        normalized_surface_dice(square(), square(), (1.0,), 2.0)
    with pytest.raises(ValueError, match="spacing"):
        normalized_surface_dice(square(), square(), (1.0, 0.0), 2.0)
