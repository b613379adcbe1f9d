"""The active-learning loop closed in the browser, end to end (issue 11's "done when"), in a real Chromium
against a real stack (Redis, the Celery workers as `make run` starts them, Daphne, the real LiteMedSAM):
an annotator takes her two cases with Next case and outlines the nodule on each of its slices with a box and
the model's mask, a reviewer approves both, and the owner trains on the approved masks, watches the run end
and promotes the new version. Nothing is seeded but the project, the two real lung CT series
(scripts/seed_al.py with ``annotate=False``) and the tasks. Screenshots go to test-artifacts/al-loop/."""

from __future__ import annotations

import re

import numpy as np
import pytest

from annotator import rle
from scripts.livestack import ROOT, LiveStack
from tests.browser.conftest import (
    PageOpener,
    box_to_candidate,
    go_to_slice,
    live_stack,
    mask_of,
    run_seed,
    save_now,
    wait_viewer_ready,
)
from tests.browser.test_model_versions import private_model_dir

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = ROOT / "test-artifacts" / "al-loop"
PASSWORDS = {"olivia": "pass-olivia-loop", "anna": "pass-anna-loop", "rui": "pass-rui-loop"}


@pytest.fixture(scope="module")
def stack():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    live = LiveStack()
    live.extra_env["MODEL_DIR"] = str(private_model_dir(live))
    with live_stack(ARTIFACTS, PASSWORDS, live=live) as live:
        code = "import scripts.seed_al as s; s.main('olivia', 'anna', 'rui', annotate=False)"
        live.seeded = run_seed(live, code)
        yield live


@pytest.fixture
def open_as(browser, stack):
    opener = PageOpener(browser, stack, PASSWORDS)
    yield opener
    opener.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def outline_case(page, case: dict) -> list[float]:
    """On every slice holding the nodule: a box, the model's mask, Enter to accept; then save. The Dice of
    each accepted mask against the reference."""
    scores = []
    for z in case["slices"]:
        go_to_slice(page, z)
        page.wait_for_selector(".slice-label .embed.ready")
        candidate = box_to_candidate(page, case["boxes"][str(z)])
        scores.append(dice(mask_of(candidate), rle.decode(case["references"][str(z)]).astype(bool)))
        page.keyboard.press("Enter")
        page.wait_for_function("z => window.__delineate.mask(z).pixels > 0", arg=z)
    save_now(page)
    return scores


def test_masks_annotated_and_approved_in_the_browser_train_a_version_the_owner_promotes(stack, open_as):
    seeded = stack.seeded
    project, cases = seeded["project"], {case["series"]: case for case in seeded["series"]}

    # Anna takes her cases with Next case and outlines the nodule with the model on each of its slices.
    anna = open_as("anna")
    anna.goto(f"/projects/{project}/")
    left = anna.url
    anna.click("button.next-case")
    scores: list[float] = []
    case_url = re.compile(r"/series/\d+/\?assignment=\d+")
    for n in range(2):
        anna.wait_for_url(lambda url, left=left: url != left and case_url.search(url) is not None)
        left = anna.url
        wait_viewer_ready(anna)
        anna.wait_for_function("() => window.__delineate.review().state === 'in_progress'")
        series = int(re.search(r"/series/(\d+)/", anna.url).group(1))
        scores += outline_case(anna, cases.pop(series))
        shot(anna, f"1-anna-case-{n + 1}")
        anna.click("button.submit-next")
    anna.wait_for_url(re.compile(rf"/projects/{project}/\?done=1"))
    assert not cases  # both cases were hers, each opened once
    assert min(scores) > 0.5, scores  # the model's masks, accepted, are the nodule

    # Rui approves both submitted cases from his review list.
    rui = open_as("rui")
    for case in seeded["series"]:
        rui.goto(f"/projects/{project}/")
        rui.click(f".review-cases .case-row[data-assignment-id='{case['assignment']}']")
        wait_viewer_ready(rui)
        rui.wait_for_selector(".case-panel .case-state:has-text('Submitted')")
        rui.click("button.approve")
        rui.wait_for_selector(".case-panel .case-state:has-text('Approved')")

    # Olivia trains on the approved masks, the run ends with a candidate measured on held-out cases
    olivia = open_as("olivia")
    olivia.goto(f"/projects/{project}/models/")
    olivia.wait_for_selector(".versions-table")
    olivia.click(".start-training")
    olivia.wait_for_function("document.querySelector('.training-status').dataset.state === 'done'")
    row = olivia.wait_for_selector(".versions-table tr[data-version='1']")
    assert row.get_attribute("data-state") == "candidate"
    counts = row.query_selector("td:nth-child(4)").inner_text()  # Cases train / held-out
    train, heldout = (int(n) for n in re.fullmatch(r"(\d+) / (\d+)", counts.strip()).groups())
    # every slice Anna outlined is a case, on one side or the other, whole series apart
    assert train + heldout == len(scores) and train > 0 and heldout > 0
    assert {train, heldout} == {len(case["slices"]) for case in seeded["series"]}
    # and she promotes it: the active version now
    olivia.click(".versions-table tr[data-version='1'] .promote")
    olivia.wait_for_function(
        "document.querySelector(\".versions-table tr[data-version='1']\").dataset.state === 'promoted'"
    )
    assert "active" in olivia.inner_text(".versions-table tr[data-version='1']")
    shot(olivia, "2-promoted")
    for name, errors in open_as.errors.items():
        assert errors == [], (name, errors)
