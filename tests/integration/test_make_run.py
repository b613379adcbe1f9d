"""`make run`'s stack (python -m webapp.stack): prepares everything, serves the demo project, reports a live
worker and the loaded model, and Ctrl-C stops every process it started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from scripts.livestack import ROOT, LiveStack, free_port, port_open, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def processes_with_marker(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"DELINEATE_TEST_MARKER={marker}".encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_the_stack_serves_the_demo_project_and_ctrl_c_stops_everything(tmp_path):
    marker = uuid.uuid4().hex
    http_port, redis_port = free_port(), free_port()
    env = {
        **os.environ,
        "DELINEATE_TEST_MARKER": marker,
        "SECRET_KEY": "make-run-test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "PORT": str(http_port),
        "EMBEDDED_REDIS_PORT": str(redis_port),
    }
    env.pop("REDIS_URL", None)
    log = open(tmp_path / "stack.log", "w+")
    stack = subprocess.Popen(
        [sys.executable, "-m", "webapp.stack"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output = lambda: (tmp_path / "stack.log").read_text()  # noqa: E731
        wait_until(
            lambda: "Delineate is running at" in output() or stack.poll() is not None, "the stack", 600
        )
        assert f"Delineate is running at http://127.0.0.1:{http_port}/" in output(), output()[-3000:]
        assert "log in as demo / delineate-demo" in output()
        assert port_open(redis_port), "the embedded Redis is up"

        live = LiveStack(workdir=tmp_path / "client", http_port=http_port, redis_port=redis_port)
        wait_until(lambda: live.get_json("/healthz")[0] == 200, "a healthy stack", 180)
        health = live.get_json("/healthz")[1]
        assert health["model"]["name"] == "lite_medsam" and health["workers"]["queues"]["interactive"]

        jar = live.login("demo", "delineate-demo")
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        projects = json.loads(opener.open(f"{live.base_url}/api/projects/").read())
        (demo,) = [p for p in projects if p["name"] == "Demo: CT, MR and 2D"]
        assert {label["name"] for label in demo["labels"]} >= {"nodule", "tumour"}
        studies = json.loads(opener.open(f"{live.base_url}/api/projects/{demo['id']}/studies/").read())
        series = [s for study in studies for s in study["series"]]
        modalities = sorted(s["modality"] for s in series)
        assert modalities == ["CR", "CT", "MR"], modalities
        ct = next(s for s in series if s["modality"] == "CT")
        assert ct["has_reference_labels"] and ct["num_slices"] > 1
        assert next(s for s in series if s["modality"] == "MR")["num_slices"] == 20
        page = opener.open(f"{live.base_url}/").read().decode()
        assert "Demo: CT, MR and 2D" in page
    finally:
        stack.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            stack.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while processes_with_marker(marker) and time.monotonic() < deadline:
            time.sleep(0.5)
        leftovers = processes_with_marker(marker)
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
    assert "[delineate] stopped" in (tmp_path / "stack.log").read_text()
    assert leftovers == [], "every process the stack started has stopped"
    assert not port_open(http_port) and not port_open(redis_port)
