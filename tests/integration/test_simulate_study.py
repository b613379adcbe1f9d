"""`manage.py simulate_study` end to end: it imports the real lesions, starts the real stack, runs scripted
participants through the WebSocket and REST API, and reports a simulated study that never mixes with real
work. Runs in a throwaway database and media folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.livestack import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHECK = """
import json
from annotator.models import InteractionEvent, TimingStudy
from annotator.actions.interactions import as_events
from annotator.actions.simulation import reference_cases
from annotator.actions.timing_report import model_version_dashboard, study_report
study = TimingStudy.objects.get(pk=STUDY)
slices = {(c.series, c.label): len(c.slices) for c in reference_cases(study.project)}
runs = []
for run in study.study_tasks.select_related("case", "assignment", "participant"):
    events = InteractionEvent.objects.filter(assignment=run.assignment).order_by("seq")
    kinds = [e.kind for e in events]
    runs.append({
        "condition": run.condition, "state": run.assignment.state, "slices": slices[(run.case.series_id, run.case.label_id)],
        "kinds": kinds, "transports": sorted({e.transport for e in events}),
        "strokes": [(e.duration_ms, e.detail.get("length_px")) for e in events if e.kind == "brush"],
        "participant": run.participant.username,
    })
print(json.dumps({"runs": runs, "dashboard": model_version_dashboard(study.project), "simulated": study.simulated,
                  "design": study.design, "report_n": study_report(study)["n_masks"]}))
"""


def test_a_simulated_study_on_the_real_lesions_reports_time_saved_and_stays_apart(tmp_path: Path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "SECRET_KEY": "simulation-test",
        "DEBUG": "false",
    }
    out = tmp_path / "result.json"
    argv = [
        sys.executable,
        "manage.py",
        "simulate_study",
        "--json",
        str(out),
        "--cases",
        "2",
        "--participants",
        "2",
    ]
    done = subprocess.run(
        [*argv, "--seed", "5"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert json.loads(done.stdout) == result
    for key in ("time_saved_pct", "ci95", "p_value", "n_masks", "dice_manual", "dice_assisted", "params"):
        assert key in result
    # Two participants, two cases: four masks, each case done once per condition
    assert result["n_masks"] == 4 and result["simulated"] is True
    assert isinstance(result["time_saved_pct"], float)
    assert result["dice_manual"] == pytest.approx(1.0)  # the manual trace follows the reference
    assert 0.5 < result["dice_assisted"] <= 1.0
    params = result["params"]
    assert (
        params["box_s"] == 7.0 and "Papadopoulos" in params["sources"]["box_s"] and len(params["paces"]) == 2
    )

    check = CHECK.replace("STUDY", str(result["study"]))
    shell = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", check], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert shell.returncode == 0, shell.stderr[-3000:]
    facts = json.loads(shell.stdout.strip().splitlines()[-1])
    assert facts["simulated"] and facts["report_n"] == 4
    # Every run was submitted and logged over the socket, one scroll and one save per slice with the lesion
    paces = dict(zip([f"p{n + 1}" for n in range(2)], params["paces"], strict=True))
    for run in facts["runs"]:
        kinds = run["kinds"]
        assert run["state"] == "submitted" and run["transports"] == ["socket"]
        assert kinds[0] == "page.open" and kinds[-1] == "page.close"
        assert kinds.count("slice") == run["slices"] == kinds.count("save")
        if run["condition"] == "manual":
            assert "prompt" not in kinds and kinds.count("fill") >= run["slices"]
            pace = paces[run["participant"].split("-")[-1]]
            for duration, length in run["strokes"]:
                # from press to release, a traced outline takes its length at the drawing speed
                expected = 1000 * pace * length / params["draw_speed_px_s"]
                assert duration == pytest.approx(expected, abs=2.0)  # lengths are logged to 0.1 px
        else:
            assert (
                kinds.count("prompt")
                == run["slices"]
                == kinds.count("prompt.result")
                == kinds.count("accept")
            )
    # Simulated work never reaches the model-version dashboard of real work
    assert facts["dashboard"] == []
