"""The team workflow end to end in a real Chromium against a real stack (issue 15): the owner asks for two
independent annotations per case, creates and assigns tasks and puts one copy back in the pool; each
annotator takes their case with Next case, paints and uses Submit and next; the reviewer sees both
annotators' layers, requests changes with a comment pinned on the image, the annotator sees it arrive in
her open viewer, fixes and resubmits, and the reviewer approves. Then the agreement numbers of a known pair
of masks and a majority consensus of them. Screenshots go to test-artifacts/team-flow/."""

from __future__ import annotations

import re

import pytest

from scripts.livestack import ROOT
from tests.browser.conftest import PageOpener, drag, live_stack, run_seed, to_screen, wait_viewer_ready

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = ROOT / "test-artifacts" / "team-flow"
PASSWORDS = {
    "olivia": "pass-olivia-team",
    "anna": "pass-anna-team",
    "ben": "pass-ben-team",
    "rui": "pass-rui-team",
}


@pytest.fixture(scope="module")
def stack():
    """Web and Redis (brush, save, review and comments need no model worker), four users, a seeded project."""
    with live_stack(ARTIFACTS, PASSWORDS, workers=False) as live:
        live.seeded = run_seed(
            live, "import scripts.seed_team as s; s.main('olivia', ['anna', 'ben'], 'rui')"
        )
        yield live


@pytest.fixture
def open_as(browser, stack):
    """A logged-in page in its own browser context per user; the page's uncaught errors are kept."""
    opener = PageOpener(browser, stack, PASSWORDS)
    yield opener
    opener.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def review_probe(page) -> dict:
    return page.evaluate("window.__delineate.review()")


