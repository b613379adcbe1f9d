"""How simulated participants draw: contour lengths, tracing time, corrective strokes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from annotator.timing.tracing import box_of, contour_length, correct, dice, trace


def disc(radius: int, size: int = 101) -> np.ndarray:
    y, x = np.ogrid[:size, :size]
    c = size // 2
    return (y - c) ** 2 + (x - c) ** 2 <= radius**2


def test_the_contour_of_a_disc_is_close_to_its_circumference_and_a_square_exactly_its_perimeter():
    assert contour_length(disc(30)) == pytest.approx(2 * math.pi * 30, rel=0.03)
    square = np.zeros((20, 20), dtype=bool)
    square[5:15, 5:15] = True
    assert contour_length(square) == pytest.approx(40 * math.pi / 4)


def test_tracing_takes_overhead_plus_length_over_speed_and_a_fill_click_per_part():
    two = disc(10) | np.roll(disc(10), 40, axis=1)
    strokes = trace(two, speed_px_s=100.0, overhead_s=1.2, click_s=0.8)
    assert [s.kind for s in strokes] == ["brush", "fill", "brush", "fill"]
    assert strokes[0].seconds == pytest.approx(1.2 + contour_length(disc(10)) / 100.0)
    assert strokes[1].seconds == 0.8


def test_a_correction_paints_the_largest_error_and_takes_its_time():
    reference = disc(20)
    mask = disc(15)  # missing a ring of the reference
    mask[0:3, 0:3] = True  # and a small false blob
    fixed, stroke = correct(mask, reference, speed_px_s=100.0, overhead_s=1.0, brush_radius_px=3.0)
    assert stroke.kind == "brush"
    ring = int((reference & ~disc(15)).sum())
    assert stroke.length_px == pytest.approx(max(41 * math.sqrt(2), ring / 6.0))
    assert stroke.seconds == pytest.approx(1.0 + stroke.length_px / 100.0)
    assert (fixed & reference).sum() == reference.sum() and fixed[0:3, 0:3].all()
    fixed, stroke = correct(fixed, reference, 100.0, 1.0, 3.0)
    assert stroke.kind == "eraser" and dice(fixed, reference) == 1.0
    assert correct(fixed, reference, 100.0, 1.0, 3.0) is None


def test_a_box_is_tight_up_to_its_jitter_and_stays_inside_the_image():
    mask = np.zeros((50, 60), dtype=bool)
    mask[10:20, 30:45] = True
    assert box_of(mask, 0.0, np.random.default_rng(0), (50, 60)) == [30.0, 10.0, 45.0, 20.0]
    x0, y0, x1, y1 = box_of(mask, 3.0, np.random.default_rng(1), (50, 60))
    assert abs(x0 - 30) <= 3 and abs(y1 - 20) <= 3 and 0 <= x0 < x1 <= 60
