"""``manage.py bench_active_learning`` refuses bad input with a clear message and writes nothing."""

from __future__ import annotations

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
