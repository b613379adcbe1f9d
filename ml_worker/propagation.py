"""3D propagation as plain model logic: each next slice is prompted with the box of the previous slice's
mask, grown a little, until the mask vanishes or the model's predicted IoU falls below a threshold."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

import numpy as np

# Each next box is the previous mask's box grown by this fraction of its size per side (at least
# MIN_GROW_PX), so a structure that widens from slice to slice stays inside the prompt.
GROW_FRACTION = 0.1
MIN_GROW_PX = 2

Direction = Literal["both", "up", "down"]
STEPS: dict[str, tuple[int, ...]] = {"both": (1, -1), "up": (1,), "down": (-1,)}

# predict(slice index, box xyxy in the image frame) → ((H, W) bool mask, predicted IoU)
Predict = Callable[[int, list[float]], tuple[np.ndarray, float]]


def grown_box(mask: np.ndarray) -> list[float] | None:
    """The ``[x0, y0, x1, y1]`` box (image frame) around a ``(H, W)`` mask, grown and clipped to the image;
    None for an empty mask."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    height, width = mask.shape
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    gx = max(MIN_GROW_PX, GROW_FRACTION * (x1 - x0))
    gy = max(MIN_GROW_PX, GROW_FRACTION * (y1 - y0))
    return [
        float(max(0.0, x0 - gx)),
        float(max(0.0, y0 - gy)),
        float(min(float(width), x1 + gx)),
        float(min(float(height), y1 + gy)),
    ]


def planned_slices(depth: int, start: int, direction: Direction) -> int:
    """How many slices a run could reach at most (for progress), at least 1."""
    return sum((depth - 1 - start) if step > 0 else start for step in STEPS[direction]) or 1


def propagate(
    predict: Predict, first: np.ndarray, start: int, depth: int, direction: Direction, min_iou: float
) -> Iterator[tuple[int, np.ndarray, float]]:
    """Yield ``(slice index, mask, predicted IoU)`` for each slice reached from ``start`` (whose mask is
    ``first``), going up then down. A direction stops when the next mask is empty or its predicted IoU is
    below ``min_iou``; the caller stops the whole run by no longer iterating."""
    for step in STEPS[direction]:
        previous, index = first, start + step
        while 0 <= index < depth:
            box = grown_box(previous)
            if box is None:
                break
            mask, iou = predict(index, box)
            if not mask.any() or iou < min_iou:
                break
            yield index, mask, iou
            previous, index = mask, index + step
