"""``manage.py bench_active_learning`` refuses bad input with a clear message and writes nothing."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command


def test_a_missing_dataset_folder_is_named_and_nothing_is_written(tmp_path):
    out = tmp_path / "bench.json"
    with pytest.raises(CommandError, match="images/ and labels/"):
        call_command("bench_active_learning", "--data", str(tmp_path / "nope"), "--json", str(out))
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--holdout-labels", "5", "--holdout-volumes", "a.nrrd"], "not both"),
        (["--labels", "5,6", "--holdout-labels", "5"], "both trained on and held out"),
        (["--axis", "axial,oblique"], "unknown axes"),
        (["--rounds", "0"], "rounds and cases per round"),
        (["--clicks", "2"], "needs 3 clicks"),
    ],
)
def test_contradictory_options_are_refused(tmp_path, args, message):
    out = tmp_path / "bench.json"
    with pytest.raises(CommandError, match=message):
        call_command("bench_active_learning", "--data", str(tmp_path), "--json", str(out), *args)
    assert not out.exists()


@pytest.mark.slow
def test_one_round_on_real_data_reports_the_heldout_numbers_before_and_after(tmp_path):
    # Given brain1 as the training pool and brain2 held out (the pyradiomics tumour MR, axial slices)
    from scripts.fetch_data import pyradiomics_lesions

    source = pyradiomics_lesions()
    data = tmp_path / "data"
    for part in ("images", "labels"):
        (data / part).mkdir(parents=True)
        for name in ("brain1.nrrd", "brain2.nrrd"):
            (data / part / name).symlink_to(source / part / name)
    out = tmp_path / "bench.json"
    # When one round "annotates" 4 cases, trains one step on them and evaluates both versions
    call_command(
        "bench_active_learning",
        *("--data", str(data), "--json", str(out), "--holdout-volumes", "brain2.nrrd"),
        *("--cases-per-round", "4", "--batch-size", "4", "--max-clicks", "1", "--clicks", "3"),
        *("--cache-dir", str(tmp_path / "embeddings"), "--keep-checkpoints", str(tmp_path / "versions")),
    )
    # Then the report holds the keys, the curves of both versions on the same 3 held-out slices
    result = json.loads(out.read_text())
    assert result["cases_train"] == 4 and result["cases_heldout"] == 3
    assert len(result["dice_per_click_before"]) == len(result["dice_per_click_after"]) == 4
    assert 0 < result["dsc_before"] <= 1 and 0 < result["dsc_after"] <= 1
    assert result["dsc_before"] == result["dice_per_click_before"][0] != result["dsc_after"]
    assert result["train_seconds"] > 0 and result["train_cpu_seconds"] > 0
    (round_,) = result["rounds"]
    assert round_["steps"] == 1 and round_["decision"]["promote"] in (True, False)
    assert round_["decision"]["reasons"] or round_["decision"]["promote"]
    assert (tmp_path / "versions" / "round1.pth").exists()
