"""The box + corrective-click loop, its summary and its report, against a predictor with known answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml_worker.evaluation.runner import EvalConfig, EvaluationError, evaluate, noc
from ml_worker.evaluation.text import format_case, format_summary
from tests.evaluation.fakes import FakePredictor

SIZE = 64  # divides the fake's 256 low-res grid: masks survive the round trip through logits exactly


def l_shape() -> np.ndarray:
    """A 10×10 square (rows and columns 20..29) without its 5×5 top-right corner: 75 pixels."""
    mask = np.zeros((SIZE, SIZE), bool)
    mask[20:30, 20:30] = True
    mask[20:25, 25:30] = False
    return mask


def square() -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), bool)
    mask[40:50, 5:15] = True
    return mask


def write_case(root: Path, name: str, label_map: np.ndarray) -> None:
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(exist_ok=True)
    Image.fromarray(np.full((SIZE, SIZE), 100, np.uint8)).save(root / "images" / name)
    Image.fromarray(label_map.astype(np.uint8)).save(root / "labels" / name)


@pytest.fixture
def l_dataset(tmp_path) -> Path:
    write_case(tmp_path, "l.png", l_shape())
    return tmp_path


def test_box_then_a_negative_click_in_the_false_positive_corner(l_dataset):
    # The box fills the whole 10×10 square: DSC = 2·75 / (100 + 75) = 6/7. The false positive is the 5×5
    # corner (rows 20..24, columns 25..29); its deepest pixel is its centre, x=27, y=22, 3 px from its edge;
    # the fake's 5×5 eraser there removes exactly the corner: Dice 1 after one click.
    fake = FakePredictor(radius=2)
    report = evaluate(l_dataset, EvalConfig(clicks=3), predictor=fake)
    (case,) = report.cases
    assert case.box == [20, 20, 29, 29]
    assert case.dsc == pytest.approx(6 / 7)
    assert case.nsd < 1.0
    assert case.clicks == [{"x": 27, "y": 22, "positive": False}]
    assert case.dice_per_click == pytest.approx([6 / 7, 1.0, 1.0, 1.0])  # perfect: no more clicks needed
    assert (case.dsc_final, case.nsd_final) == (1.0, 1.0)
    assert (case.noc90, case.reached90) == (1, True)
    assert case.area_px == 75 and case.seconds > 0 and case.decode_seconds > 0


def test_each_correction_sends_the_box_all_clicks_so_far_and_the_previous_logits(l_dataset):
    # A 3×3 eraser: the first click (x=27, y=22) leaves a 1-pixel ring of the 5×5 false-positive corner,
    # every ring pixel 1 px deep, so the second click goes to the ring's first pixel in raster order (25, 20).
    fake = FakePredictor(radius=1)
    report = evaluate(l_dataset, EvalConfig(clicks=2), predictor=fake, warm_up=False)
    assert report.cases[0].clicks == [
        {"x": 27, "y": 22, "positive": False},
        {"x": 25, "y": 20, "positive": False},
    ]
    first, second, third = fake.decode_calls
    assert first["points"] is None and first["mask_input"] is None
    assert first["boxes"].tolist() == [[20, 20, 29, 29]]
    for call in (second, third):
        assert np.array_equal(call["boxes"], first["boxes"])
    assert second["points"].tolist() == [[[27, 22]]] and second["point_labels"].tolist() == [[0]]
    assert third["points"].tolist() == [[[27, 22], [25, 20]]] and third["point_labels"].tolist() == [[0, 0]]
    assert np.array_equal(second["mask_input"], fake.outputs[0].low_res_logits)
    assert np.array_equal(third["mask_input"], fake.outputs[1].low_res_logits)
    # Dice: 150/175; then 91 predicted pixels (75 + the 16-pixel ring): 150/166; the eraser at (25, 20)
    # takes 3 ring pixels and 2 true pixels at column 24: 2·73 / (86 + 75)
    assert report.cases[0].dice_per_click == pytest.approx([150 / 175, 150 / 166, 146 / 161])


def test_without_mask_feedback_the_corrections_get_no_mask_input(l_dataset):
    fake = FakePredictor()
    evaluate(l_dataset, EvalConfig(clicks=2, feed_mask=False), predictor=fake, warm_up=False)
    assert all(call["mask_input"] is None for call in fake.decode_calls)


def test_a_model_that_never_improves_counts_the_maximum_clicks_and_is_not_reached(l_dataset):
    report = evaluate(l_dataset, EvalConfig(clicks=4), predictor=FakePredictor(stubborn=True))
    (case,) = report.cases
    assert case.dice_per_click == pytest.approx([6 / 7] * 5)
    assert (case.noc90, case.reached90) == (4, False)
    assert len(case.clicks) == 4
    assert report.summary["noc90"] == 4 and report.summary["reached90"] == 0.0


def test_summary_averages_over_cases_and_reports_per_label(tmp_path):
    label_map = l_shape().astype(np.uint8) + 2 * square().astype(np.uint8)
    write_case(tmp_path, "both.png", label_map)
    fake = FakePredictor(radius=2)
    report = evaluate(tmp_path, EvalConfig(clicks=2), predictor=fake, warm_up=False)
    summary = report.summary
    assert [c.case_id for c in report.cases] == ["both.png:label1", "both.png:label2"]
    assert summary["n"] == 2
    assert summary["mean_dsc"] == pytest.approx((6 / 7 + 1.0) / 2)  # the square's box is the square
    assert summary["noc90"] == pytest.approx(0.5)  # 1 click and 0 clicks
    assert summary["reached90"] == 1.0
    assert summary["mean_dice_per_click"] == pytest.approx([(6 / 7 + 1) / 2, 1.0, 1.0])
    assert summary["by_label"]["2"] == {"n": 1, "mean_dsc": 1.0, "mean_nsd": 1.0, "noc90": 0.0}
    assert fake.embed_calls == 1  # both labels are on one image: one embedding


def test_max_cases_stops_early(tmp_path):
    label_map = l_shape().astype(np.uint8) + 2 * square().astype(np.uint8)
    write_case(tmp_path, "both.png", label_map)
    report = evaluate(tmp_path, EvalConfig(clicks=0, max_cases=1), predictor=FakePredictor())
    assert report.summary["n"] == 1


def test_box_jitter_is_reproducible_per_seed_and_varies_across_seeds(l_dataset):
    def boxes(seed: int) -> list[list[float]]:
        return [
            c.box
            for c in evaluate(
                l_dataset, EvalConfig(clicks=0, box_jitter=5, seed=seed), predictor=FakePredictor()
            ).cases
        ]

    assert boxes(1) == boxes(1)
    seen = {tuple(boxes(seed)[0]) for seed in range(6)}
    assert len(seen) > 1
    for x0, y0, x1, y1 in seen:
        assert 15 <= x0 <= 20 and 15 <= y0 <= 20 and 29 <= x1 <= 34 and 29 <= y1 <= 34


def test_the_json_report_has_summary_and_cases(l_dataset, tmp_path):
    report = evaluate(l_dataset, EvalConfig(clicks=1), predictor=FakePredictor())
    out = tmp_path / "report.json"
    report.write_json(out)
    data = json.loads(out.read_text())
    assert {"n", "mean_dsc", "mean_nsd", "noc90"} <= set(data["summary"])
    assert data["summary"]["n"] == 1 and len(data["cases"]) == 1
    assert data["cases"][0]["case_id"] == "l.png:label1"
    assert data["cases"][0]["dice_per_click"] == pytest.approx([6 / 7, 1.0])
    assert data["model"] == {"name": "fake", "backend": "numpy"}
    assert data["config"]["clicks"] == 1


def test_the_terminal_table_shows_each_case_and_the_summary(l_dataset):
    report = evaluate(l_dataset, EvalConfig(clicks=0), predictor=FakePredictor(stubborn=True))
    row = format_case(report.cases[0])
    assert row.startswith("l.png:label1") and "0.857" in row and ">0" in row
    text = format_summary(report.summary)
    assert "mean DSC 0.857" in text and "NoC@90: 0.00 (reached by 0.0% of cases within 0 clicks)" in text


def test_noc_counts_clicks_until_the_target_and_the_maximum_when_never_reached():
    assert noc([0.95, 0.5]) == (0, True)
    assert noc([0.5, 0.89, 0.9, 0.95]) == (2, True)
    assert noc([0.5, 0.6, 0.7]) == (2, False)


def test_a_dataset_without_qualifying_cases_is_an_error(l_dataset):
    with pytest.raises(EvaluationError, match="no case"):
        evaluate(l_dataset, EvalConfig(min_area=500), predictor=FakePredictor())


def test_the_runtime_is_warmed_up_before_the_first_case_is_timed(l_dataset):
    fake = FakePredictor()
    report = evaluate(l_dataset, EvalConfig(clicks=1), predictor=fake)
    assert fake.embed_calls == 2  # the warm-up and the one case
    assert len(fake.decode_calls) == 2 + 2  # box and box + point + mask, then the case's box and click
    assert fake.decode_calls[1]["mask_input"] is not None
    assert report.summary["n"] == 1


def test_the_click_guard_keeps_the_box_mask_when_the_model_rates_the_correction_lower(l_dataset):
    # Unguarded, the corner click makes the mask perfect; guarded, the model's lower rating (0.8 < 0.9)
    # refuses it, the box mask stays and the simulated user stops.
    fake = FakePredictor(radius=2, ious=[0.9, 0.8])
    report = evaluate(l_dataset, EvalConfig(clicks=3, click_guard=True), predictor=fake, warm_up=False)
    (case,) = report.cases
    assert case.guard_stop == "iou_dropped" and case.clicks == []
    assert case.dice_per_click == pytest.approx([6 / 7] * 4)
    assert len(fake.decode_calls) == 2
    assert report.summary["guard_stops"] == {"outside_region": 0, "iou_dropped": 1}
    assert "at a lower predicted IoU" in format_summary(report.summary)


def test_the_click_guard_applies_a_correction_the_model_rates_no_lower(l_dataset):
    fake = FakePredictor(radius=2, ious=[0.9, 0.95])
    (case,) = evaluate(l_dataset, EvalConfig(clicks=3, click_guard=True), predictor=fake, warm_up=False).cases
    assert case.guard_stop is None and case.dsc_final == 1.0


def test_the_click_guard_refuses_a_click_far_from_the_current_mask(l_dataset):
    # The box prompt's answer is a 4×4 square in the far corner: the first click, in the missed L shape,
    # lies more than 12 px from it, so it is refused without a decode.
    corner = np.zeros((SIZE, SIZE), bool)
    corner[56:60, 56:60] = True
    fake = FakePredictor(radius=2, box_mask=corner)
    report = evaluate(l_dataset, EvalConfig(clicks=3, click_guard=True), predictor=fake, warm_up=False)
    (case,) = report.cases
    assert case.guard_stop == "outside_region" and len(fake.decode_calls) == 1
    assert case.dsc_final == case.dsc == 0.0
    # Without the guard the same clicks are decoded.
    unguarded = FakePredictor(radius=2, box_mask=corner)
    evaluate(l_dataset, EvalConfig(clicks=3), predictor=unguarded, warm_up=False)
    assert len(unguarded.decode_calls) == 4


def test_the_summary_counts_cases_ending_worse_and_better_than_the_box(l_dataset):
    report = evaluate(l_dataset, EvalConfig(clicks=1), predictor=FakePredictor(radius=2), warm_up=False)
    assert (report.summary["better_than_box"], report.summary["worse_than_box"]) == (1, 0)
