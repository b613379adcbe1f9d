"""How a simulated participant draws (``manage.py simulate_study``): the strokes that trace a reference
contour by hand, and the corrective strokes that fix a model's mask, each with the time it takes under the
stated drawing speed and per-stroke overhead. Pure numpy/scipy; masks are boolean (Y, X) slices and
lengths are in image pixels.

Time of a stroke = overhead (moving to its start and pressing: a pointing movement) + its length / speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# The face count of a digital shape's boundary overestimates its length: for a disc of radius r it is 8r
# against 2πr. π/4 is Crofton's correction (exact on average over orientations).
CROFTON = math.pi / 4


@dataclass(frozen=True)
class Stroke:
    kind: str  # "brush", "eraser" or "fill" (a click)
    length_px: float
    # moving to the start and pressing (a pointing movement), then drawing from press to release
    overhead_s: float
    drawing_s: float = 0.0

    @property
    def seconds(self) -> float:
        return self.overhead_s + self.drawing_s


def contour_length(mask: np.ndarray) -> float:
    """The length of a mask's outline in pixels: its boundary faces (pixel edges between the mask and the
    outside) times π/4."""
    m = np.pad(np.asarray(mask, dtype=bool), 1)
    faces = int((m[1:, :] != m[:-1, :]).sum() + (m[:, 1:] != m[:, :-1]).sum())
    return faces * CROFTON


def components(mask: np.ndarray) -> list[np.ndarray]:
    labels, count = ndimage.label(mask)
    return [labels == n for n in range(1, count + 1)]


def trace(reference: np.ndarray, speed_px_s: float, overhead_s: float, click_s: float) -> list[Stroke]:
    """Drawing ``reference`` by hand: per connected part, one brush stroke along its outline (the brush's
    outer edge on the boundary), then a click of the fill tool inside it."""
    strokes = []
    for part in components(reference):
        length = contour_length(part)
        strokes.append(Stroke("brush", length, overhead_s, length / speed_px_s))
        strokes.append(Stroke("fill", 0.0, click_s))
    return strokes


def correct(
    mask: np.ndarray, reference: np.ndarray, speed_px_s: float, overhead_s: float, brush_radius_px: float
) -> tuple[np.ndarray, Stroke] | None:
    """One corrective stroke: the largest connected error (missed foreground: brush; false foreground:
    eraser) painted over, and its time. Painting a region with a brush of width 2r takes a path of about
    area / 2r, and never less than crossing the region once. None when the mask equals the reference."""
    missed = components(reference & ~mask)
    extra = components(mask & ~reference)
    errors = [(part, "brush") for part in missed] + [(part, "eraser") for part in extra]
    if not errors:
        return None
    part, kind = max(errors, key=lambda e: int(e[0].sum()))
    ys, xs = np.nonzero(part)
    extent = math.hypot(int(ys.max() - ys.min()) + 1, int(xs.max() - xs.min()) + 1)
    length = max(extent, int(part.sum()) / (2 * brush_radius_px))
    fixed = mask.copy()
    fixed[part] = kind == "brush"
    return fixed, Stroke(kind, length, overhead_s, length / speed_px_s)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def box_of(
    mask: np.ndarray, jitter_px: float, rng: np.random.Generator, shape: tuple[int, int]
) -> list[float]:
    """The tight box [x0, y0, x1, y1] around ``mask`` with each side moved by up to ``jitter_px`` (a person's
    box is not tight to the pixel), kept inside the image and at least a pixel wide."""
    ys, xs = np.nonzero(mask)
    height, width = shape
    x0, y0, x1, y1 = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    x0, y0, x1, y1 = (v + float(rng.uniform(-jitter_px, jitter_px)) for v in (x0, y0, x1, y1))
    x0, y0 = max(0.0, x0), max(0.0, y0)
    x1, y1 = min(float(width), max(x1, x0 + 1)), min(float(height), max(y1, y0 + 1))
    return [round(x0, 1), round(y0, 1), round(x1, 1), round(y1, 1)]
