"""PNG label maps: one greyscale PNG per slice with any foreground, label values as grey levels."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import numpy as np
from PIL import Image

SLICE_NAME = "slice-{z:04d}.png"
SLICE_PATTERN = re.compile(r"slice-(\d+)\.png$", re.IGNORECASE)


def encode(plane: np.ndarray) -> bytes:
    """A (Y, X) integer plane as an 8-bit PNG, or 16-bit when a value is over 255 (rows top to bottom, as
    the viewer shows the slice)."""
    buffer = io.BytesIO()
    if plane.max(initial=0) > 255:
        Image.fromarray(plane.astype(np.uint16)).save(buffer, format="PNG")
    else:
        Image.fromarray(plane.astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def slices(labels_zyx: np.ndarray) -> Iterator[tuple[str, bytes]]:
    """(file name, PNG bytes) for every slice of a canonical label map that holds any label."""
    for z in np.flatnonzero(labels_zyx.reshape(labels_zyx.shape[0], -1).any(axis=1)):
        yield SLICE_NAME.format(z=int(z)), encode(labels_zyx[z])


def slice_index(name: str) -> int | None:
    """The slice a PNG name such as ``.../slice-0012.png`` stands for, or None."""
    match = SLICE_PATTERN.search(name)
    return int(match.group(1)) if match else None


def decode(data: bytes, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A PNG's grey levels as a (Y, X) integer array. Raises ValueError for colour or unreadable images, and
    for one whose header gives another (Y, X) ``shape`` than expected (before decoding any pixel)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise ValueError("not a PNG image")
            if shape is not None and (image.height, image.width) != tuple(shape):
                raise ValueError(
                    f"it is {image.width}x{image.height} pixels, the series' slices are {shape[1]}x{shape[0]}"
                )
            if image.mode not in ("L", "I;16", "I;16B", "I;16L", "I", "1", "P"):
                raise ValueError(f"a label PNG must be greyscale, this one is {image.mode}")
            if image.mode == "P":
                raise ValueError("a label PNG must be greyscale, this one has a palette")
            pixels = np.asarray(image)
    except Image.DecompressionBombError as exc:
        raise ValueError("the PNG declares far more pixels than any series has") from exc
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"unreadable PNG ({exc})") from exc
    return pixels.astype(np.int64)