def paint(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Brush (D), one stroke between two image points, then wait until it is saved."""
    page.keyboard.press("d")
    drag(page, to_screen(page, *start), to_screen(page, *end), steps=20)
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !window.__delineate.hasUnsaved()")


def open_project(page, project_id: int) -> None:
    page.goto(f"/projects/{project_id}/")
    page.wait_for_selector(".my-tasks, .tasks-panel")


def test_owner_assigns_annotators_submit_reviewer_requests_changes_annotator_fixes_reviewer_approves(
    stack, open_as
):
    seeded = stack.seeded
    project, series_a = seeded["project"], seeded["series_a"]

    # Given Olivia, the owner, on her project page: two independent annotations per case.
    olivia = open_as("olivia")
    open_project(olivia, project)
    olivia.fill("input.per-case", "2")
    olivia.click(".tasks-panel .row button:has-text('Save')")
    olivia.wait_for_selector(".tasks-panel .form-status:has-text('2 independent annotations')")
    # When she creates a task on series A for Anna and Ben
    olivia.check(f".task-form input[name=series][value='{series_a}']")
    for name in ("anna", "ben"):
        olivia.check(f".task-form label.check:has-text('{name}') input[name=annotators]")
    assert "each given to all 2 chosen" in olivia.inner_text(".task-plan")
    olivia.click(".task-form button[type=submit]")
    olivia.wait_for_selector(".tasks-panel .form-status:has-text('Created 1 task')")
    # Then the table shows both copies, not started, with a dash for active time
    rows = olivia.locator(".assignment-row[data-state=todo]")
    rows.first.wait_for()
    assert rows.count() == 2
    assert "Not started" in rows.first.inner_text() and "—" in rows.first.inner_text()
    shot(olivia, "01-owner-tasks")
    # When she puts Ben's copy back in the pool, the task says it has an open slot
    olivia.select_option(".assignment-row[data-state=todo]:has-text('ben') select.reassign", "pool")
    olivia.wait_for_selector(".task-row:has-text('1 open in the pool')")

    # Anna: My tasks, Next case opens her case in the viewer, she paints, Submit and next.
    anna = open_as("anna")
    open_project(anna, project)
    anna.wait_for_selector(".my-cases .case-row:has-text('Lung CT A')")
    anna.click("button.next-case")
    anna.wait_for_url(re.compile(rf"/series/{series_a}/\?assignment=\d+"))
    wait_viewer_ready(anna)
    anna.wait_for_function("() => window.__delineate.review().state === 'in_progress'")
    anna_case = int(re.search(r"assignment=(\d+)", anna.url).group(1))
    paint(anna, (200, 200), (260, 220))
    shot(anna, "02-anna-painted")
    anna.click("button.submit-next")
    # Her queue is empty now (series B's case was already submitted): back to the project page.
    anna.wait_for_url(re.compile(rf"/projects/{project}/\?done=1"))
    anna.wait_for_selector(".my-cases:has-text('No unfinished case')")

    # Ben takes the pool copy with Next case, paints elsewhere and submits.
    ben = open_as("ben")
    open_project(ben, project)
    ben.click("button.next-case")
    ben.wait_for_url(re.compile(rf"/series/{series_a}/\?assignment=\d+"))
    wait_viewer_ready(ben)
    ben.wait_for_function("() => window.__delineate.review().state === 'in_progress'")
    # Independent readings: Ben's viewer shows nothing of Anna's mask.
    assert ben.evaluate("window.__delineate.overlayPixels()") == 0
    paint(ben, (300, 300), (340, 300))
    ben.click("button.submit-next")
    ben.wait_for_url(re.compile(rf"/projects/{project}/"))

    # Anna opens her submitted case again and keeps it open.
    anna.goto(f"/series/{series_a}/?assignment={anna_case}")
    wait_viewer_ready(anna)
    anna.wait_for_function("() => window.__delineate.review().state === 'submitted'")

    # Rui, the reviewer: To review lists Anna's case; the review view shows both annotators' layers.
    rui = open_as("rui")
    open_project(rui, project)
    rui.click(f".review-cases .case-row[data-assignment-id='{anna_case}']")
    wait_viewer_ready(rui)
    rui.wait_for_selector(".layer-row:has-text('anna · nodule')")
    rui.wait_for_selector(".layer-row:has-text('ben · nodule')")
    rui.wait_for_function(
        "() => window.__delineate.review().layers.filter((l) => l.username && l.pixels > 0).length === 2"
    )
    both = rui.evaluate("window.__delineate.overlayPixels()")
    shot(rui, "03-review-two-layers")
    # Hiding Ben's layer leaves only Anna's pixels.
    rui.click(".layer-row:has-text('ben · nodule') button.eye")
    rui.wait_for_function(f"() => window.__delineate.overlayPixels() < {both}")
    rui.click(".layer-row:has-text('ben · nodule') button.eye")
    # The agreement table names the pair.
    rui.wait_for_selector(".agreement-row:has-text('anna · ben')")

    # When Rui pins a comment with the Comment tool and requests changes
    rui.keyboard.press("k")
    x, y = to_screen(rui, 230, 210)
    rui.mouse.click(x, y)
    rui.wait_for_selector(".comment-pin:has-text('Pinned at slice')")
    rui.fill("textarea.comment-text", "Extend the outline to the lower edge.")
    rui.click("button.request-changes")
    rui.wait_for_selector(".case-panel .case-state:has-text('Changes requested')")
    shot(rui, "04-changes-requested")

    # Then Anna, whose viewer is open on the case, sees the comment arrive with its marker, and the case is
    # hers to work on again.
    anna.wait_for_selector(".comment:has-text('Extend the outline to the lower edge.')")
    anna.wait_for_function("() => window.__delineate.review().state === 'in_progress'")
    comment = review_probe(anna)["comments"][0]
    assert comment["slice"] == anna.evaluate("window.__delineate.slice()")
    shot(anna, "05-anna-sees-comment")
    # She fixes the mask and resubmits.
    paint(anna, (230, 220), (230, 260))
    anna.click("button.submit-next")
    anna.wait_for_url(re.compile(rf"/projects/{project}/"))

    # Rui approves the resubmitted case.
    rui.reload()
    wait_viewer_ready(rui)
    rui.wait_for_selector(".case-panel .case-state:has-text('Submitted')")
    rui.click("button.approve")
    rui.wait_for_selector(".case-panel .case-state:has-text('Approved')")

    # Olivia's table shows the outcome of each copy.
    open_project(olivia, project)
    olivia.wait_for_selector(f".assignment-row[data-assignment-id='{anna_case}'][data-state=approved]")
    shot(olivia, "06-owner-sees-approval")
    for name, errors in open_as.errors.items():
        assert errors == [], (name, errors)


def test_the_review_shows_the_agreement_of_a_known_pair_and_builds_their_consensus(stack, open_as):
    seeded = stack.seeded
    rui = open_as("rui")
    anna_case = seeded["copies_b"]["anna"]
    rui.goto(f"/series/{seeded['series_b']}/?assignment={anna_case}")
    wait_viewer_ready(rui)
    # Two 20×20 squares offset by 5 pixels each way on the middle slice: Dice 0.5625 over the volume and there.
    row = rui.wait_for_selector(".agreement-row:has-text('anna · ben')")
    assert rui.evaluate("window.__delineate.slice()") == seeded["middle"]
    assert seeded["dice_b"] == 0.5625  # shown with three decimals, rounded half up as JavaScript does
    assert row.query_selector(".dice-volume").inner_text() == "0.563"
    assert row.query_selector(".dice-slice").inner_text() == "0.563"
    shot(rui, "07-agreement")
    # The majority consensus of two is their overlap: 15×15 pixels, saved as its own layer.
    rui.click("button.consensus-majority")
    rui.wait_for_function(
        f"() => window.__delineate.review().layers.some((l) => l.username === null && l.pixels === {seeded['overlap_b']})"
    )
    rui.wait_for_selector(".layer-row:has-text('Consensus · nodule'):has-text('revision 1')")
    assert open_as.errors["rui"] == []
