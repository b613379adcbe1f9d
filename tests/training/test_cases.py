"""Training cases and their splits: whole series on one side, a held-out set that never changes."""

from __future__ import annotations

import numpy as np
import pytest

from ml_worker.training.cases import (
    TrainingCase,
    split_by_labels,
    split_heldout,
    split_validation,
)


def make_case(series: str, index: int, label: int = 1, first: np.ndarray | None = None) -> TrainingCase:
    mask = np.zeros((16, 16), bool)
    mask[4:12, 4:12] = True
    return TrainingCase(
        case_id=f"{series}:axial:{index}:label{label}",
        series_id=series,
        slice_index=index,
        label=label,
        embedding=np.zeros((4, 2, 2), np.float32),
        image_size=(16, 16),
        final_mask=mask,
        first_prediction=first,
    )


def volume(series: str, slices: int = 5, labels=(1, 2)) -> list[TrainingCase]:
    return [make_case(series, i, lab) for i in range(slices) for lab in labels]


def test_correction_effort_is_one_minus_the_dice_of_the_first_prediction():
    exact = make_case("s", 0).final_mask
    half = exact.copy()
    half[:, 8:] = False

    assert make_case("s", 0, first=exact).correction_effort == 0.0
    assert make_case("s", 0, first=half).correction_effort == pytest.approx(1 - 2 * 32 / (32 + 64))
    assert make_case("s", 0, first=np.zeros((16, 16), bool)).correction_effort == 1.0
    assert make_case("s", 0).correction_effort is None  # drawn by hand: no proposal to compare


def test_a_case_is_stored_as_float16_and_refuses_an_empty_or_misshapen_mask():
    case = make_case("s", 0)
    assert case.embedding.dtype == np.float16
    with pytest.raises(ValueError, match="empty"):
        TrainingCase("c", "s", 0, 1, np.zeros((4, 2, 2)), (8, 8), np.zeros((8, 8), bool))
    with pytest.raises(ValueError, match="does not match"):
        TrainingCase("c", "s", 0, 1, np.zeros((4, 2, 2)), (8, 8), np.ones((8, 9), bool))


def test_the_heldout_split_never_shares_a_series_with_training():
    cases = [c for s in range(40) for c in volume(f"series-{s}")]

    train, heldout = split_heldout(cases, fraction=0.25, salt="project-7")

    train_series = {c.series_id for c in train}
    heldout_series = {c.series_id for c in heldout}
    assert train_series and heldout_series
    assert not train_series & heldout_series
    assert len(train) + len(heldout) == len(cases)
    assert 4 <= len(heldout_series) <= 18  # about a quarter of 40 series


def test_the_heldout_set_is_frozen_when_cases_and_series_are_added():
    before = [c for s in range(30) for c in volume(f"series-{s}", slices=3)]
    _, heldout_before = split_heldout(before, fraction=0.3, salt="p")

    more_slices = [make_case(f"series-{s}", 10 + i) for s in range(30) for i in range(2)]
    new_series = [c for s in range(30, 60) for c in volume(f"series-{s}", slices=3)]
    after = new_series + before + more_slices  # order does not matter either
    train_after, heldout_after = split_heldout(after, fraction=0.3, salt="p")

    ids_after = {c.case_id for c in heldout_after}
    assert {c.case_id for c in heldout_before} <= ids_after
    old_heldout_series = {c.series_id for c in heldout_before}
    assert all(c.series_id in old_heldout_series for c in more_slices if c.case_id in ids_after)
    assert not {c.series_id for c in train_after} & {c.series_id for c in heldout_after}


def test_the_salt_decides_which_series_are_held_out():
    cases = [c for s in range(30) for c in volume(f"series-{s}", slices=1)]
    a = {c.series_id for c in split_heldout(cases, 0.3, salt="a")[1]}
    b = {c.series_id for c in split_heldout(cases, 0.3, salt="b")[1]}
    assert a != b
    assert a == {c.series_id for c in split_heldout(cases, 0.3, salt="a")[1]}


def test_the_validation_split_keeps_whole_series_and_both_sides_non_empty():
    cases = volume("a") + volume("b") + volume("c")

    fit, val = split_validation(cases, fraction=0.01)  # would round to nothing: one series still goes

    assert fit and val
    assert not {c.series_id for c in fit} & {c.series_id for c in val}
    fit, val = split_validation(volume("a") + volume("b"), fraction=0.99)
    assert fit and val


def test_one_series_splits_by_structure_when_asked_and_not_at_all_otherwise():
    cases = volume("only", slices=4, labels=(1, 2, 3))

    fit, val = split_validation(cases)
    assert len(fit) == len(cases) and val == []

    fit, val = split_validation(cases, by="structure")
    assert fit and val
    assert not {c.label for c in fit} & {c.label for c in val}  # one structure's slices stay together


def test_holding_out_labels_puts_exactly_those_labels_aside():
    cases = volume("a", labels=(5, 6, 7))
    train, heldout = split_by_labels(cases, [5])
    assert {c.label for c in heldout} == {5} and {c.label for c in train} == {6, 7}
