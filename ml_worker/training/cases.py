"""Training cases as plain data, and the split into train / held-out / validation by whole groups.

A :class:`TrainingCase` is one corrected structure on one slice: the slice's cached image embedding, the
final (corrected or approved) mask, and, when the model proposed one, its first prediction, from which the
correction effort ``1 − Dice(first prediction, final mask)`` follows. Cases carry the id of their series
(volume) so that the split never puts neighbouring slices of one structure on both sides.

Splits hash a group key (the series id, or series + label for "structure" splits) with a salt: a group is
held out iff its hash falls below the fraction. The decision depends on nothing but the group and the salt,
so the held-out set is frozen: adding cases (or whole series) never moves an existing series across.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..evaluation.metrics import dice

GroupBy = Literal["series", "structure"]
GROUP_BYS: tuple[str, ...] = ("series", "structure")


@dataclass(frozen=True, eq=False)
class TrainingCase:
    """One structure on one slice, ready to train on without running the image encoder.

    Attributes:
        case_id: unique and stable, e.g. ``"<series>:axial:12:label3"``.
        series_id: the volume (series) the slice belongs to: the unit of the held-out split.
        slice_index: index of the slice along its axis (None for 2D images).
        label: label value (or label-set id) of the structure.
        embedding: ``(C, h, w)`` float16 image embedding of the slice (``(256, 64, 64)`` for LiteMedSAM),
            made by the encoder the model being trained shares.
        image_size: ``(H, W)`` of the slice that was embedded (image frame).
        final_mask: ``(H, W)`` bool, the mask the team accepted (image frame).
        first_prediction: ``(H, W)`` bool, the model's first proposal, or None (drawn by hand).
        prompts: the prompts that produced ``first_prediction`` (e.g. ``{"boxes": [[x0, y0, x1, y1]]}``).
        spacing: ``(row_mm, col_mm)`` pixel size, for NSD in millimetres.
        seconds: annotation time spent on the mask, when measured.
    """

    case_id: str
    series_id: str
    slice_index: int | None
    label: int
    embedding: np.ndarray
    image_size: tuple[int, int]
    final_mask: np.ndarray
    first_prediction: np.ndarray | None = None
    prompts: dict[str, Any] | None = None
    spacing: tuple[float, float] = (1.0, 1.0)
    seconds: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        h, w = (int(v) for v in self.image_size)
        object.__setattr__(self, "image_size", (h, w))
        mask = np.asarray(self.final_mask, dtype=bool)
        if mask.shape != (h, w):
            raise ValueError(f"{self.case_id}: final mask {mask.shape} does not match image size {(h, w)}")
        if not mask.any():
            raise ValueError(f"{self.case_id}: the final mask is empty (nothing to learn from)")
        object.__setattr__(self, "final_mask", mask)
        emb = np.asarray(self.embedding)
        if emb.ndim != 3 or not np.issubdtype(emb.dtype, np.floating):
            raise ValueError(f"{self.case_id}: embedding must be a (C, h, w) float array, got {emb.shape}")
        object.__setattr__(self, "embedding", emb.astype(np.float16, copy=False))
        if self.first_prediction is not None:
            first = np.asarray(self.first_prediction, dtype=bool)
            if first.shape != (h, w):
                raise ValueError(f"{self.case_id}: first prediction {first.shape} is not {(h, w)}")
            object.__setattr__(self, "first_prediction", first)

    @property
    def correction_effort(self) -> float | None:
        """``1 − Dice(first prediction, final mask)``: 0 when accepted as proposed, 1 when redrawn; None
        when there was no first prediction."""
        if self.first_prediction is None:
            return None
        return 1.0 - dice(self.first_prediction, self.final_mask)

    def group(self, by: GroupBy = "series") -> str:
        """The split unit: the series, or the structure (series + label) for a ``structure`` split."""
        if by == "series":
            return self.series_id
        if by == "structure":
            return f"{self.series_id}#label{self.label}"
        raise ValueError(f"group by must be one of {', '.join(GROUP_BYS)}, got {by!r}")


def group_fraction(group: str, salt: str) -> float:
    """A uniform number in [0, 1) fixed by ``(salt, group)`` alone (SHA-256, not Python's salted hash)."""
    digest = hashlib.sha256(f"{salt}\x00{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_heldout(series_id: str, fraction: float, salt: str = "heldout") -> bool:
    """Whether a series belongs to the frozen held-out set (see the module docstring)."""
    return group_fraction(series_id, salt) < fraction


def _check_fraction(fraction: float) -> None:
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"the held-out fraction must be in [0, 1), got {fraction}")


def split_heldout(
    cases: Iterable[TrainingCase], fraction: float = 0.2, salt: str = "heldout", by: GroupBy = "series"
) -> tuple[list[TrainingCase], list[TrainingCase]]:
    """``(train, heldout)`` by whole groups; a group is held out iff :func:`group_fraction` < ``fraction``.

    Frozen: the answer for a case depends only on its group and ``salt`` (use one salt per project), so a
    case once held out stays held out however many cases are added later. With few series either side can
    be empty; the caller decides what that means (e.g. "annotate more series before training").
    """
    _check_fraction(fraction)
    train: list[TrainingCase] = []
    heldout: list[TrainingCase] = []
    for case in cases:
        (heldout if group_fraction(case.group(by), salt) < fraction else train).append(case)
    return train, heldout


def split_validation(
    cases: Sequence[TrainingCase], fraction: float = 0.15, salt: str = "validation", by: GroupBy = "series"
) -> tuple[list[TrainingCase], list[TrainingCase]]:
    """``(fit, validation)`` carved from training cases by whole groups, for early stopping.

    Like :func:`split_heldout`, but never leaves either side empty when there are two or more groups: if
    the hash sends no group to validation, the group with the smallest hash goes; if it sends every group,
    the largest stays. With a single group, validation is empty (train for a fixed number of epochs).
    """
    _check_fraction(fraction)
    groups = sorted({c.group(by) for c in cases}, key=lambda g: group_fraction(g, salt))
    if len(groups) < 2:
        return list(cases), []
    chosen = {g for g in groups if group_fraction(g, salt) < fraction} or {groups[0]}
    if len(chosen) == len(groups):
        chosen.discard(groups[-1])
    fit = [c for c in cases if c.group(by) not in chosen]
    val = [c for c in cases if c.group(by) in chosen]
    return fit, val


def split_by_labels(
    cases: Iterable[TrainingCase], heldout_labels: Iterable[int]
) -> tuple[list[TrainingCase], list[TrainingCase]]:
    """``(train, heldout)`` where the held-out cases are exactly those of ``heldout_labels`` (e.g. train on
    left-side structures, test on the right)."""
    wanted = {int(v) for v in heldout_labels}
    train: list[TrainingCase] = []
    heldout: list[TrainingCase] = []
    for case in cases:
        (heldout if case.label in wanted else train).append(case)
    return train, heldout


def summarize_cases(cases: Sequence[TrainingCase], by: GroupBy = "series") -> dict[str, Any]:
    """Counts for reports: cases, groups, labels, mean correction effort."""
    efforts = [e for e in (c.correction_effort for c in cases) if e is not None]
    return {
        "cases": len(cases),
        "groups": len({c.group(by) for c in cases}),
        "series": sorted({c.series_id for c in cases}),
        "labels": sorted({c.label for c in cases}),
        "mean_correction_effort": float(np.mean(efforts)) if efforts else None,
    }
