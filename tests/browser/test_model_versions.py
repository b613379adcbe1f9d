"""The model versions page end to end (issue 11) in a real Chromium against a real stack (Redis, the Celery
workers as `make run` starts them, Daphne): the owner of a project whose nodule masks on two real lung CT
series a reviewer approved (scripts/seed_al.py) starts training, watches its progress and loss curve arrive
over the socket, sees the new version's held-out metrics beside the base model's, promotes it, and rolls
it back; then an owner changes the settings in the form. Last, issue 11's "done when" as a user does it, in
a second project where nothing is saved yet: an annotator takes her two cases with Next case and outlines
the nodule on each of its slices with a box and the model's mask, a reviewer approves both, and the owner
trains on the approved masks, watches the run end and promotes the new version. Training is kept tiny
(three slices per series, one epoch). Screenshots go to test-artifacts/model-versions/."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from annotator import rle
from scripts.livestack import ROOT, LiveStack
from tests.browser.conftest import (
    LONG_MS,
    PageOpener,
    box_to_candidate,
    go_to_slice,
    live_stack,
    log_in,
    mask_of,
    run_seed,
    save_now,
    wait_viewer_ready,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = ROOT / "test-artifacts" / "model-versions"
PASSWORDS = {"olivia": "pass-olivia-al", "anna": "pass-anna-al", "rui": "pass-rui-al"}


def private_model_dir(live: LiveStack) -> Path:
    """A MODEL_DIR of the stack's own: the shipped weights and the base model's OpenVINO export linked in
    from the real one, so the candidates this test trains (and their conversions) stay in the stack's
    temporary folder."""
    real = Path(os.environ.get("MODEL_DIR") or ROOT / "var" / "models")
    models = live.workdir / "models"
    (models / "openvino").mkdir(parents=True)
    (models / "lite_medsam.pth").symlink_to(real / "lite_medsam.pth")
    for export in (real / "openvino").glob("lite_medsam-*"):
        (models / "openvino" / export.name).symlink_to(export)
    return models


@pytest.fixture(scope="module")
def stack():
    live = LiveStack()
    live.extra_env["MODEL_DIR"] = str(private_model_dir(live))
    with live_stack(ARTIFACTS, PASSWORDS, live=live) as live:
        live.seeded = run_seed(live, "import scripts.seed_al as s; s.main('olivia', 'anna', 'rui')")
        # a second project for the whole loop: its tasks in progress, nothing saved yet
        code = "import scripts.seed_al as s; s.main('olivia', 'anna', 'rui', annotate=False)"
        live.loop = run_seed(live, code)
        yield live


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def shell(stack, code: str) -> str:
    return stack.manage("shell", "-c", code).strip().splitlines()[-1]


def row_state(page, number: int) -> str:
    return page.get_attribute(f".versions-table tr[data-version='{number}']", "data-state")


def test_owner_trains_watches_promotes_and_rolls_back(browser, stack):
    project = stack.seeded["project"]
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=stack.base_url)
    context.set_default_timeout(LONG_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        log_in(page, "olivia", PASSWORDS["olivia"])
        # The project page links to the versions page
        page.goto(f"/projects/{project}/")
        page.click(".models-link")
        page.wait_for_selector(".versions-table")
        assert "Only the base model so far" in page.inner_text(".versions-table")
        assert "approved masks" in page.inner_text(".al-settings")
        # Every status line the page shows is kept, to check afterwards that progress was seen live
        page.evaluate(
            """() => { window.__seen = [];
                const el = document.querySelector('.training-status');
                new MutationObserver(() => window.__seen.push(el.textContent)).observe(el, {childList: true});
                const svg = document.querySelector('.loss-plot');
                window.__lossPaths = 0;
                new MutationObserver(() => { if (svg.querySelector('path[data-series=loss]')) window.__lossPaths++; })
                    .observe(svg, {childList: true}); }"""
        )
        # When the owner starts training
        page.click(".start-training")
        page.wait_for_function("document.querySelector('.training-status').dataset.state === 'running'")
        shot(page, "1-training")
        # Then the run finishes and the new version appears with its held-out metrics
        page.wait_for_function("document.querySelector('.training-status').dataset.state === 'done'")
        page.wait_for_selector(".versions-table tr[data-version='1']")
        shot(page, "2-trained")
        seen = page.evaluate("window.__seen")
        assert any(text.startswith("Embedded") for text in seen), seen
        assert any(text.startswith("Epoch 1 of 1") and "loss" in text for text in seen), seen
        assert any("held-out cases" in text for text in seen), seen
        assert page.evaluate("window.__lossPaths") > 0  # the loss curve was drawn from the socket's points
        assert row_state(page, 1) == "candidate"
        assert row_state(page, 0) == "promoted"
        dsc = page.inner_text(".versions-table tr[data-version='1'] .dsc")
        assert dsc[0].isdigit() and "(" in dsc  # its DSC and the difference to the base model's
        assert page.locator(".dice-plot path").count() == 2  # the base model's and v1's curves
        # When she reloads the page, the finished run's loss curve is drawn from the stored version row
        points = page.evaluate(
            "document.querySelector('.loss-plot path[data-series=loss]').getAttribute('d')"
        )
        page.reload()
        page.wait_for_selector(".versions-table tr[data-version='1']")
        page.wait_for_selector(".loss-plot path[data-series=loss]")
        assert "v1" in page.inner_text(".loss-caption")
        stored = page.evaluate(
            "document.querySelector('.loss-plot path[data-series=loss]').getAttribute('d')"
        )
        assert stored.count("L") >= 1 and stored.count("L") >= points.count("L")  # every step, not a stub
        # When she promotes it, it becomes the active version
        page.click(".versions-table tr[data-version='1'] .promote")
        page.wait_for_function(
            "document.querySelector(\".versions-table tr[data-version='1']\").dataset.state === 'promoted'"
        )
        assert "active" in page.inner_text(".versions-table tr[data-version='1']")
        shot(page, "3-promoted")
        # When she rolls it back, the base model is active again and v1 says it was rolled back
        page.click(".rollback")
        page.wait_for_function(
            "document.querySelector(\".versions-table tr[data-version='1']\").dataset.state === 'rolled_back'"
        )
        assert "active" in page.inner_text(".versions-table tr[data-version='0']")
        assert page.is_hidden(".rollback")
        shot(page, "4-rolled-back")
        status, body = stack.get_json(f"/api/projects/{project}/model-versions/")
        assert status in (403, 404)  # no session outside the browser: nothing leaks
        assert errors == []
    finally:
        context.close()


def test_owner_changes_the_settings_in_the_form_and_the_queue_follows_them(browser, stack):
    project, label = stack.seeded["project"], stack.seeded["label"]
    series = [s["series"] for s in stack.seeded["series"]]
    # Given settings stored invalid (a negative learning rate) and two open cases, one per series
    tasks = json.loads(
        shell(
            stack,
            "import json; from annotator.models import Project, Task; "
            f"p = Project.objects.get(pk={project}); al = dict(p.settings.get('active_learning') or {{}}); "
            "al['recipe'] = {**al.get('recipe', {}), 'lr': -1}; p.settings = {**p.settings, 'active_learning': al}; "
            "p.save(); made = []\n"
            f"for s in {series}:\n"
            "    t = Task.objects.create(project=p, series_id=s, instructions='Outline the nodule again.')\n"
            f"    t.labels.set([{label}]); made.append(t.pk)\n"
            "print(json.dumps(made))",
        )
    )
    open_page = PageOpener(browser, stack, PASSWORDS)
    try:
        page = open_page("olivia")
        page.goto(f"/projects/{project}/models/")
        page.wait_for_selector(".al-settings-form select[name=al-queue_ordering]")
        # Then the page says which stored value is invalid and that the defaults are in use
        warning = page.inner_text(".al-settings-warning")
        assert "recipe.lr" in warning and "defaults are in use" in warning
        # When she orders Next case by the model's predicted IoU, sets two epochs and saves
        page.select_option("select[name=al-queue_ordering]", "lowest-iou")
        page.fill("input[name=al-recipe-max_epochs]", "2")
        page.click(".save-al-settings")
        page.wait_for_selector(".al-settings-saved:not([hidden])")
        assert page.is_hidden(".al-settings-warning")  # a valid whole was written
        page.wait_for_selector(".al-settings:has-text('ordered by lowest-iou')")  # the page reloads its data
        # When she enters a held-out share the server refuses, its message shows beside the form
        page.fill("input[name=al-heldout_fraction]", "1.5")
        page.click(".save-al-settings")
        page.wait_for_selector(".al-settings-error:not([hidden])")
        assert "heldout_fraction" in page.inner_text(".al-settings-error")
        shot(page, "5-settings-refused")
        # Then after a reload the saved values stand and the refused one changed nothing
        page.reload()
        page.wait_for_selector(".al-settings-form select[name=al-queue_ordering]")
        assert page.input_value("select[name=al-queue_ordering]") == "lowest-iou"
        assert page.input_value("input[name=al-recipe-max_epochs]") == "2"
        assert page.input_value("input[name=al-heldout_fraction]") == "0.2"
        # The new ordering scored the open cases on a worker with the project's model ...
        scores = {}
        for _ in range(120):
            scores = json.loads(
                shell(
                    stack,
                    "import json; from annotator.models import QueueScore; print(json.dumps({s.task_id: s.score "
                    f"for s in QueueScore.objects.filter(task_id__in={tasks}, strategy='lowest-iou')}}))",
                )
            )
            if len(scores) == len(tasks):
                break
        assert len(scores) == len(tasks), scores
        doubted = max(scores, key=lambda t: scores[t])
        expected_series = series[tasks.index(int(doubted))]
        # ... and the annotator, who sees the settings read-only, gets the case the model doubts most next
        anna = open_page("anna")
        anna.goto(f"/projects/{project}/models/")
        anna.wait_for_selector(".al-settings-form select[name=al-queue_ordering]")
        assert anna.is_disabled("select[name=al-queue_ordering]") and anna.is_hidden(".save-al-settings")
        anna.goto(f"/projects/{project}/")
        anna.click("button.next-case")
        anna.wait_for_url(re.compile(rf"/series/{expected_series}/\?assignment=\d+"))
        assert open_page.errors == {"olivia": [], "anna": []}
    finally:
        open_page.close()


# --- The whole loop in the browser ----------------------------------------------------------------------
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


def test_masks_annotated_and_approved_in_the_browser_train_a_version_the_owner_promotes(browser, stack):
    open_as = PageOpener(browser, stack, PASSWORDS)
    try:
        run_the_loop(stack, open_as)
    finally:
        open_as.close()


def run_the_loop(stack, open_as) -> None:
    seeded = stack.loop
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
        shot(anna, f"loop-1-anna-case-{n + 1}")
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
    shot(olivia, "loop-2-promoted")
    for name, errors in open_as.errors.items():
        assert errors == [], (name, errors)
