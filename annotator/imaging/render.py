"""Slices to PNG for display, and to raw bytes for the browser's own window/level."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from annotator.imaging.windows import apply_window

# zlib level 1: on a 512x512 slice about 3 ms instead of 15 ms at the default level, for PNGs ~20% larger.
PNG_COMPRESS_LEVEL = 1
THUMBNAIL_SIZE = 128


def to_display(plane: np.ndarray, level: float | None, width: float | None) -> np.ndarray:
    """uint8 grey (Y, X) or RGB (Y, X, 3). Colour planes ignore the window."""
    if plane.ndim == 3:
        return plane.astype(np.uint8, copy=False)
    if level is None or width is None:
        lo, hi = float(plane.min()), float(plane.max())
        level, width = (lo + hi) / 2, max(hi - lo, 1.0)
    return apply_window(plane, level, width)


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(
        buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL
    )
    return buffer.getvalue()


def render_png(plane: np.ndarray, level: float | None, width: float | None) -> bytes:
    return png_bytes(to_display(plane, level, width))


def thumbnail_png(plane: np.ndarray, level: float | None, width: float | None) -> bytes:
    image = Image.fromarray(np.ascontiguousarray(to_display(plane, level, width)))
    image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def raw_bytes(plane: np.ndarray) -> tuple[bytes, str]:
    """Little-endian bytes of the plane, C order, and the dtype name (int16, uint16, float32, uint8)."""
    little = plane.astype(plane.dtype.newbyteorder("<"), copy=False)
    return np.ascontiguousarray(little).tobytes(), plane.dtype.name
