"""A timing study end to end in a real Chromium against the real stack (issue 12): the owner designs it on
the project page, two participants each do their two study tasks in order from their study page (one
manual: the model's tools are off and the server refuses prompts; one assisted: box, the real model's
mask, accept), with the running active time in the status line and the interaction log reaching the
server; the owner's report page then shows time saved with its interval and the three plots.
Screenshots go to test-artifacts/timing/; look at them.

The stack is seeded with five slices of the lung CT and the nodule's central slice as a 2048×2048 2D image
(scripts/seed_lung.py): two cases, (CT, nodule) and (2D image, nodule).
"""

from __future__ import annotations

import re

import pytest

from scripts.livestack import ROOT
from tests.browser.conftest import (
    PageOpener,
    drag,
    go_to_slice,
    live_stack,
    seed_with,
    to_screen,
    wait_viewer_ready,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = ROOT / "test-artifacts" / "timing"
USERS = {"olga": "pass-olga-timing", "pia": "pass-pia-timing", "quinn": "pass-quinn-timing"}


@pytest.fixture(scope="module")
def stack():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with live_stack(ARTIFACTS, USERS) as live:
        # olga owns the project; pia and quinn are annotators
        live.seeded = seed_with(live, list(USERS), slices=5, image2d=True)
        yield live


@pytest.fixture
def open_as(browser, stack):
    opener = PageOpener(browser, stack, USERS, height=900)
    yield opener
    opener.close()


def shot(page, name: str, full_page: bool = False) -> None:
    # (a full-page screenshot resizes the viewport for a moment: only for the last look at a page)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def design_study(page, seeded: dict) -> None:
    page.goto(f"/projects/{seeded['project']}/")
    page.wait_for_selector(".study-designer input[data-case]")
    page.fill(".study-designer input[name=name]", "Nodule timing")
    page.check(f"input[data-case='{seeded['series']}:{seeded['label']}']")
    page.check(f"input[data-case='{seeded['image2d']['series']}:{seeded['label']}']")
    page.check(".participants input[data-username=pia]")
    page.check(".participants input[data-username=quinn]")
    page.fill(".study-designer input[name=seed]", "7")
    assert "2 cases × 2 participants" in page.inner_text(".plan-summary")
    shot(page, "1-designer")
    page.click(".study-designer button[type=submit]")
    page.wait_for_selector(".timing-study .study-report")
    assert "Created “Nodule timing” (seed 7)" in page.inner_text(".designer-status")


def do_task(page, seeded: dict, name: str, step: int) -> tuple[str, int]:
    """Work on the study task the viewer shows; returns its condition and series."""
    wait_viewer_ready(page)
    page.wait_for_selector(".study-task")
    condition = page.get_attribute(".study-task", "data-condition")
    assert f"Task {step} of 2" in page.inner_text(".study-step")
    # The case panel is there (the study's instructions) but its Submit and next, which would leave the
    # study's order, is hidden: Done: next task goes on
    page.wait_for_selector(".submit-next", state="attached")
    assert not page.is_visible(".submit-next")
    series = int(re.search(r"/series/(\d+)/", page.url).group(1))
    box = seeded["box"] if series == seeded["series"] else seeded["image2d"]["box"]
    if series == seeded["series"]:
        go_to_slice(page, seeded["slice"])
    if condition == "manual":
        # The model's tools are off, the brush is on; a few strokes over the nodule
        page.wait_for_function("() => document.querySelector('[data-tool=box]').disabled")
        page.keyboard.press("b")  # the box key does nothing here
        assert page.evaluate("() => document.querySelector('.stage').dataset.tool") == "brush"
        x0, y0, x1, y1 = box
        for n in range(4):
            y = y0 + (y1 - y0) * (n + 1) / 5
            drag(page, to_screen(page, x0 + 1, y), to_screen(page, x1 - 1, y), steps=12)
            page.wait_for_timeout(600)
    else:
        page.keyboard.press("b")
        before = page.evaluate("() => window.__delineate.perf.boxToMaskMs.length")
        drag(page, to_screen(page, box[0], box[1]), to_screen(page, box[2], box[3]))
        page.wait_for_function("n => window.__delineate.perf.boxToMaskMs.length > n", arg=before)
        page.keyboard.press("Enter")
    # The running clock of the current mask counts
    page.wait_for_function("() => window.__delineateTiming.activeMs() > 0")
    assert re.search(r"Active \d+:\d\d on nodule", page.inner_text(".status-time"))
    shot(page, f"2-{name}-step{step}-{condition}")
    before = page.url
    page.click(".study-done")
    page.wait_for_url(lambda url: url != before)
    return condition, series


def test_an_owner_designs_a_study_two_participants_do_it_and_the_report_shows_time_saved(stack, open_as):
    seeded = stack.seeded
    olga = open_as("olga")
    design_study(olga, seeded)
    runs: dict[str, list[tuple[str, int]]] = {}
    for name in ("pia", "quinn"):
        page = open_as(name)
        page.goto(f"/projects/{seeded['project']}/")
        page.click(".timing-study .study-open")
        page.wait_for_selector(".study-tasks li")
        assert (
            "Instructions" in page.inner_text(".instructions")
            and page.locator(".study-tasks li").count() == 2
        )
        shot(page, f"2-{name}-instructions")
        page.click(".study-start")
        first = do_task(page, seeded, name, 1)
        assert re.search(r"/series/\d+/\?assignment=\d+$", page.url)
        second = do_task(page, seeded, name, 2)
        page.wait_for_selector(".study-finished")
        assert page.locator(".study-tasks li[data-state=submitted]").count() == 2
        runs[name] = [first, second]
        assert not open_as.errors[name], open_as.errors[name]
    # Each participant did each case once, one manually and one with the model; each case was done in both
    # conditions; the two were never on the same case at the same step (the washout's spacing)
    for done in runs.values():
        assert sorted(c for c, _ in done) == ["assisted", "manual"] and done[0][1] != done[1][1]
    for step in (0, 1):
        assert runs["pia"][step][1] != runs["quinn"][step][1]
    by_case = {(series, condition) for done in runs.values() for condition, series in done}
    assert len(by_case) == 4

    olga.goto(f"/projects/{seeded['project']}/")
    olga.click(".timing-study .study-report")
    olga.wait_for_selector(".headline")
    headline = olga.inner_text(".headline")
    assert re.search(
        r"Time saved with the model: -?\d+\.\d% \(95% CI -?\d+\.\d% to -?\d+\.\d%; Wilcoxon", headline
    ) or ("no interval" in headline), headline
    assert "2 paired cases, 4 masks" in headline
    for name in ("box", "paired", "learning"):
        assert olga.locator(f"figure[data-plot={name}] svg").count() >= 1
    runs = olga.locator("table.runs tbody tr")
    assert runs.count() == 4
    text = olga.inner_text("table.runs")
    assert text.count("submitted") == 4 and "brush" in text and "prompt 1" in text
    # Leaving each task's page (Done) logged page.close on pagehide: the last events were not lost
    assert text.count("page.close 1") == 4 and text.count("page.open 1") == 4
    shot(olga, "3-report", full_page=True)
    assert not open_as.errors["olga"], open_as.errors["olga"]
