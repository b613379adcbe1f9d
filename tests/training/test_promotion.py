"""The promotion rule: a candidate replaces the active version only when the held-out numbers say so."""

from __future__ import annotations

from ml_worker.active_learning.promotion import PromotionRule, decide


def summary(dsc: float, curve: list[float], n: int = 40, nsd: float = 0.8) -> dict:
    return {"n": n, "mean_dsc": dsc, "mean_nsd": nsd, "mean_dice_per_click": [dsc, *curve]}


ACTIVE = summary(0.80, [0.78, 0.75, 0.72, 0.70, 0.68])


def test_a_candidate_better_at_the_box_and_after_three_clicks_is_promoted():
    decision = decide(ACTIVE, summary(0.83, [0.86, 0.89, 0.91, 0.92, 0.93]))
    assert decision.promote and decision.reasons == []
    assert decision.deltas["dsc"] > 0 and decision.deltas["dice_after_3_clicks"] > 0


def test_a_candidate_with_a_lower_box_dsc_is_refused_even_if_clicks_improve():
    decision = decide(ACTIVE, summary(0.79, [0.86, 0.89, 0.91, 0.92, 0.93]))
    assert not decision.promote
    assert any("held-out DSC" in reason for reason in decision.reasons)


def test_a_candidate_no_better_after_three_clicks_is_refused():
    same_clicks = summary(0.82, [0.78, 0.75, 0.72, 0.95, 0.95])  # better box, equal Dice after 3 clicks
    decision = decide(ACTIVE, same_clicks)
    assert not decision.promote
    assert any("after 3 clicks" in reason for reason in decision.reasons)


def test_an_identical_candidate_is_refused():
    assert not decide(ACTIVE, dict(ACTIVE)).promote


def test_versions_evaluated_on_different_cases_cannot_be_compared():
    decision = decide(ACTIVE, summary(0.9, [0.95] * 5, n=39))
    assert not decision.promote
    assert any("different cases" in reason for reason in decision.reasons)


def test_the_rule_is_configurable():
    strict = PromotionRule(dsc_margin=0.05, clicks=1, click_margin=0.1)
    candidate = summary(0.83, [0.86, 0.89, 0.91, 0.92, 0.93])
    assert not decide(ACTIVE, candidate, strict).promote  # +0.03 DSC is not the +0.05 asked for
    assert decide(ACTIVE, candidate, PromotionRule(dsc_margin=0.02, clicks=1)).promote
    tolerant = PromotionRule(dsc_margin=-0.02)
    assert decide(ACTIVE, summary(0.79, [0.86, 0.89, 0.91, 0.92, 0.93]), tolerant).promote
