"""The three planes end to end in a real Chromium against the real stack (issue 15): a box on a coronal slice
of the demo CT gives the nodule there, on the voxel grid; the slice bar marks the slices holding a mask and
`[` / `]` jump to them; the viewer reopens on the first of them; the hover readout shows the stored
Hounsfield units of the voxel under the mouse; the brush paints a sagittal slice's voxels. Screenshots go
to test-artifacts/viewer-planes/.

The stack is seeded with the whole pyradiomics lung1 CT (48 slices of 5 mm, 512 × 512 pixels of 0.57 mm,
scripts/seed_lung.py) and its nodule's reference label.

Why Dice > 0.8 on the coronal plane: measured first, in-process with the same model and preprocessing (the
lung window, the plane resampled to 0.57 mm square pixels, a tight box around the reference on that grid),
the coronal plane through the nodule's centre (y = 359) gives Dice 0.925 against the reference on the voxel
grid; the ten planes y = 358–366 give 0.70–0.98. Without resampling (the 48 × 512 voxel plane as it is)
the same plane gives 0.19, and no plane through the nodule reaches 0.6. The box here is dragged with the
mouse, so its corners can move by a pixel: 0.8 leaves that margin and still fails without resampling.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from ml_worker import planes
from scripts.livestack import ROOT
from scripts.seed_lung import lung_slices, lung_spacing
from tests.browser.conftest import (
    PERF,
    drag,
    go_to_slice,
    mask_of,
    running_stack,
    save_now,
    to_screen,
    wait_viewer_ready,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = ROOT / "test-artifacts" / "viewer-planes"
MIN_CORONAL_DICE = 0.8
READOUT = re.compile(r"^x (\d+) y (\d+) z (\d+) · \(([-\d., ]+)\) mm · (-?\d+) HU$")


@pytest.fixture(scope="module")
def stack():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_stack(ARTIFACTS, slices=48) as live:
        yield live


@pytest.fixture(scope="module")
def lung() -> tuple[np.ndarray, np.ndarray]:
    """The volume and the nodule's reference, exactly as seeded: (Z, Y, X) HU and bool."""
    volume, reference, _ = lung_slices(48)
    return volume, reference


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def probe(page, expression: str, *args):
    return page.evaluate(f"(args) => window.__delineate.{expression}", list(args))


def hover(page, x: float, y: float) -> str:
    page.mouse.move(*to_screen(page, x, y))
    page.wait_for_function(
        "() => window.__delineate.readout() !== '' && !window.__delineate.readout().endsWith('…')"
    )
    return probe(page, "readout()")


def open_series(page, series_id: int) -> None:
    page.goto(f"/series/{series_id}/")
    wait_viewer_ready(page)


