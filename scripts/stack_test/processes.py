"""The stack's processes: Debian packages, a supervised process that is restarted as systemd would, and the
stack itself (PostgreSQL's URL given; redis-server, two ASGI servers, three workers, nginx over TLS)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from scripts import nginx_site
from scripts.livestack import free_port, port_open, wait_until
from scripts.stack_test.common import PASSWORD, RESTART_AFTER_S, ROOT, log


# Packages -------------------------------------------------------------------------------------------------
def ensure_packages() -> None:
    """Debian's redis-server, nginx and openssl (PostgreSQL: scripts/postgres.py installs it)."""
    missing = [
        package
        for package, binary in (("redis-server", "redis-server"), ("nginx", "nginx"), ("openssl", "openssl"))
        if shutil.which(binary) is None and not Path(f"/usr/sbin/{binary}").exists()
    ]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(
            f"missing Debian packages {missing}: run `apt-get install -y {' '.join(missing)}` as root"
        )
    log(f"installing {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


# Processes ------------------------------------------------------------------------------------------------
@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict
    logdir: Path
    restart: bool = True  # started again after it exits (a crash, a kill), as systemd does
    process: subprocess.Popen | None = None
    starts: int = 0
    stopping: bool = False
    exited_at: float | None = None

    def start(self) -> None:
        from webapp.stack import die_with_parent

        log_file = open(self.logdir / f"{self.name}.log", "ab")
        self.process = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
        self.starts += 1
        self.exited_at = None

    def log(self) -> str:
        path = self.logdir / f"{self.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self, signum: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signum)

    def stop(self) -> None:
        self.stopping = True
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Cluster:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: dict[str, Proc] = {}
        self._stop = threading.Event()
        self._monitor = threading.Thread(target=self._watch, daemon=True)

    def add(self, proc: Proc) -> Proc:
        self.procs[proc.name] = proc
        proc.start()
        return proc

    def watch(self) -> None:
        self._monitor.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            for proc in list(self.procs.values()):
                if proc.stopping or not proc.restart or proc.process is None or proc.process.poll() is None:
                    continue
                if proc.exited_at is None:
                    proc.exited_at = time.monotonic()
                    log(
                        f"{proc.name} exited ({proc.process.returncode}); restarting it in {RESTART_AFTER_S:.0f} s"
                    )
                elif time.monotonic() - proc.exited_at >= RESTART_AFTER_S:
                    proc.start()

    def stop_all(self) -> None:
        self._stop.set()
        for proc in reversed(list(self.procs.values())):
            proc.stop()


def django_json(env: dict, code: str, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result.stdout


SEED = """
from django.contrib.auth import get_user_model
User = get_user_model()
for name in {names!r}:
    user, _ = User.objects.get_or_create(username=name)
    user.set_password({password!r})
    user.save()
import scripts.seed_lung as s
s.main({names!r}, {slices_a})
s.main({names!r}, {slices_b})
"""


def start_stack(workdir: Path, pg_url: str, users: int) -> tuple[Cluster, dict, dict]:
    from webapp import processes

    redis_port, https_port, http_port = free_port(), free_port(), free_port()
    web_ports = [free_port(), free_port()]
    logs = workdir / "logs"
    logs.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "DEBUG": "false",
        "SECRET_KEY": "test-stack-secret",
        "DATABASE_URL": pg_url,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "MEDIA_ROOT": str(workdir / "media"),
        "STATIC_ROOT": str(workdir / "static"),
        "TMPDIR": str(workdir / "tmp"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TRUST_X_FORWARDED_PROTO": "true",
        "PYTHONUNBUFFERED": "1",
        # Fast reaping for a bounded run (defaults: 10 s / 120 s / 30 s / 600 s).
        "JOB_HEARTBEAT_S": "2",
        "JOB_HEARTBEAT_TIMEOUT_S": "10",
        "REAPER_INTERVAL_S": "2",
        "JOB_PENDING_RESEND_S": "20",
    }
    env.pop("REDIS_INSTALL_TOKEN", None)
    (workdir / "tmp").mkdir()
    cluster = Cluster(workdir)
    redis_dir = workdir / "redis"
    redis_dir.mkdir()
    redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
    cluster.add(
        Proc(
            "redis",
            [
                redis_server,
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(redis_dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--daemonize",
                "no",
            ],
            env,
            logs,
        )
    )
    wait_until(lambda: port_open(redis_port), "redis-server", 20)
    log("migrating PostgreSQL, collecting static files, seeding the lung CT and the annotators")
    manage(env, "migrate", "--no-input", "-v", "0")
    manage(env, "collectstatic", "--no-input", "-v", "0")
    names = [f"ann{n:02d}" for n in range(users)]
    seeded_lines = manage(
        env, "shell", "-c", SEED.format(names=names, password=PASSWORD, slices_a=7, slices_b=31)
    )
    # seed_lung prints one JSON line per series: project, label, series, slice (the nodule's), slices, box
    seeded = dict(
        zip("ab", (json.loads(line) for line in seeded_lines.strip().splitlines()[-2:]), strict=True)
    )
    for n, port in enumerate(web_ports, start=1):
        cluster.add(Proc(f"web-{n}", processes.command(processes.web_args("127.0.0.1", port)), env, logs))
    interactive, embed = processes.WORKERS
    for n in (1, 2):
        cluster.add(
            Proc(
                f"worker-interactive-{n}",
                processes.worker_command(interactive, node=f"interactive{n}"),
                env,
                logs,
            )
        )
    cluster.add(Proc("worker-embed", processes.worker_command(embed), env, logs))
    certificate, key = nginx_site.self_signed_certificate(workdir)
    site = nginx_site.render_site(
        upstreams=[f"127.0.0.1:{port}" for port in web_ports],
        http_port=http_port,
        https_port=https_port,
        certificate=certificate,
        key=key,
        static_root=workdir / "static",
    )
    os.chmod(workdir, 0o755)  # nginx's workers (nobody) read the static files
    config = nginx_site.write_config(workdir / "nginx", site)
    checked = nginx_site.check_config(config)
    if checked.returncode != 0:
        raise RuntimeError(checked.stderr)
    cluster.add(Proc("nginx", [nginx_site.nginx_binary(), "-c", str(config), "-g", "daemon off;"], env, logs))
    for port in web_ports:
        wait_until(lambda port=port: port_open(port), f"Daphne on {port}", 60)
    wait_until(lambda: port_open(https_port), "nginx", 20)
    # A worker is ready once it has loaded and warmed up the model. The embed worker runs at nice 10: on this
    # shared 2-core machine with a test suite and a browser running beside it, it once took over 180 s.
    for name in ("worker-interactive-1", "worker-interactive-2", "worker-embed"):
        wait_until(lambda name=name: "ready." in cluster.procs[name].log(), name, 600)
    cluster.watch()
    info = {"redis_port": redis_port, "https": f"https://127.0.0.1:{https_port}", "web_ports": web_ports}
    return cluster, env, {"seeded": seeded, "names": names, **info}
