"""PNG label maps: one greyscale PNG per slice with any foreground, label values as grey levels (1, 2, ...:
exact, but all but black to the eye), and beside each, in ``colour/``, the same slice in the labels' colours
to look at."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import numpy as np
from PIL import Image

SLICE_NAME = "slice-{z:04d}.png"
SLICE_PATTERN = re.compile(r"slice-(\d+)\.png$", re.IGNORECASE)
# The folder of the colour previews beside the label maps (a reference-label import skips it).
PREVIEW_FOLDER = "colour"
# A label value with no colour (not in the palette) is shown mid-grey.
UNKNOWN_COLOUR = (128, 128, 128)

Palette = dict[int, tuple[int, int, int]]


def palette(colours: dict[int, str]) -> Palette:
    """Label value → RGB from ``"#rrggbb"`` colours."""
    return {
        value: (int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)) for value, text in colours.items()
    }


def colour(plane: np.ndarray, colours: Palette) -> bytes:
    """A (Y, X) label plane as an RGB PNG: each label in its colour on black."""
    lut = np.zeros((int(plane.max(initial=0)) + 1, 3), np.uint8)
    lut[1:] = UNKNOWN_COLOUR
    for value, rgb in colours.items():
        if 0 < value < len(lut):
            lut[value] = rgb
    buffer = io.BytesIO()
    Image.fromarray(lut[plane.astype(np.intp)], mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def is_preview(name: str) -> bool:
    """Whether a zip entry is a colour preview (not a label map)."""
    return PREVIEW_FOLDER in name.replace("\\", "/").lower().split("/")[:-1]


def encode(plane: np.ndarray) -> bytes:
    """A (Y, X) integer plane as an 8-bit PNG, or 16-bit when a value is over 255 (rows top to bottom, as
    the viewer shows the slice)."""
    buffer = io.BytesIO()
    if plane.max(initial=0) > 255:
        Image.fromarray(plane.astype(np.uint16)).save(buffer, format="PNG")
    else:
        Image.fromarray(plane.astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def slices(labels_zyx: np.ndarray, colours: Palette | None = None) -> Iterator[tuple[str, bytes]]:
    """(file name, PNG bytes) for every slice of a canonical label map that holds any label; with
    ``colours``, each followed by its colour preview (``colour/slice-<z>.png``)."""
    for z in np.flatnonzero(labels_zyx.reshape(labels_zyx.shape[0], -1).any(axis=1)):
        name = SLICE_NAME.format(z=int(z))
        yield name, encode(labels_zyx[z])
        if colours is not None:
            yield f"{PREVIEW_FOLDER}/{name}", colour(labels_zyx[z], colours)


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
