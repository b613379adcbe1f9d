"""Simulated prompts from a reference mask: the box (tight or jittered) and corrective clicks.

Frames: masks are ``(H, W)`` boolean arrays in the image frame; boxes are ``[x0, y0, x1, y1]`` and points
``(x, y)`` in image pixels, x = column, y = row (the predictor's frame, ``ml_worker.sam.transforms``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Click:
    """One simulated click at pixel ``(x, y)``: ``positive`` adds missed foreground, otherwise it removes a
    false positive. ``depth_px`` is its distance to the edge of the error region it corrects."""

    x: int
    y: int
    positive: bool
    depth_px: float

    @property
    def label(self) -> int:
        """The predictor's point label: 1 foreground, 0 background."""
        return 1 if self.positive else 0


def box_from_mask(mask: np.ndarray, jitter_px: int = 0, rng: np.random.Generator | None = None) -> np.ndarray:
    """Bounding box of a non-empty ``(H, W)`` mask as float ``[x0, y0, x1, y1]`` (inclusive pixel indices).

    The tight box runs from the first to the last foreground column and row, as MedSAM computes it from
    the ground truth. With ``jitter_px`` each side moves outwards by an independent uniform integer in
    ``[0, jitter_px]``, clipped to the image: MedSAM's training-time box perturbation (``bbox_shift``),
    so the box always contains the structure. A box one pixel thin (x0 == x1) is widened by one pixel,
    because the predictor refuses boxes without area.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2 or not mask.any():
        raise ValueError(
            f"need a non-empty (H, W) mask, got shape {mask.shape} with {int(mask.sum())} pixels"
        )
    if jitter_px < 0:
        raise ValueError(f"jitter must be >= 0 pixels, got {jitter_px}")
    h, w = mask.shape
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    x0, x1, y0, y1 = int(cols[0]), int(cols[-1]), int(rows[0]), int(rows[-1])
    if jitter_px:
        rng = rng if rng is not None else np.random.default_rng()
        dx0, dy0, dx1, dy1 = (int(v) for v in rng.integers(0, jitter_px + 1, size=4))
        x0, y0 = max(0, x0 - dx0), max(0, y0 - dy0)
        x1, y1 = min(w - 1, x1 + dx1), min(h - 1, y1 + dy1)
    x0, x1 = _widen(x0, x1, w)
    y0, y1 = _widen(y0, y1, h)
    return np.array([x0, y0, x1, y1], dtype=np.float64)


def _widen(lo: int, hi: int, size: int) -> tuple[int, int]:
    if hi > lo or size < 2:
        return lo, hi
    return (lo, hi + 1) if hi + 1 < size else (lo - 1, hi)


def _deepest(region: np.ndarray) -> tuple[float, int, int]:
    """Largest distance to a non-region pixel and where it is (first in raster order on ties).

    The array is padded with background so the image edge counts as the region's boundary: a click is
    placed inside the error, never glued to the border of the field of view.
    """
    if not region.any():
        return 0.0, -1, -1
    dist = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    flat = int(np.argmax(dist))
    row, col = divmod(flat, region.shape[1])
    return float(dist[row, col]), row, col


def next_click(prediction: np.ndarray, reference: np.ndarray) -> Click | None:
    """The next corrective click, as in Mazurowski et al. (SAM for medical images, Algorithm 1).

    The click goes to the pixel farthest from the boundary of the current error region; it is positive
    when that pixel is missed foreground (reference and not prediction), negative when it is a false
    positive. Missed foreground and false positives are measured as separate regions (as the RITM clicker
    does), which is the paper's rule whenever they do not touch and otherwise keeps a click from landing
    on the seam between the two kinds of error. Distances are in pixels, as the paper's. Ties go to the
    first pixel in raster order (the paper draws at random) so an evaluation is reproducible.
    Returns ``None`` when the prediction equals the reference.
    """
    pred = np.asarray(prediction, dtype=bool)
    ref = np.asarray(reference, dtype=bool)
    if pred.shape != ref.shape or pred.ndim != 2:
        raise ValueError(f"need two (H, W) masks of one shape, got {pred.shape} and {ref.shape}")
    missed_depth, mr, mc = _deepest(ref & ~pred)
    extra_depth, er, ec = _deepest(pred & ~ref)
    if missed_depth == 0 and extra_depth == 0:
        return None
    if missed_depth >= extra_depth:
        return Click(x=mc, y=mr, positive=True, depth_px=missed_depth)
    return Click(x=ec, y=er, positive=False, depth_px=extra_depth)