def test_a_coronal_box_gives_the_nodule_on_that_plane_and_the_slice_bar_marks_it(sessions, stack, lung):
    volume, reference = lung
    seeded = stack.seeded
    page = sessions("ines").page
    open_series(page, seeded["series"])
    # Nothing saved yet: the middle slice, no marks.
    assert probe(page, "slice()") == 24 and probe(page, "plane()") == "axial"
    assert all(not m["slices"] for m in probe(page, "annotatedSlices()"))

    # Shift+click the nodule's centre on its largest axial slice: the crosshair goes there.
    z = seeded["slice"]
    _, cy, cx = (int(round(float(c.mean()))) for c in np.nonzero(reference))
    go_to_slice(page, z)
    page.keyboard.down("Shift")
    page.mouse.click(*to_screen(page, cx + 0.5, cy + 0.5))
    page.keyboard.up("Shift")
    assert probe(page, "cursor()") == {"x": cx, "y": cy, "z": z}

    # C: the coronal plane through it, resampled to square pixels (48 slices of 5 mm → 421 rows).
    page.keyboard.press("c")
    page.wait_for_function(
        f"() => window.__delineate.plane() === 'coronal' && window.__delineate.slice() === {cy}"
    )
    assert probe(page, "planeSize()") == {"display": [421, 512], "voxels": [48, 512]}
    grid = planes.plane_grid(volume.shape, lung_spacing(), "coronal")
    expected = planes.voxel_plane(reference, "coronal", cy)
    ys, xs = np.nonzero(planes.mask_to_display(expected, grid))
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    drag(page, to_screen(page, box[0], box[1]), to_screen(page, box[2], box[3]))
    page.wait_for_function("() => window.__delineate.candidate() !== null")
    candidate = probe(page, "candidate()")
    got = mask_of(candidate)
    assert got.shape == (48, 512)
    PERF[f"coronal box → mask Dice (lung1 nodule, y = {cy})"] = round(dice(got, expected), 3)
    assert dice(got, expected) > MIN_CORONAL_DICE
    shot(page, "01-coronal-candidate")

    # Enter: the mask goes into the axial slices it crosses, voxel for voxel, and is saved as one revision.
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.__delineate.candidate() === null")
    assert probe(page, "planeMask('coronal', args[0])", cy)["rle"] == candidate["rle"]
    rows = sorted({int(r) for r in np.nonzero(got)[0]})
    crossed = sorted(47 - r for r in rows)
    for r in rows:
        axial = mask_of(probe(page, "mask(args[0])", 47 - r))
        np.testing.assert_array_equal(axial[cy], got[r])
        assert axial.sum() == got[r].sum()  # nothing else on those slices
    assert save_now(page) >= 1

    # The slice bar marks the coronal slice, and in the axial plane the slices the mask crosses.
    assert probe(page, "annotatedSlices()")[0]["slices"] == [cy]
    assert f"slice {cy + 1} " in probe(page, "annotatedTitle()")
    page.keyboard.press("a")
    page.wait_for_function("() => window.__delineate.plane() === 'axial'")
    assert probe(page, "annotatedSlices()")[0]["slices"] == crossed
    shot(page, "02-axial-marks")

    # ] and [ jump between them from anywhere.
    go_to_slice(page, 20)
    page.keyboard.press("]")
    page.wait_for_function(f"() => window.__delineate.slice() === {crossed[0]}")
    for nxt in crossed[1:]:
        page.keyboard.press("]")
        page.wait_for_function(f"() => window.__delineate.slice() === {nxt}")
    page.keyboard.press("[")
    page.wait_for_function(f"() => window.__delineate.slice() === {crossed[-2]}")

    # Opened again, the viewer starts on the first slice holding a mask.
    open_series(page, seeded["series"])
    assert probe(page, "slice()") == crossed[0]


def test_the_readout_shows_the_stored_hounsfield_units_and_the_brush_paints_a_sagittal_slice(
    sessions, stack, lung
):
    volume, _ = lung
    seeded = stack.seeded
    page = sessions("jon").page
    open_series(page, seeded["series"])
    z = probe(page, "slice()")
    for x, y in [(300, 200), (218, 359), (40, 400)]:
        text = hover(page, x + 0.5, y + 0.5)
        match = READOUT.match(text)
        assert match, text
        assert [int(v) for v in match.groups()[:3]] == [x, y, z]
        # The seeded series' affine is the identity: millimetres are the voxel indices.
        assert [float(v) for v in match.group(4).split(", ")] == [x, y, z]
        assert int(match.group(5)) == int(volume[z, y, x])

    # On the sagittal plane the display is interpolated; the readout still gives the voxel's stored value.
    page.keyboard.press("s")
    page.wait_for_function("() => window.__delineate.plane() === 'sagittal'")
    sagittal = probe(page, "slice()")
    grid = planes.plane_grid(volume.shape, lung_spacing(), "sagittal")
    for dx, dy in [(100.5, 60.3), (333.2, 200.9)]:
        match = READOUT.match(hover(page, dx, dy))
        assert match
        voxel_y, voxel_z = (
            int(dx * grid.cols / grid.display_cols),
            47 - int(dy * grid.rows / grid.display_rows),
        )
        assert [int(v) for v in match.groups()[:3]] == [sagittal, voxel_y, voxel_z]
        assert int(match.group(5)) == int(volume[voxel_z, voxel_y, sagittal])

    # The brush on the sagittal slice paints the voxels it covers, into the axial slices.
    page.keyboard.press("d")
    page.mouse.click(*to_screen(page, 250.0, 150.0))
    painted = mask_of(probe(page, "planeMask('sagittal', args[0])", sagittal))
    row, col = int(150.0 * grid.rows / grid.display_rows), int(250.0 * grid.cols / grid.display_cols)
    assert painted[row, col] and painted.sum() < 60
    assert mask_of(probe(page, "mask(args[0])", 47 - row))[col, sagittal]
    shot(page, "03-sagittal-brush")
    page.keyboard.press("Control+z")
    assert probe(page, "planeMask('sagittal', args[0])", sagittal)["pixels"] == 0
