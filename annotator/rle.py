"""Run-length encoding of binary masks for the wire (see docs/protocol.md).

``{"size": [H, W], "counts": [...]}``: lengths of alternating runs of 0 and 1 over the pixels in row-major
order, starting with a run of zeros (possibly of length 0). The counts sum to H * W.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from annotator.errors import InvalidInput


def encode(mask: np.ndarray) -> dict[str, Any]:
    """Encode a 2D boolean (or 0/1) mask of shape (H, W)."""
    if mask.ndim != 2:
        raise ValueError(f"RLE encodes 2D masks, got shape {mask.shape}")
    flat = np.asarray(mask, dtype=bool).ravel()
    # Positions where the value changes, plus both ends: run lengths are their differences.
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def decode(rle: Any, expected_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Decode an RLE dict into a boolean (H, W) mask, refusing anything malformed with InvalidInput."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise InvalidInput("A mask must be {'size': [H, W], 'counts': [...]}.")
    size, counts = rle["size"], rle["counts"]
    if (
        not isinstance(size, list)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise InvalidInput("A mask's size must be two positive integers [H, W].")
    height, width = size
    if expected_shape is not None and (height, width) != tuple(expected_shape):
        raise InvalidInput(
            f"The mask is {height}×{width} but the image is {expected_shape[0]}×{expected_shape[1]}."
        )
    if not isinstance(counts, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts
    ):
        raise InvalidInput("A mask's counts must be non-negative integers.")
    runs = np.asarray(counts, dtype=np.int64)
    if int(runs.sum()) != height * width:
        raise InvalidInput(f"The mask's runs cover {int(runs.sum())} pixels, not {height * width}.")
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    return np.repeat(values, runs).reshape(height, width)
