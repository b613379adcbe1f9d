import numpy as np
import pytest

from annotator import rle
from annotator.errors import InvalidInput


def test_a_mask_is_encoded_as_row_major_runs_starting_with_zeros():
    mask = np.array([[0, 1, 1], [1, 0, 0]], dtype=bool)
    assert rle.encode(mask) == {"size": [2, 3], "counts": [1, 3, 2]}


def test_a_mask_starting_with_foreground_begins_with_an_empty_zero_run():
    mask = np.array([[1, 1], [0, 1]], dtype=bool)
    assert rle.encode(mask) == {"size": [2, 2], "counts": [0, 2, 1, 1]}


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (64, 64)])
def test_random_masks_survive_a_round_trip(shape):
    rng = np.random.default_rng(sum(shape))
    mask = rng.random(shape) > 0.6
    assert np.array_equal(rle.decode(rle.encode(mask)), mask)
    assert np.array_equal(rle.decode(rle.encode(np.zeros(shape, bool))), np.zeros(shape, bool))
    assert np.array_equal(rle.decode(rle.encode(np.ones(shape, bool))), np.ones(shape, bool))


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"size": [2, 2], "counts": [1, 1]}, "cover 2 pixels, not 4"),
        ({"size": [2], "counts": [4]}, "two positive integers"),
        ({"size": [2, 2], "counts": [-1, 5]}, "integers from 0 to 4"),
        ({"size": [2, 2], "counts": [1.5, 2.5]}, "integers from 0 to 4"),
        ({"size": [2, 2], "counts": [True, 3]}, "integers from 0 to 4"),
        ({"size": [100_000, 100_000], "counts": [10**10]}, "larger than any image"),
        ({"counts": [4]}, "must be"),
        ("not a dict", "must be"),
    ],
)
def test_malformed_masks_are_refused_with_a_clear_message(bad, message):
    with pytest.raises(InvalidInput, match=message):
        rle.decode(bad)


def test_a_mask_of_the_wrong_size_for_its_image_is_refused():
    with pytest.raises(InvalidInput, match="2×2 but the image is 3×3"):
        rle.decode({"size": [2, 2], "counts": [4]}, expected_shape=(3, 3))


def test_run_lengths_that_wrap_around_64_bit_integers_are_refused_before_decoding():
    # Given the probe's mask: two runs of 2**63 - 1 whose int64 sum wraps to exactly 256 * 256
    forged = {"size": [256, 256], "counts": [2**63 - 1, 2**63 - 1, 65538]}
    assert (np.asarray(forged["counts"], dtype=np.int64).sum()) == 256 * 256  # the wrap that crashed numpy
    # When it is decoded, then it is refused with a message instead of reaching np.repeat
    with pytest.raises(InvalidInput, match="integers from 0 to 65536"):
        rle.decode(forged)
    # Runs larger than int64 altogether are refused the same way
    with pytest.raises(InvalidInput, match="integers from 0 to 4"):
        rle.decode({"size": [2, 2], "counts": [2**70, 4 - 2**70]})


def test_more_runs_than_pixels_are_refused():
    with pytest.raises(InvalidInput, match="more runs than pixels"):
        rle.decode({"size": [1, 2], "counts": [0, 0, 0, 1, 1]})
