"""Selection strategies: hardest corrected cases first; unlabelled slices by the model's doubt."""

from __future__ import annotations

import numpy as np
import pytest

from ml_worker.active_learning.selection import (
    QUEUE_STRATEGIES,
    STRATEGIES,
    TRAINING_STRATEGIES,
    HardestCorrectedFirst,
    JitteredBoxDisagreement,
    LowestPredictedIoU,
    RandomOrder,
    UnlabelledSlice,
    get_strategy,
    oversampling_weights,
    rank,
)
from tests.training.test_cases import make_case


def first_prediction_with_dice(target: float) -> np.ndarray:
    """A first prediction covering the top rows of the 8×8 square of ``make_case`` (Dice 2k/(k+64))."""
    mask = np.zeros((16, 16), bool)
    rows = round(8 * target / (2 - target))
    mask[4 : 4 + rows, 4:12] = True
    return mask


def test_hardest_corrected_cases_come_first_and_are_drawn_most():
    cases = [
        make_case("a", 0, first=first_prediction_with_dice(1.0)),  # accepted as proposed
        make_case("a", 1, first=first_prediction_with_dice(0.3)),  # heavily corrected
        make_case("b", 0),  # drawn by hand: counts as fully corrected
        make_case("b", 1, first=first_prediction_with_dice(0.8)),
    ]
    strategy = HardestCorrectedFirst()

    assert rank(strategy, cases) == [2, 1, 3, 0]
    weights = oversampling_weights(strategy.scores(cases), boost=3.0)
    assert weights[2] == pytest.approx(4.0) and weights[0] == pytest.approx(1.0)
    assert weights[1] > weights[3] > weights[0]


def test_equal_scores_give_equal_weights_and_keep_the_order():
    cases = [make_case("a", i) for i in range(3)]
    assert rank(get_strategy("uniform"), cases) == [0, 1, 2]
    assert np.all(oversampling_weights(np.zeros(3)) == 1.0)


def unlabelled(name: str, box) -> UnlabelledSlice:
    return UnlabelledSlice(name, np.zeros((256, 64, 64), np.float32), (256, 256), np.asarray(box, float))


class BoxFiller:
    """A decoder that answers each box with the filled box (inclusive pixel indices)."""

    def __init__(self) -> None:
        self.decode_calls: list[np.ndarray] = []

    def decode(self, embedding, image_size, boxes=None, **_):
        boxes = np.asarray(boxes)
        self.decode_calls.append(boxes)
        masks = np.zeros((len(boxes), 1, *image_size), bool)
        for i, (x0, y0, x1, y1) in enumerate(boxes.astype(int)):
            masks[i, 0, y0 : y1 + 1, x0 : x1 + 1] = True

        class Result:
            pass

        result = Result()
        result.masks = masks
        return result


def test_slices_whose_mask_moves_with_the_box_come_first_in_the_disagreement_order():
    # A small structure's mask changes much more than a large one's when the box moves by a few pixels.
    slices = [unlabelled("large", [20, 20, 220, 220]), unlabelled("small", [100, 100, 110, 110])]
    decoder = BoxFiller()
    strategy = JitteredBoxDisagreement(decoder, n_boxes=5, shift_px=5.0)

    scores = strategy.scores(slices)

    assert 0 < scores[0] < scores[1] < 1
    assert [boxes.shape for boxes in decoder.decode_calls] == [(5, 4), (5, 4)]  # one batched decode each
    assert np.array_equal(decoder.decode_calls[1][0], [100, 100, 110, 110])  # the given box is one of them
    assert rank(strategy, slices) == [1, 0]


class IoUDecoder:
    def __init__(self, ious: dict[float, float]) -> None:
        self.ious = ious

    def decode(self, embedding, image_size, boxes=None, **_):
        class Result:
            iou = np.array([[self.ious[float(boxes[0][0])]]])

        return Result()


def test_lowest_predicted_iou_first():
    decoder = IoUDecoder({1.0: 0.9, 2.0: 0.4, 3.0: 0.7})
    slices = [unlabelled(str(x), [x, 1, 50, 50]) for x in (1.0, 2.0, 3.0)]
    assert rank(LowestPredictedIoU(decoder), slices) == [1, 2, 0]


def test_random_order_is_seeded():
    items = list(range(50))
    assert rank(RandomOrder(seed=3), items) == rank(RandomOrder(seed=3), items)
    assert rank(RandomOrder(seed=3), items) != rank(RandomOrder(seed=4), items)


def test_the_registry_maps_names_to_strategies():
    assert set(TRAINING_STRATEGIES) == {"hardest-corrected", "uniform"}
    assert set(QUEUE_STRATEGIES) == {"lowest-iou", "jitter-disagreement", "random"}
    assert isinstance(get_strategy("jitter-disagreement", decoder=BoxFiller()), JitteredBoxDisagreement)
    assert all(STRATEGIES[name].name == name for name in STRATEGIES)
    with pytest.raises(ValueError, match="unknown strategy 'smartest'"):
        get_strategy("smartest")
