"""Agreement between annotators' masks and their consensus: plain numpy (and SimpleITK for STAPLE).

Masks are boolean arrays of one shape, (Z, Y, X) for a series. Nothing here touches the database; the review
actions (annotator.actions.review) read the masks and save the consensus as a revision.

- Dice of two masks A, B: 2|A∩B| / (|A| + |B|); two empty masks agree perfectly (1.0), and per slice only
  the slices where either mask has something are reported.
- Majority vote: a voxel is in the consensus when MORE than half of the masks hold it (with two masks that
  is their intersection; with three, any two).
- STAPLE (Warfield, Zou and Wells, IEEE TMI 23(7), 2004): expectation-maximisation of each rater's
  sensitivity and specificity and of the probability of the true segmentation at every voxel; the consensus
  is where that probability is over 0.5 (a voxel exactly in doubt, as when two equally trusted masks
  disagree, is left out, as majority vote leaves it out). Computed by SimpleITK's ``STAPLEImageFilter`` (the Insight
  Toolkit's maintained implementation), with its defaults: foreground value 1, the prior of foreground
  estimated from the masks, at most its default number of iterations until the estimates settle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

STAPLE_THRESHOLD = 0.5


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two boolean masks of one shape; 1.0 when both are empty."""
    size = int(a.sum()) + int(b.sum())
    if size == 0:
        return 1.0
    return 2.0 * int(np.logical_and(a, b).sum()) / size


def dice_per_slice(a: np.ndarray, b: np.ndarray) -> dict[int, float]:
    """Dice per slice of two (Z, Y, X) masks, for the slices where either has something."""
    flat_a, flat_b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    either = np.flatnonzero(flat_a.any(axis=1) | flat_b.any(axis=1))
    return {int(z): dice(flat_a[z], flat_b[z]) for z in either}


def majority_vote(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Voxels held by more than half of ``masks``."""
    if not masks:
        raise ValueError("majority vote needs at least one mask")
    votes = np.sum([m.astype(np.uint16) for m in masks], axis=0)
    return votes * 2 > len(masks)


@dataclass(frozen=True)
class StapleResult:
    """The consensus, the probability of foreground per voxel, and each rater's estimated performance."""

    consensus: np.ndarray
    probability: np.ndarray
    sensitivity: list[float]
    specificity: list[float]
    iterations: int


def staple(masks: Sequence[np.ndarray]) -> StapleResult:
    """STAPLE consensus of two or more boolean masks of one shape (2D or 3D)."""
    if len(masks) < 2:
        raise ValueError("STAPLE needs at least two masks")
    images = [sitk.GetImageFromArray(np.ascontiguousarray(m, dtype=np.uint8)) for m in masks]
    estimator = sitk.STAPLEImageFilter()
    estimator.SetForegroundValue(1.0)
    probability = sitk.GetArrayFromImage(estimator.Execute(images)).astype(np.float64)
    return StapleResult(
        consensus=probability > STAPLE_THRESHOLD,
        probability=probability,
        sensitivity=[float(v) for v in estimator.GetSensitivity()],
        specificity=[float(v) for v in estimator.GetSpecificity()],
        iterations=int(estimator.GetElapsedIterations()),
    )
