"""The numbers of a timing study's report: % time saved with a bootstrap confidence interval, paired per case,
and the Wilcoxon signed-rank test, both from scipy; summaries per condition and per participant.

Pairing: a case's manual time is the mean active time of its manual masks (over the participants who did
it manually), its assisted time likewise; only cases with both are paired. Time saved is
100 × (1 − mean assisted / mean manual) over the paired cases: the share of manual annotation time the
model saves, the quantity behind MedSAM's "82% less time". Its 95% interval resamples cases (BCa, scipy's
default; the percentile method when BCa is undefined, e.g. for identical resamples).
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

RESAMPLES = 9999
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Measurement:
    """One finished mask of a study: its case, who did it, in which condition, when, and its active time."""

    case: int
    participant: int
    condition: str
    active_s: float
    position: int = 0


@dataclass(frozen=True)
class Pair:
    case: int
    manual_s: float
    assisted_s: float


def pairs(measurements: Iterable[Measurement]) -> list[Pair]:
    """Per case, the mean manual and mean assisted active time; cases done in only one condition are left out."""
    by_case: dict[int, dict[str, list[float]]] = {}
    for m in measurements:
        by_case.setdefault(m.case, {}).setdefault(m.condition, []).append(m.active_s)
    return [
        Pair(case, statistics.fmean(times["manual"]), statistics.fmean(times["assisted"]))
        for case, times in sorted(by_case.items())
        if times.get("manual") and times.get("assisted")
    ]


def time_saved_pct(manual: Sequence[float], assisted: Sequence[float]) -> float | None:
    """None when there is no manual time to save from."""
    mean_manual = float(np.mean(manual)) if len(manual) else 0.0
    if mean_manual <= 0:
        return None
    return 100.0 * (1.0 - float(np.mean(assisted)) / mean_manual)


def _saved(manual: np.ndarray, assisted: np.ndarray, axis: int = -1) -> np.ndarray:
    return 100.0 * (1.0 - np.mean(assisted, axis=axis) / np.mean(manual, axis=axis))


def bootstrap_ci(
    manual: Sequence[float], assisted: Sequence[float], seed: int = 0
) -> tuple[tuple[float, float] | None, str]:
    """The 95% interval of time saved, resampling pairs; (None, why) when there is no interval to give."""
    if len(manual) < 2:
        return None, "needs at least two paired cases"
    if min(manual) <= 0 and float(np.mean(manual)) <= 0:
        return None, "no manual time to save from"
    data = (np.asarray(manual, dtype=float), np.asarray(assisted, dtype=float))
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BCa warns (and gives NaN) on degenerate resamples
            result = scipy_stats.bootstrap(
                data,
                _saved,
                paired=True,
                vectorized=True,
                n_resamples=RESAMPLES,
                confidence_level=CONFIDENCE,
                method=method,
                rng=np.random.default_rng(seed),
            )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if math.isfinite(low) and math.isfinite(high):
            return (low, high), method
    return None, "undefined for these data"


def wilcoxon_p(manual: Sequence[float], assisted: Sequence[float]) -> tuple[float | None, str]:
    """Two-sided Wilcoxon signed-rank p-value of the paired per-case times; (None, why) when undefined."""
    if len(manual) < 1:
        return None, "needs paired cases"
    if all(m == a for m, a in zip(manual, assisted, strict=True)):
        return None, "every paired difference is zero"
    result = scipy_stats.wilcoxon(manual, assisted)
    return float(result.pvalue), "Wilcoxon signed-rank, two-sided"


def describe(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "mean": None, "median": None, "sd": None}
    return {
        "n": len(values),
        "mean": statistics.fmean(values),
        "median": statistics.median(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
    }


def analyse(measurements: Sequence[Measurement], seed: int = 0) -> dict[str, object]:
    """Everything the report states about time: per condition, per participant, paired per case."""
    paired = pairs(measurements)
    manual = [p.manual_s for p in paired]
    assisted = [p.assisted_s for p in paired]
    ci, ci_method = bootstrap_ci(manual, assisted, seed)
    p_value, test = wilcoxon_p(manual, assisted)
    by_participant: dict[int, dict[str, list[float]]] = {}
    for m in measurements:
        by_participant.setdefault(m.participant, {}).setdefault(m.condition, []).append(m.active_s)
    return {
        "n_masks": len(measurements),
        "n_pairs": len(paired),
        "time_saved_pct": time_saved_pct(manual, assisted),
        "ci95": list(ci) if ci else None,
        "ci_method": ci_method,
        "p_value": p_value,
        "test": test,
        "per_condition": {
            condition: describe([m.active_s for m in measurements if m.condition == condition])
            for condition in ("manual", "assisted")
        },
        "per_participant": {
            participant: {c: describe(v) for c, v in sorted(times.items())}
            for participant, times in sorted(by_participant.items())
        },
        "pairs": [{"case": p.case, "manual_s": p.manual_s, "assisted_s": p.assisted_s} for p in paired],
    }
