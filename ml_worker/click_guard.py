"""The corrective-point guard for models not trained on clicks.

LiteMedSAM was trained with boxes only: a corrective point often makes its mask worse (on the 27
pyradiomics lesion slices mean Dice goes 0.784 with the box → 0.658 after 5 simulated clicks fed with the
previous logits; ``manage.py evaluate``). Until a click-aware version is promoted (the model's
``clicks_trained`` flag, ``ml_worker.sam.build``), a point that refines a mask is held to two rules:

1. **Where**: it must lie in the *correction region*, the bounding box of the mask being corrected grown
   on every side by a margin (:func:`correction_region`). A point far from the mask is not a correction of
   it; with this model it jumps to another structure.
2. **Result**: the new mask is kept only if the model's predicted IoU does not drop below the predicted
   IoU of the mask being corrected (:func:`keeps_quality`); otherwise the old mask stays.

Both the worker (``annotator.inference``) and the evaluation's simulated policy (``--click-guard``) use
these functions, so the measured effect is the effect of the rule the users get.

Frames: masks are ``(H, W)`` bool in the image frame; points and boxes are image pixels, x = column,
y = row; a region is ``[x0, y0, x1, y1]`` with inclusive pixel bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The margin is a fraction of the mask box's longer side, at least MIN_MARGIN_PX. Measured on the 27
# pyradiomics lesion slices with 5 simulated corrective clicks each (135 clicks, LiteMedSAM, tight boxes):
# 87 land inside the current mask's box and 47 of the other 48 within 11 px of it (masks 10-66 px across);
# the last one lies 207 px from a one-pixel mask, i.e. on another structure. 12 px keeps every click of the
# 47; 8 px would have refused three beside a 15-px nodule.
MARGIN_FRACTION = 0.25
MIN_MARGIN_PX = 12
# Predicted IoUs are compared as the browser sees them (4 decimals): a tie keeps the new mask.
IOU_DECIMALS = 4


@dataclass(frozen=True)
class Region:
    """An axis-aligned box of image pixels, bounds inclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x <= self.x1 + 1 and self.y0 <= y <= self.y1 + 1

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]


def correction_region(
    mask: np.ndarray, margin_fraction: float = MARGIN_FRACTION, min_margin_px: int = MIN_MARGIN_PX
) -> Region | None:
    """Where points may correct ``mask`` (``(H, W)`` bool): its bounding box grown on each side by
    ``max(min_margin_px, margin_fraction × the box's longer side)`` pixels, clipped to the image; None for
    an empty mask (nothing to make worse, so nothing to guard)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"need an (H, W) mask, got shape {mask.shape}")
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    x0, x1, y0, y1 = int(cols[0]), int(cols[-1]), int(rows[0]), int(rows[-1])
    margin = max(min_margin_px, int(round(margin_fraction * max(x1 - x0 + 1, y1 - y0 + 1))))
    height, width = mask.shape
    return Region(
        max(0, x0 - margin), max(0, y0 - margin), min(width - 1, x1 + margin), min(height - 1, y1 + margin)
    )


def keeps_quality(previous_iou: float, new_iou: float) -> bool:
    """Whether a corrected mask may replace the one it corrects: its predicted IoU did not drop."""
    return round(float(new_iou), IOU_DECIMALS) >= round(float(previous_iou), IOU_DECIMALS)


def outside_message(region: Region) -> str:
    x0, y0, x1, y1 = region.as_list()
    return (
        f"Point ignored: points correct the mask only near it (x {x0}–{x1}, y {y0}–{y1}). "
        "Draw a new box for another structure."
    )


def dropped_message(previous_iou: float, new_iou: float) -> str:
    return (
        f"Point ignored: the model rated the corrected mask lower (IoU {new_iou:.2f} < {previous_iou:.2f}), "
        "so the mask stays as it was. Use the brush or eraser to fix it."
    )
