"""Propagation as plain model logic: the next slice's box, and where a run stops."""

from __future__ import annotations

import numpy as np

from ml_worker.propagation import grown_box, planned_slices, propagate


def square(size: int, at: int, half: int) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[at - half : at + half, at - half : at + half] = True
    return mask


def test_a_grown_box_surrounds_the_mask_with_a_margin():
    mask = np.zeros((100, 100), bool)
    mask[40:60, 30:50] = True
    assert grown_box(mask) == [28.0, 38.0, 52.0, 62.0]
    assert grown_box(np.zeros((4, 4), bool)) is None


def test_a_run_goes_up_then_down_and_stops_where_the_structure_ends_or_the_model_doubts():
    # Given a structure on slices 2..6 of 10, confidently found except on slice 3
    asked: list[tuple[int, list[float]]] = []

    def predict(index: int, box: list[float]) -> tuple[np.ndarray, float]:
        asked.append((index, box))
        present = 2 <= index <= 6
        return (square(32, 16, 4) if present else np.zeros((32, 32), bool)), (0.6 if index == 3 else 0.9)

    # When propagating both ways from slice 4
    made = [index for index, _, _ in propagate(predict, square(32, 16, 4), 4, 10, "both", min_iou=0.75)]
    # Then it reaches 5 and 6 going up, stops at the empty 7; going down it stops at the doubtful 3
    assert made == [5, 6]
    assert [index for index, _ in asked] == [5, 6, 7, 3]
    # Each prompt was the previous mask's box, grown.
    assert asked[0][1] == grown_box(square(32, 16, 4))


def test_one_way_runs_and_their_planned_length():
    def predict(index: int, box: list[float]) -> tuple[np.ndarray, float]:
        return square(32, 16, 4), 0.9

    assert [i for i, _, _ in propagate(predict, square(32, 16, 4), 2, 5, "down", 0.5)] == [1, 0]
    assert [i for i, _, _ in propagate(predict, square(32, 16, 4), 2, 5, "up", 0.5)] == [3, 4]
    assert planned_slices(5, 2, "both") == 4 and planned_slices(5, 0, "down") == 1
