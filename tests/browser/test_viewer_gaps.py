"""Viewer gaps found on first use (issue 15), in a real Chromium against the real stack: Accept is offered
only with a candidate; the help overlay fits a short window, scrolls with the keys and closes with Esc
(which then discards nothing); the toolbar keeps to one row at 1280×800; a corrective point far from
LiteMedSAM's mask is refused with a short message and the mask is kept; a folder upload with bad files imports
the good ones and lists the bad. Screenshots in test-artifacts/browser/."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS, drag, go_to_slice, open_viewer, to_screen

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

ACCEPT = ".toolbar button.primary"
CANDIDATE = "() => window.__delineate.candidate()"


def test_accept_waits_for_a_candidate_and_a_far_point_is_refused_with_the_mask_kept(stack, sessions):
    seeded = stack.seeded
    z, box = seeded["slice"], seeded["box"]
    ines = sessions("ines")
    page = ines.page
    page.set_viewport_size({"width": 1280, "height": 800})
    open_viewer(page, seeded["series"])
    go_to_slice(page, z)
    # Given no candidate, Accept is disabled (Enter would do nothing).
    assert page.is_disabled(ACCEPT)

    # When a box gives a candidate, Accept is enabled.
    page.keyboard.press("b")
    drag(page, to_screen(page, box[0], box[1]), to_screen(page, box[2], box[3]))
    page.wait_for_function(f"() => ({CANDIDATE})() !== null")
    assert page.is_enabled(ACCEPT)
    before = page.evaluate(CANDIDATE)
    assert before["pixels"] > 0

    # A negative point far from the nodule (LiteMedSAM learnt from boxes: the server guards its points) is
    # refused: a short message says why, the candidate is the same mask.
    page.keyboard.press("n")
    x, y = to_screen(page, 10, 10)
    page.mouse.click(x, y)
    page.wait_for_selector(".banner-item.warn:has-text('Point ignored')")
    assert "only near it" in page.inner_text(".banner-item.warn")
    after = page.evaluate(CANDIDATE)
    assert after["rle"] == before["rle"] and after["iou"] == before["iou"]
    ines.shot("gaps-01-point-refused")

    # Enter accepts; Accept is disabled again until the next candidate.
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => ({CANDIDATE})() === null")
    assert page.is_disabled(ACCEPT)
    assert page.evaluate("window.__delineate.mask().pixels") == before["pixels"]
    assert not ines.errors


def test_the_toolbar_keeps_to_one_row_at_1280_and_the_help_scrolls_and_closes_with_esc(stack, sessions):
    seeded = stack.seeded
    ines = sessions("ines")
    page = ines.page
    page.set_viewport_size({"width": 1280, "height": 800})
    open_viewer(page, seeded["series"])
    go_to_slice(page, 0)
    # One row: every control's vertical extent crosses one line (they differ in height, so not in top).
    extents = page.evaluate(
        """() => [...document.querySelector('.toolbar').children].filter((el) => !el.hidden)
                 .map((el) => { const r = el.getBoundingClientRect(); return [r.top, r.bottom]; })"""
    )
    ines.shot("gaps-02-toolbar-1280x800")
    assert max(top for top, _ in extents) < min(bottom for _, bottom in extents), (
        "the toolbar wraps at 1280 px"
    )
    toolbar_right = page.evaluate("document.querySelector('.toolbar').getBoundingClientRect().right")
    last_right = page.evaluate(
        "Math.max(...[...document.querySelector('.toolbar').children].map((el) => el.getBoundingClientRect().right))"
    )
    assert last_right <= toolbar_right

    # A short window: the help is taller than the room it has, stays inside the window and scrolls.
    page.set_viewport_size({"width": 1280, "height": 480})
    slice_before = page.evaluate("window.__delineate.slice()")
    page.keyboard.press("?")
    page.wait_for_selector(".help:not([hidden])")
    box = page.evaluate(
        """() => { const h = document.querySelector('.help'); const r = h.getBoundingClientRect();
                   return { top: r.top, bottom: r.bottom, scroll: h.scrollHeight, client: h.clientHeight }; }"""
    )
    assert box["scroll"] > box["client"], "the help fits anyway: the window is not short enough to test"
    assert box["top"] >= 0 and box["bottom"] <= 480
    assert "learnt from boxes, not clicks" in page.inner_text(".help-points")
    for _ in range(3):
        page.keyboard.press("PageDown")
    page.wait_for_function("() => document.querySelector('.help').scrollTop > 0")
    assert page.evaluate("window.__delineate.slice()") == slice_before  # the keys scrolled the help
    ines.shot("gaps-03-help-scrolled")
    # Esc closes it, and the keys are the viewer's again.
    page.keyboard.press("Escape")
    page.wait_for_selector(".help", state="hidden")
    page.keyboard.press("ArrowDown")
    page.wait_for_function(f"() => window.__delineate.slice() === {slice_before + 1}")
    assert not ines.errors


def test_a_mixed_folder_upload_imports_the_good_files_and_lists_the_bad(stack, sessions, tmp_path):
    """Ines (owner of the seeded project) picks a folder holding a real CT slice, a NIfTI and a PNG made
    from real data, and three bad files: the three good ones become series, the bad ones are listed with
    their reasons, and the bars show the partial outcome; a folder of bad files only shows failure."""
    import gzip

    import nibabel as nib
    import numpy as np

    from tests.imaging_data import dicom_file, png_bytes
    from tests.test_import import truncated_dicom

    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "ct.dcm").write_bytes(dicom_file("CT_small.dcm").read_bytes())
    ct = nib.Nifti1Image(np.arange(8 * 8 * 3, dtype=np.int16).reshape(8, 8, 3), np.eye(4))
    (folder / "volume.nii.gz").write_bytes(gzip.compress(ct.to_bytes()))
    (folder / "slice.png").write_bytes(png_bytes(np.full((16, 16), 90, np.uint8)))
    (folder / "notes.txt").write_text("not an image")
    mr = dicom_file("MR_small.dcm").read_bytes()
    (folder / "cut.dcm").write_bytes(mr[: len(mr) // 2])  # another series than ct.dcm: only it is refused
    (folder / "broken.nii").write_bytes(b"\x5c\x01" + b"\0" * 400)

    page = sessions("ines").page
    page.goto(f"/projects/{stack.seeded['project']}/")
    page.wait_for_selector(".upload-panel")
    page.wait_for_selector(".series-tile")  # the seeded CT
    tiles = page.locator(".series-tile").count()
    page.set_input_files(".upload-panel input[name=folder]", str(folder))
    page.wait_for_selector(".upload-status[data-phase=done], .upload-status[data-phase=failed]")
    assert page.get_attribute(".upload-status", "data-phase") == "done", page.inner_text(".upload-status")
    page.wait_for_function("n => document.querySelectorAll('.series-tile').length === n", arg=tiles + 3)
    assert page.get_attribute(".upload-status", "data-refused") == "3"
    listed = page.locator(".upload-refused li").all_inner_texts()
    assert sorted(item.split(":")[0] for item in listed) == ["broken.nii", "cut.dcm", "notes.txt"]
    assert any("unsupported file type" in item for item in listed)
    assert "partial" in page.get_attribute(".upload-job", "class")
    assert "3 files were not imported" in page.inner_text(".upload-status")
    page.screenshot(path=str(ARTIFACTS / "gaps-04-mixed-folder-upload.png"), full_page=True)

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.txt").write_text("hello")
    (bad / "b.dcm").write_bytes(truncated_dicom())
    page.set_input_files(".upload-panel input[name=folder]", str(bad))
    page.wait_for_selector(".upload-status[data-phase=failed]")
    assert "None of the 2 files could be imported" in page.inner_text(".upload-status")
    assert page.locator(".upload-refused li").count() == 2
    assert "failed" in page.get_attribute(".upload-bytes", "class")
    assert page.locator(".series-tile").count() == tiles + 3
    page.screenshot(path=str(ARTIFACTS / "gaps-05-bad-folder-upload.png"), full_page=True)
