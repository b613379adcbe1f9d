"""The report's statistics on known data, checked against scipy and against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from annotator.timing.stats import Measurement, analyse, bootstrap_ci, pairs, time_saved_pct, wilcoxon_p

# Seconds per case: manual, assisted (five cases).
MANUAL = [100.0, 120.0, 90.0, 150.0, 80.0]
ASSISTED = [20.0, 30.0, 25.0, 40.0, 10.0]


def test_time_saved_is_one_minus_the_ratio_of_mean_times():
    # (20 + 30 + 25 + 40 + 10) / (100 + 120 + 90 + 150 + 80) = 125 / 540
    assert time_saved_pct(MANUAL, ASSISTED) == pytest.approx(100 * (1 - 125 / 540))


def test_the_interval_is_scipys_paired_bootstrap_of_that_statistic():
    (low, high), method = bootstrap_ci(MANUAL, ASSISTED, seed=3)
    expected = scipy_stats.bootstrap(
        (np.array(MANUAL), np.array(ASSISTED)),
        lambda m, a, axis: 100 * (1 - a.mean(axis) / m.mean(axis)),
        paired=True,
        vectorized=True,
        rng=np.random.default_rng(3),
    ).confidence_interval
    assert method == "BCa"
    assert (low, high) == pytest.approx((expected.low, expected.high))
    assert low < time_saved_pct(MANUAL, ASSISTED) < high


def test_the_paired_test_is_scipys_wilcoxon_and_five_cases_all_faster_give_p_one_sixteenth():
    p, _ = wilcoxon_p(MANUAL, ASSISTED)
    assert p == pytest.approx(scipy_stats.wilcoxon(MANUAL, ASSISTED).pvalue)
    # exact two-sided p with n = 5, every difference positive: 2 / 2**5
    assert p == pytest.approx(0.0625)


def test_no_interval_or_test_where_the_data_cannot_give_one():
    assert bootstrap_ci([100.0], [20.0]) == (None, "needs at least two paired cases")
    assert wilcoxon_p([5.0, 6.0], [5.0, 6.0]) == (None, "every paired difference is zero")


def test_cases_pair_the_mean_of_each_condition_and_unpaired_cases_are_left_out():
    measurements = [
        Measurement(case=1, participant=7, condition="manual", active_s=100),
        Measurement(case=1, participant=8, condition="assisted", active_s=30),
        Measurement(case=1, participant=9, condition="assisted", active_s=10),
        Measurement(case=2, participant=7, condition="assisted", active_s=50),
    ]
    assert [(p.case, p.manual_s, p.assisted_s) for p in pairs(measurements)] == [(1, 100.0, 20.0)]


def test_the_analysis_reports_conditions_participants_and_pairs():
    measurements = [
        Measurement(case=c, participant=1 + c % 2, condition="manual", active_s=m)
        for c, m in enumerate(MANUAL)
    ] + [
        Measurement(case=c, participant=2 - c % 2, condition="assisted", active_s=a)
        for c, a in enumerate(ASSISTED)
    ]
    report = analyse(measurements, seed=3)
    assert report["n_masks"] == 10 and report["n_pairs"] == 5
    assert report["time_saved_pct"] == pytest.approx(time_saved_pct(MANUAL, ASSISTED))
    assert report["ci95"] == pytest.approx(list(bootstrap_ci(MANUAL, ASSISTED, seed=3)[0]))
    assert report["p_value"] == pytest.approx(0.0625)
    assert report["per_condition"]["manual"]["mean"] == pytest.approx(108.0)
    assert report["per_condition"]["assisted"]["median"] == pytest.approx(25.0)
    assert report["per_participant"][1]["manual"]["n"] == 3
