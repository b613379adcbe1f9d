"""Simulated prompts for training: corrective clicks come from the error region, boxes stay around the mask."""

from __future__ import annotations

import numpy as np
import pytest

from ml_worker.training.prompts import CLICK_MODES, jitter_boxes, sample_click


def disk(shape, cy, cx, r) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


@pytest.mark.parametrize("mode", CLICK_MODES)
def test_a_missed_part_of_the_structure_gets_a_positive_click_inside_it(mode):
    target = disk((64, 64), 32, 32, 15)
    prediction = target.copy()
    prediction[:, 32:] = False  # the right half is missed
    rng = np.random.default_rng(0)

    for _ in range(20):
        click = sample_click(prediction, target, rng, mode)
        assert click is not None and click.positive and click.label == 1
        assert target[click.y, click.x] and not prediction[click.y, click.x]


@pytest.mark.parametrize("mode", CLICK_MODES)
def test_a_leak_into_the_background_gets_a_negative_click_inside_the_leak(mode):
    target = disk((64, 64), 32, 20, 8)
    prediction = target | disk((64, 64), 32, 45, 10)  # a false blob on the right
    rng = np.random.default_rng(1)

    for _ in range(20):
        click = sample_click(prediction, target, rng, mode)
        assert click is not None and not click.positive and click.label == 0
        assert prediction[click.y, click.x] and not target[click.y, click.x]


def test_with_both_kinds_of_error_each_click_matches_the_error_under_it():
    target = disk((64, 64), 20, 20, 10)
    prediction = disk((64, 64), 20, 26, 10)  # shifted right: misses the left rim, leaks on the right
    rng = np.random.default_rng(2)
    kinds = set()

    for _ in range(200):
        click = sample_click(prediction, target, rng, "uniform")
        assert click.positive == bool(target[click.y, click.x] and not prediction[click.y, click.x])
        assert click.positive != bool(prediction[click.y, click.x])
        kinds.add(click.positive)
    assert kinds == {True, False}  # uniform sampling reaches both error regions


def test_no_click_when_the_prediction_is_right():
    target = disk((32, 32), 16, 16, 6)
    assert sample_click(target.copy(), target, np.random.default_rng(0)) is None


def test_errors_outside_the_valid_region_are_ignored():
    target = np.zeros((32, 32), bool)
    prediction = np.zeros((32, 32), bool)
    prediction[:, 24:] = True  # a leak only in the padded strip
    valid = np.zeros((32, 32), bool)
    valid[:, :24] = True

    assert sample_click(prediction, target, np.random.default_rng(0), valid=valid) is None


def test_weighted_clicks_fall_deeper_inside_the_error_than_uniform_ones():
    target = np.zeros((64, 64), bool)
    prediction = disk((64, 64), 32, 32, 20)  # everything predicted is wrong
    rng = np.random.default_rng(3)

    uniform = np.mean([sample_click(prediction, target, rng, "uniform").depth_px for _ in range(300)])
    weighted = np.mean([sample_click(prediction, target, rng, "weighted").depth_px for _ in range(300)])
    deepest = sample_click(prediction, target, rng, "deepest")

    assert weighted > uniform + 2
    assert (deepest.x, deepest.y) == (32, 32)


def test_jittered_boxes_contain_the_tight_box_and_stay_in_the_slice():
    rng = np.random.default_rng(0)
    tight = np.array([[10.0, 20.0, 50.0, 60.0], [0.0, 0.0, 255.0, 120.0], [200.0, 3.0, 250.0, 9.0]])
    bounds = np.array([[255.0, 255.0], [255.0, 127.0], [252.0, 255.0]])

    for _ in range(200):
        boxes = jitter_boxes(tight, bounds, 5.0, rng)
        assert np.all(boxes[:, :2] <= tight[:, :2]) and np.all(boxes[:, 2:] >= tight[:, 2:])
        assert np.all(tight[:, :2] - boxes[:, :2] <= 5.0) and np.all(boxes[:, 2:] - tight[:, 2:] <= 5.0)
        assert np.all(boxes >= 0) and np.all(boxes[:, 2:] <= bounds)


def test_jitter_moves_the_sides_and_zero_jitter_keeps_the_tight_box():
    rng = np.random.default_rng(0)
    tight = np.tile([[100.0, 100.0, 140.0, 150.0]], (500, 1))
    bounds = np.full((500, 2), 255.0)

    moved = jitter_boxes(tight, bounds, 5.0, rng)
    assert np.abs(moved - tight).mean() == pytest.approx(2.5, abs=0.3)  # uniform in [0, 5]
    assert np.array_equal(jitter_boxes(tight, bounds, 0.0, rng), tight)
