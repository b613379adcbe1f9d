"""The terminal output of ``manage.py evaluate``: a line per case and the summary of a run
(:func:`ml_worker.evaluation.runner.summarize`)."""

from __future__ import annotations

import math
from typing import Any

from .runner import CaseResult


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


TABLE_HEADER = (
    f"{'case':<44} {'area':>6} {'DSC':>6} {'NSD':>6} {'DSC@N':>6} {'NSD@N':>6} {'NoC90':>6} {'s':>6}"
)


def format_case(result: CaseResult) -> str:
    noc90 = f"{result.noc90}" if result.reached90 else f">{result.noc90}"
    case_id = result.case_id if len(result.case_id) <= 44 else "…" + result.case_id[-43:]
    return (
        f"{case_id:<44} {result.area_px:>6} {_fmt(result.dsc):>6} {_fmt(result.nsd):>6} "
        f"{_fmt(result.dsc_final):>6} {_fmt(result.nsd_final):>6} {noc90:>6} {_fmt(result.seconds, 2):>6}"
    )


def format_summary(summary: dict[str, Any]) -> str:
    curve = " → ".join(_fmt(v) for v in summary["mean_dice_per_click"])
    return "\n".join(
        [
            f"cases: {summary['n']}",
            f"box prompt:       mean DSC {_fmt(summary['mean_dsc'])} (median {_fmt(summary['median_dsc'])}), "
            f"mean NSD {_fmt(summary['mean_nsd'])} at {summary['nsd_tolerance_mm']:g} mm",
            f"after {summary['max_clicks']} clicks:  mean DSC {_fmt(summary['mean_dsc_final'])}, "
            f"mean NSD {_fmt(summary['mean_nsd_final'])}",
            f"mean Dice per click: {curve}",
            f"NoC@90: {_fmt(summary['noc90'], 2)} (reached by {_fmt(100 * summary['reached90'], 1)}% of cases "
            f"within {summary['max_clicks']} clicks)",
            f"after the clicks: {summary['worse_than_box']} cases worse than with the box alone, "
            f"{summary['better_than_box']} better",
            *(
                [
                    f"click guard: stopped {summary['guard_stops']['outside_region']} cases at a click outside "
                    f"the mask's region, {summary['guard_stops']['iou_dropped']} at a lower predicted IoU"
                ]
                if summary["click_guard"]
                else []
            ),
            f"time per case: {_fmt(summary['mean_seconds'], 3)} s (total {_fmt(summary['total_seconds'], 1)} s)",
        ]
    )
