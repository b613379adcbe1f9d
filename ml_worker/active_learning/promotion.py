"""Held-out comparison of two model versions and the rule that decides whether the candidate is promoted.

Both versions are evaluated on the same held-out cases, from the cached embeddings (they share the image
encoder, so no encoder runs), with the protocol of ``manage.py evaluate``: box DSC and NSD, then
corrective clicks placed as in Mazurowski et al. with the previous logits fed back, Dice per click, NoC@90.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..evaluation.cases import EmbeddedCase
from ..evaluation.runner import EvalConfig, Predictor, Report, evaluate_embedded
from ..training.cases import TrainingCase


def as_evaluation_case(case: TrainingCase) -> EmbeddedCase:
    """The evaluation library's view of a training case: the final mask is the reference."""
    return EmbeddedCase(
        case_id=case.case_id,
        source=case.series_id,
        slice_index=case.slice_index,
        label=case.label,
        reference=case.final_mask,
        spacing=case.spacing,
        preprocessing=str(case.meta.get("preprocessing", "")),
        embedding=case.embedding,
    )


def evaluate_version(predictor: Predictor, cases: Sequence[TrainingCase], config: EvalConfig) -> Report:
    """One version on held-out cases, decoder only."""
    return evaluate_embedded(predictor, [as_evaluation_case(c) for c in cases], config)


def compare_versions(
    parent: Predictor, candidate: Predictor, cases: Sequence[TrainingCase], config: EvalConfig
) -> dict[str, Report]:
    """The parent's and the candidate's reports on the same held-out cases, same boxes, one run."""
    return {
        "parent": evaluate_version(parent, cases, config),
        "candidate": evaluate_version(candidate, cases, config),
    }


def dice_after(summary: dict[str, Any], clicks: int) -> float:
    """Mean Dice after ``clicks`` corrective clicks (0: the box alone) from an evaluation summary."""
    curve = summary["mean_dice_per_click"]
    if clicks >= len(curve):
        raise ValueError(f"the evaluation ran {len(curve) - 1} clicks; the rule needs {clicks}")
    return float(curve[clicks])


@dataclass(frozen=True)
class PromotionRule:
    """Default: held-out box DSC not lower and Dice after 3 clicks higher (the project can change it).

    ``dsc_margin``: the candidate's DSC must be at least the parent's + margin (0 = "not lower"; negative
    tolerates a small loss). ``click_margin``: the Dice after ``clicks`` clicks must exceed the parent's +
    margin. ``min_cases``: refuse to decide on fewer held-out cases.
    """

    dsc_margin: float = 0.0
    clicks: int = 3
    click_margin: float = 0.0
    min_cases: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "dsc_margin": self.dsc_margin,
            "clicks": self.clicks,
            "click_margin": self.click_margin,
            "min_cases": self.min_cases,
        }


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reasons: list[str] = field(default_factory=list)
    deltas: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"promote": self.promote, "reasons": list(self.reasons), "deltas": dict(self.deltas)}


def decide(
    parent: dict[str, Any], candidate: dict[str, Any], rule: PromotionRule | None = None
) -> PromotionDecision:
    """Whether the candidate beats the parent by ``rule``, given the two evaluation summaries of one run.

    Every failed condition is named in ``reasons``; ``deltas`` holds candidate − parent for box DSC, NSD
    and Dice after ``rule.clicks`` clicks.
    """
    rule = rule or PromotionRule()
    reasons: list[str] = []
    if parent["n"] != candidate["n"]:
        reasons.append(f"the versions were evaluated on different cases ({parent['n']} vs {candidate['n']})")
    if candidate["n"] < rule.min_cases:
        reasons.append(f"only {candidate['n']} held-out cases (the rule needs {rule.min_cases})")
    d_dsc = float(candidate["mean_dsc"]) - float(parent["mean_dsc"])
    d_nsd = float(candidate["mean_nsd"]) - float(parent["mean_nsd"])
    d_click = dice_after(candidate, rule.clicks) - dice_after(parent, rule.clicks)
    if d_dsc < rule.dsc_margin:
        reasons.append(f"held-out DSC {d_dsc:+.4f} vs the active version (needs >= {rule.dsc_margin:+.4f})")
    if d_click <= rule.click_margin:
        reasons.append(
            f"Dice after {rule.clicks} clicks {d_click:+.4f} vs the active version (needs > {rule.click_margin:+.4f})"
        )
    return PromotionDecision(
        promote=not reasons,
        reasons=reasons,
        deltas={"dsc": d_dsc, "nsd": d_nsd, f"dice_after_{rule.clicks}_clicks": d_click},
    )
