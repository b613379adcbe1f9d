"""Run-length encoding of binary masks for the wire (see docs/protocol.md).

``{"size": [H, W], "counts": [...]}``: lengths of alternating runs of 0 and 1 over the pixels in row-major
order, starting with a run of zeros (possibly of length 0). The counts sum to H * W.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from annotator.errors import InvalidInput
from annotator.messages import Rle


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


# The largest slice a mask may describe: the import refuses larger images (IMPORT_MAX_PIXELS' default), and a
# mask never outgrows its image. Checked before any allocation, so a forged size cannot ask for terabytes.
MAX_PIXELS = 100_000_000


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decode(rle: Any, expected_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Decode an RLE into a boolean (H, W) mask, refusing anything malformed with InvalidInput.

    Every run length is checked as a Python integer (no fixed width, so nothing can wrap around) to lie in
    [0, H*W], and the runs must sum to exactly H*W, before numpy sees any of them: run lengths that
    overflowed int64 and wrapped to H*W once made ``np.repeat`` crash the whole server process.
    ``rle`` is the wire dict or an already parsed :class:`~annotator.messages.Rle`.
    """
    if isinstance(rle, Rle):
        rle = rle.model_dump()
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise InvalidInput("A mask must be {'size': [H, W], 'counts': [...]}.")
    size, counts = rle["size"], rle["counts"]
    if not isinstance(size, list) or len(size) != 2 or not all(_is_int(v) and v > 0 for v in size):
        raise InvalidInput("A mask's size must be two positive integers [H, W].")
    height, width = size
    pixels = height * width
    if expected_shape is not None and (height, width) != tuple(expected_shape):
        raise InvalidInput(
            f"The mask is {height}×{width} but the image is {expected_shape[0]}×{expected_shape[1]}."
        )
    if pixels > MAX_PIXELS:
        raise InvalidInput(f"A mask of {height}×{width} pixels is larger than any image ({MAX_PIXELS:,}).")
    if not isinstance(counts, list) or not all(_is_int(v) and 0 <= v <= pixels for v in counts):
        raise InvalidInput(f"A mask's counts must be integers from 0 to {pixels} (its pixel count).")
    if len(counts) > pixels + 1:
        raise InvalidInput("A mask has more runs than pixels.")
    total = sum(counts)  # Python integers: exact, whatever the values
    if total != pixels:
        raise InvalidInput(f"The mask's runs cover {total} pixels, not {pixels}.")
    runs = np.asarray(counts, dtype=np.int64)
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    return np.repeat(values, runs).reshape(height, width)
