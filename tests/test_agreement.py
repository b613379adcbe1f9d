"""Agreement between masks: Dice, majority vote and STAPLE on masks whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.agreement import dice, dice_per_slice, majority_vote, staple


def strip(start: int, stop: int, length: int = 10) -> np.ndarray:
    """A one-row mask holding [start, stop)."""
    mask = np.zeros((1, length), dtype=bool)
    mask[0, start:stop] = True
    return mask


def test_dice_is_twice_the_overlap_over_the_sizes_and_one_for_two_empty_masks():
    assert dice(strip(2, 6), strip(4, 8)) == pytest.approx(2 * 2 / (4 + 4))
    assert dice(strip(0, 5), strip(5, 10)) == 0.0
    assert dice(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0


def test_dice_per_slice_reports_only_slices_where_either_mask_has_something():
    a = np.zeros((4, 8, 8), dtype=bool)
    b = np.zeros((4, 8, 8), dtype=bool)
    a[2, 1:5, 1:5] = True  # 16 voxels
    b[2, 2:6, 2:6] = True  # 16 voxels, 9 shared
    a[3, 0:2, 0:2] = True  # only in a
    assert dice_per_slice(a, b) == {2: pytest.approx(18 / 32), 3: 0.0}
    assert dice(a, b) == pytest.approx(18 / 36)


def test_majority_vote_keeps_voxels_held_by_more_than_half():
    a, b, c = strip(2, 6), strip(2, 7), strip(3, 6)
    assert np.array_equal(majority_vote([a, b, c]), strip(2, 6))
    # With two masks, more than half is both: their intersection.
    assert np.array_equal(majority_vote([strip(2, 6), strip(4, 8)]), strip(4, 6))


def test_staple_finds_the_truth_and_each_raters_sensitivity_and_specificity():
    # Truth [2, 6): rater b adds one false voxel (6), rater c misses one (2).
    a, b, c = strip(2, 6), strip(2, 7), strip(3, 6)
    result = staple([a, b, c])
    assert np.array_equal(result.consensus, strip(2, 6))
    # c found 3 of the 4 true voxels; b called 1 of the 6 background voxels foreground.
    assert result.sensitivity == pytest.approx([1.0, 1.0, 3 / 4], abs=1e-6)
    assert result.specificity == pytest.approx([1.0, 5 / 6, 1.0], abs=1e-6)


def test_staple_leaves_out_a_voxel_exactly_in_doubt_between_two_raters():
    result = staple([strip(2, 6), strip(2, 7)])
    assert result.probability[0, 6] == pytest.approx(0.5)
    assert np.array_equal(result.consensus, strip(2, 6))


def test_staple_works_on_volumes_and_needs_two_masks():
    volume = np.zeros((3, 6, 6), dtype=bool)
    volume[1, 2:4, 2:4] = True
    assert np.array_equal(staple([volume, volume, volume]).consensus, volume)
    with pytest.raises(ValueError, match="two masks"):
        staple([volume])
