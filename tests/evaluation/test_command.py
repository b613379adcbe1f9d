"""``manage.py evaluate`` parses its options, runs the library and writes the table and the JSON report."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from ml_worker.evaluation import runner
from tests.evaluation.fakes import FakePredictor


@pytest.fixture
def fake_model(monkeypatch) -> list[FakePredictor]:
    """``--model fake`` resolves to a :class:`FakePredictor`; the list collects the instances made."""
    made: list[FakePredictor] = []

    def resolve(name: str) -> FakePredictor | None:
        if name != "fake":
            return None
        made.append(FakePredictor(stubborn=True))
        return made[-1]

    monkeypatch.setattr(runner, "PREDICTOR_RESOLVERS", [resolve, *runner.PREDICTOR_RESOLVERS])
    return made


@pytest.fixture
def dataset(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    labels = np.zeros((32, 32), np.uint8)
    labels[4:12, 4:12] = 1
    labels[20:30, 20:30] = 2
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "images" / "a.png")
    Image.fromarray(labels).save(tmp_path / "labels" / "a.png")
    return tmp_path


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("evaluate", *args, stdout=out)
    return out.getvalue()


def test_evaluate_prints_a_table_and_writes_the_report(dataset, tmp_path, fake_model):
    report = tmp_path / "out.json"
    text = run(
        "--data", str(dataset), "--json", str(report), "--model", "fake", "--labels", "2", "--clicks", "3"
    )
    assert "a.png:label2" in text and "a.png:label1" not in text
    assert "NoC@90: 0.00" in text
    data = json.loads(report.read_text())
    assert data["summary"]["n"] == 1 and data["summary"]["mean_dsc"] == 1.0  # the fake's box is the square
    assert data["config"]["labels"] == [2] and data["config"]["clicks"] == 3
    assert len(fake_model) == 1


def test_options_reach_the_configuration(dataset, tmp_path, fake_model):
    report = tmp_path / "out.json"
    run(
        "--data",
        str(dataset),
        "--json",
        str(report),
        "--model",
        "fake",
        "--axis",
        "coronal",
        "--min-area",
        "70",
        "--box-jitter",
        "3",
        "--no-mask-input",
        "--modality",
        "other",
        "--window",
        "lung",
        "--tolerance",
        "1.5",
        "--seed",
        "9",
        "--max-cases",
        "1",
    )
    config = json.loads(report.read_text())["config"]
    expected = {
        "axis": "coronal",
        "min_area": 70,
        "box_jitter": 3,
        "feed_mask": False,
        "modality": "other",
        "window": "lung",
        "tolerance_mm": 1.5,
        "seed": 9,
        "max_cases": 1,
        "model": "fake",
        "data": str(dataset),
    }
    assert {key: config[key] for key in expected} == expected


def test_bad_input_is_a_command_error_and_writes_nothing(dataset, tmp_path, fake_model):
    report = tmp_path / "out.json"
    with pytest.raises(CommandError, match="unknown model 'nope'"):
        run("--data", str(dataset), "--json", str(report), "--model", "nope")
    with pytest.raises(CommandError, match="images/ and labels/"):
        run("--data", str(tmp_path / "missing"), "--json", str(report), "--model", "fake")
    with pytest.raises(CommandError, match="no case"):
        run("--data", str(dataset), "--json", str(report), "--model", "fake", "--min-area", "1000")
    with pytest.raises(CommandError, match="labels"):
        run("--data", str(dataset), "--json", str(report), "--model", "fake", "--labels", "1,x")
    assert not report.exists()


def test_click_guard_option_simulates_the_viewers_guard(dataset, tmp_path, fake_model):
    report = tmp_path / "out.json"
    text = run("--data", str(dataset), "--json", str(report), "--model", "fake", "--click-guard")
    assert "click guard: stopped" in text
    data = json.loads(report.read_text())
    assert data["config"]["click_guard"] is True and data["summary"]["click_guard"] is True
