"""The scripted streams the viewer's running clock is tested on (frontend/src/timing/activeTime.cases.json)
give the same numbers on the server: one definition of active time, two implementations that agree."""

from __future__ import annotations

import json

import pytest

from annotator.timing.activity import Event, per_mask
from scripts.livestack import ROOT

CASES = json.loads((ROOT / "frontend" / "src" / "timing" / "activeTime.cases.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_server_derivation_gives_each_shared_case_its_expected_time(case):
    seqs = case.get("seqs") or list(range(len(case["events"])))
    events = [
        Event(
            session,
            seq,
            t * 1000.0,
            kind,
            user=1,
            series=5,
            label=label,
            duration=(rest[0] if rest else 0) * 1000.0,
        )
        for seq, (session, t, kind, label, *rest) in zip(seqs, case["events"], strict=True)
    ]
    masks = per_mask(events, case.get("idle_s", 30) * 1000.0)
    got = {str(label): s.active_ms / 1000.0 for (_, _, label), s in masks.items() if s.active_ms}
    assert got == {k: float(v) for k, v in case["expected"].items()}
