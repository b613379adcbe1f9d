"""A real stack (Redis, the Celery workers as `make run` starts them, Daphne) and Debian's Chromium, driven
by Playwright, for the end-to-end tests of the viewer. One stack and one browser per module; each test gets
fresh browser contexts (their own cookies and storage).

Chromium comes from the distribution (scripts/ensure_chromium.sh, called by `make test`), never from a
Playwright download. Screenshots and the timing numbers go to test-artifacts/browser/.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from annotator import rle
from scripts.livestack import ROOT, LiveStack

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
USERS = {"ines": "pass-ines-e2e", "jon": "pass-jon-e2e"}
# Waits are generous: the machine is shared and the workers load the model first. Never a speed assertion.
LONG_MS = 180_000
# Timing numbers of the run, printed at the end of the session and written to test-artifacts/browser/perf.json.
PERF: dict = {}


@contextmanager
def live_stack(
    artifacts: Path,
    passwords: dict[str, str],
    *,
    workers: bool | Callable[[LiveStack], None] = True,
    live: LiveStack | None = None,
) -> Iterator[LiveStack]:
    """Redis, the web server and the workers as `make run` starts them (or ``workers(live)`` starting a
    chosen set, or none), with a user per ``passwords`` entry; on the way out the process logs are copied to
    ``artifacts``/logs and every process is stopped. Pass ``live`` to set its environment beforehand."""
    live = live or LiveStack()
    try:
        live.start_redis()
        live.start_web()
        if workers is True:
            live.start_workers()
        elif callable(workers):
            workers(live)
        for name, password in passwords.items():
            live.create_user(name, password)
        yield live
    finally:
        logs = artifacts / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for path in live.workdir.glob("*.log"):
            shutil.copy(path, logs / path.name)
        live.stop_all()


def run_seed(live: LiveStack, code: str) -> dict:
    """Run a seed script's ``main`` in the stack's Django (``code`` is Python for `manage.py shell -c`); its
    last printed line is the JSON of what it made."""
    return json.loads(live.manage("shell", "-c", code).strip().splitlines()[-1])


@pytest.fixture(scope="module")
def stack() -> Iterator[LiveStack]:
    with live_stack(ARTIFACTS, USERS) as live:
        live.seeded = live.seed(list(USERS))
        yield live


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure_chromium.sh (make test does) and try again.")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary profile (user data dir), removed on close.
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Session:
    """One user in their own browser context, with the page's uncaught errors collected."""

    page: object
    username: str
    errors: list = field(default_factory=list)

    def shot(self, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def sessions(browser, stack):
    """Open a logged-in browser context per call: ``sessions("ines")``. Closed after the test."""
    opened: list = []

    def open_session(username: str) -> Session:
        context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=stack.base_url)
        opened.append(context)
        context.set_default_timeout(LONG_MS)
        page = context.new_page()
        session = Session(page, username)
        page.on("pageerror", lambda error: session.errors.append(str(error)))
        login(page, username)
        return session

    yield open_session
    for context in opened:
        context.close()


def login(page, username: str) -> None:
    """Log in as one of this module's users; Django redirects to the project list."""
    log_in(page, username, USERS[username])


def log_in(page, username: str, password: str, ready: str = ".project-card") -> None:
    """Log in through the login form and wait for ``ready`` on the page Django redirects to."""
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_selector(ready)


class PageOpener:
    """Logged-in pages, each in its own browser context, with each user's uncaught page errors kept:
    ``open_page("olivia")``; ``open_page.errors["olivia"]``. ``close()`` closes every context."""

    def __init__(self, browser, stack: LiveStack, passwords: dict[str, str], **options) -> None:
        self.browser, self.stack, self.passwords = browser, stack, passwords
        self.height: int = options.get("height", 1000)
        self.ready: str = options.get("ready", ".project-card")
        self.contexts: list = []
        self.errors: dict[str, list[str]] = {}

    def __call__(self, username: str):
        context = self.browser.new_context(
            viewport={"width": 1400, "height": self.height}, base_url=self.stack.base_url
        )
        self.contexts.append(context)
        context.set_default_timeout(LONG_MS)
        page = context.new_page()
        errors = self.errors.setdefault(username, [])
        page.on("pageerror", lambda error: errors.append(str(error)))
        log_in(page, username, self.passwords[username], self.ready)
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def open_viewer(page, series_id: int) -> None:
    page.goto(f"/series/{series_id}/")
    wait_viewer_ready(page)


def wait_viewer_ready(page) -> None:
    """The viewer published its probe (saved masks and the first slice loaded) and the socket is live."""
    page.wait_for_function(
        "() => window.__delineate !== undefined && document.querySelector('.status-conn.open') !== null"
    )


def go_to_slice(page, z: int) -> None:
    """Scroll with the arrow keys, as a user does."""
    for _ in range(64):
        current = page.evaluate("window.__delineate.slice()")
        if current == z:
            return
        page.keyboard.press("ArrowDown" if current < z else "ArrowUp")
    raise AssertionError(f"could not reach slice {z}")


def drag(page, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=steps)
    page.mouse.up()


def to_screen(page, x: float, y: float) -> tuple[float, float]:
    sx, sy = page.evaluate("([x, y]) => window.__delineate.imageToScreen(x, y)", [x, y])
    return sx, sy


def box_to_candidate(page, box: list[int]) -> dict:
    """Box tool (B), drag the box with the mouse, wait for the model's candidate."""
    page.keyboard.press("b")
    before = page.evaluate("() => window.__delineate.perf.boxToMaskMs.length")
    drag(page, to_screen(page, box[0], box[1]), to_screen(page, box[2], box[3]))
    page.wait_for_function("n => window.__delineate.perf.boxToMaskMs.length > n", arg=before)
    return page.evaluate("() => window.__delineate.candidate()")


def mask_of(probe: dict) -> np.ndarray:
    """A probe mask ({rle: {size, counts}}) as a boolean array."""
    return rle.decode(probe["rle"]).astype(bool)


def save_now(page) -> int:
    """Ctrl+S, then wait until nothing is unsaved; the revision number the status line names."""
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "() => !window.__delineate.hasUnsaved() &&"
        " /^Saved \\(revision \\d+\\)$/.test(document.querySelector('.status-save').textContent)"
    )
    text = page.inner_text(".status-save")
    return int(re.fullmatch(r"Saved \(revision (\d+)\)", text).group(1))


def pytest_terminal_summary(terminalreporter) -> None:
    if not PERF:
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "perf.json").write_text(json.dumps(PERF, indent=2))
    terminalreporter.section("viewer timings (browser, not asserted)")
    for key, value in PERF.items():
        terminalreporter.write_line(f"{key}: {json.dumps(value)}")
    terminalreporter.write_line(f"written to {ARTIFACTS / 'perf.json'}")


# --- A stack seeded with options (tests/browser/test_viewer_more.py) -------------------------------------
def seed_with(live: LiveStack, usernames: list[str], **options) -> dict:
    """scripts/seed_lung.py's ``main`` with keyword options (slices, image2d, soft_tissue_label)."""
    args = "".join(f", {key}={value!r}" for key, value in options.items())
    return run_seed(live, f"import scripts.seed_lung as s; s.main({usernames!r}{args})")


@contextmanager
def running_stack(artifacts: Path, **seed_options) -> Iterator[LiveStack]:
    """Like the ``stack`` fixture, seeded with ``seed_options``; the process logs go to ``artifacts``/logs."""
    with live_stack(artifacts, USERS) as live:
        live.seeded = seed_with(live, list(USERS), **seed_options)
        yield live
