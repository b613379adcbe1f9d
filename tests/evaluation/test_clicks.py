"""Box prompts and corrective clicks simulated from a reference mask."""

from __future__ import annotations

import numpy as np
import pytest

from ml_worker.evaluation.clicks import box_from_mask, next_click


def block(top: int, left: int, height: int, width: int, shape: tuple[int, int] = (60, 60)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top : top + height, left : left + width] = True
    return mask


def test_tight_box_runs_from_first_to_last_foreground_pixel_in_x_y_order():
    box = box_from_mask(block(top=10, left=30, height=10, width=5))
    assert box.tolist() == [30, 10, 34, 19]


def test_jittered_box_moves_each_side_outwards_by_at_most_the_jitter():
    mask = block(20, 20, 10, 10)
    boxes = np.array([box_from_mask(mask, 4, np.random.default_rng(seed)) for seed in range(200)])
    shifts = np.abs(boxes - np.array([20, 20, 29, 29]))
    assert shifts.min() == 0 and shifts.max() == 4
    for side in range(4):  # every side moves independently, over the whole range
        assert set(shifts[:, side].astype(int)) == {0, 1, 2, 3, 4}
    assert (boxes[:, :2] <= 20).all() and (boxes[:, 2:] >= 29).all()


def test_jittered_box_is_reproducible_from_its_generator():
    mask = block(20, 20, 10, 10)
    first = box_from_mask(mask, 5, np.random.default_rng(7))
    again = box_from_mask(mask, 5, np.random.default_rng(7))
    assert first.tolist() == again.tolist()


def test_jittered_box_stays_inside_the_image():
    mask = block(0, 0, 5, 5, shape=(20, 20)) | block(15, 15, 5, 5, shape=(20, 20))
    for seed in range(50):
        assert box_from_mask(mask, 10, np.random.default_rng(seed)).tolist() == [0, 0, 19, 19]


def test_a_one_pixel_thin_structure_gets_a_box_with_area():
    x0, y0, x1, y1 = box_from_mask(block(5, 7, 30, 1))
    assert (x0, x1) == (7, 8) and (y0, y1) == (5, 34)
    x0, _, x1, _ = box_from_mask(block(5, 59, 30, 1))  # on the right edge: widened to the left
    assert (x0, x1) == (58, 59)


def test_an_empty_mask_has_no_box():
    with pytest.raises(ValueError, match="non-empty"):
        box_from_mask(np.zeros((10, 10), bool))


def test_missed_foreground_gets_a_positive_click_at_its_centre():
    reference = block(10, 30, 11, 11)
    click = next_click(np.zeros_like(reference), reference)
    assert (click.x, click.y, click.positive, click.label) == (35, 15, True, 1)
    assert click.depth_px == 6  # 6 pixels to the nearest pixel outside the 11×11 error


def test_a_false_positive_gets_a_negative_click_at_its_centre():
    reference = block(10, 10, 11, 11)
    prediction = reference | block(40, 40, 7, 7)
    click = next_click(prediction, reference)
    assert (click.x, click.y, click.positive, click.label) == (43, 43, False, 0)


def test_the_deeper_error_region_is_corrected_first():
    reference = block(5, 5, 11, 11) | block(40, 40, 5, 5)
    prediction = block(40, 40, 5, 5) | block(20, 40, 5, 5)  # misses an 11×11 block, adds a 5×5 one
    assert next_click(prediction, reference).positive
    prediction = block(5, 5, 11, 11) | block(25, 25, 15, 15)  # now the false positive is the larger error
    click = next_click(prediction, reference)
    assert (click.x, click.y, click.positive) == (32, 32, False)


def test_the_image_edge_counts_as_the_boundary_of_an_error_region():
    # a 10×10 miss in the corner: without the edge the corner pixel would be farthest from the boundary
    reference = block(0, 0, 10, 10, shape=(30, 30))
    click = next_click(np.zeros_like(reference), reference)
    assert (click.x, click.y) == (4, 4)


def test_a_prediction_equal_to_the_reference_needs_no_click():
    reference = block(3, 3, 8, 8)
    assert next_click(reference.copy(), reference) is None
