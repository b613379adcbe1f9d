"""Simulated prompts for interactive training: the jittered box and clicks sampled from the error region.

Frames: boxes here are in the *model-input* frame (``ml_worker.sam.transforms``: the slice resized so its
longest side is S, padded bottom/right; 256 for LiteMedSAM). Masks are in the *low-res* frame of the
decoder's logits (``L × L``, 256 for every model here; equal to the model-input frame for LiteMedSAM).
A click's ``(x, y)`` is a pixel index in the frame of the masks it was sampled from (x = column).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import ndimage

from ..evaluation.clicks import Click

ClickMode = Literal["uniform", "weighted", "deepest"]
CLICK_MODES: tuple[str, ...] = ("uniform", "weighted", "deepest")


def jitter_boxes(
    boxes: np.ndarray, bounds: np.ndarray, max_shift: float, rng: np.random.Generator
) -> np.ndarray:
    """Move every side of each box outwards by an independent uniform amount in ``[0, max_shift]``.

    As MedSAM's training (``bbox_shift`` = 5 at 256²): the box still contains the structure, as a user's
    box does, and a tight box (shift 0) stays in the distribution. Then clipped to the slice.

    Args:
        boxes: ``(N, 4)`` tight xyxy boxes (model-input frame).
        bounds: ``(N, 2)`` largest x and y inside the slice (``(W − 1)·scale_x``, ``(H − 1)·scale_y``).
        max_shift: the largest outward move of one side, model-input pixels.
    Returns:
        ``(N, 4)`` float64 boxes with ``0 <= x0 <= tight x0``, ``tight x1 <= x1 <= bound x`` (same for y).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    bounds = np.asarray(bounds, dtype=np.float64).reshape(-1, 2)
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    shift = rng.uniform(0.0, max_shift, size=boxes.shape) if max_shift > 0 else np.zeros(boxes.shape)
    out = boxes + shift * np.array([-1.0, -1.0, 1.0, 1.0])
    out[:, 0:2] = np.maximum(out[:, 0:2], 0.0)
    out[:, 2] = np.minimum(out[:, 2], np.maximum(bounds[:, 0], boxes[:, 2]))
    out[:, 3] = np.minimum(out[:, 3], np.maximum(bounds[:, 1], boxes[:, 3]))
    return out


def _depth(region: np.ndarray) -> np.ndarray:
    """Distance of each region pixel to the nearest non-region pixel (the frame edge counts as outside)."""
    if not region.any():
        return np.zeros(region.shape, dtype=np.float64)
    return ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]


def sample_click(
    prediction: np.ndarray,
    target: np.ndarray,
    rng: np.random.Generator,
    mode: ClickMode = "uniform",
    valid: np.ndarray | None = None,
) -> Click | None:
    """One corrective click from the error region between ``prediction`` and ``target`` (both ``(h, w)``).

    A pixel the prediction misses (false negative) gives a positive click; a pixel it wrongly covers (false
    positive) a negative one. ``mode``:

    * ``uniform``: every error pixel equally likely (SAM's training, appendix A);
    * ``weighted``: probability ∝ depth², depth being the distance to the edge of its error region, so clicks
      fall inside errors rather than on their rims, as an annotator clicks;
    * ``deepest``: the deepest error pixel, the evaluation's rule (Mazurowski et al.; first in raster order).

    ``valid`` restricts the errors considered (e.g. the unpadded part of the low-res frame). Returns None
    when there is no error. The click's ``depth_px`` is its distance to the edge of its error region.
    """
    pred = np.asarray(prediction, dtype=bool)
    ref = np.asarray(target, dtype=bool)
    if pred.shape != ref.shape or pred.ndim != 2:
        raise ValueError(f"need two (h, w) masks of one shape, got {pred.shape} and {ref.shape}")
    if mode not in CLICK_MODES:
        raise ValueError(f"click mode must be one of {', '.join(CLICK_MODES)}, got {mode!r}")
    missed = ref & ~pred
    extra = pred & ~ref
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        missed &= valid
        extra &= valid
    if not missed.any() and not extra.any():
        return None
    depth = _depth(missed) + _depth(extra)  # the two regions are disjoint
    error = missed | extra
    if mode == "deepest":
        flat = int(np.argmax(np.where(error, depth, -1.0)))
    else:
        candidates = np.flatnonzero(error)
        if mode == "uniform":
            flat = int(candidates[rng.integers(candidates.size)])
        else:
            weights = depth.ravel()[candidates] ** 2
            flat = int(rng.choice(candidates, p=weights / weights.sum()))
    row, col = divmod(flat, pred.shape[1])
    return Click(x=col, y=row, positive=bool(missed[row, col]), depth_px=float(depth[row, col]))
