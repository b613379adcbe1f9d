"""Simulated annotators: HTTP over TLS as the browser does it, and a WebSocket client that prompts, saves
and propagates, retrying a prompt once after a timeout or a dropped socket (as the browser does)."""

from __future__ import annotations

import asyncio
import json
import random
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path

from scripts.stack_test.common import PASSWORD, PROMPT_TIMEOUT_S, RECOVERY_S


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
    # status → count of attempts that got no answer from the app (a web server restarting behind nginx: 502),
    # retried as the browser's autosave retries them
    saves_retried: dict = field(default_factory=dict)
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
        self.last_record: dict = {}  # the record of the last prompt (its outcome and timings)

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
        self.last_record = record
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
        """Save as the browser's autosave does: a conflict takes the new head and saves again (once); no answer
        from the app (nginx's 502/503/504 while a web server restarts, or a dropped connection) is retried
        after a pause. Each attempt carries its own marker, so an attempt whose answer was lost but which did
        commit is never mistaken for the acknowledged one."""
        self.saves += 1
        a = self.seeded["a"]
        path = f"/api/series/{a['series']}/masks/{a['label']}/revisions/"
        conflicts = 0
        for attempt in range(6):
            marker = f"test-stack:{self.username}:{self.saves}:{attempt}"
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
            if status in (502, 503, 504) or not isinstance(status, int):
                self.stats.saves_retried[str(status)] = self.stats.saves_retried.get(str(status), 0) + 1
                await asyncio.sleep(1.0)
                continue
            self.stats.saves_refused[str(status)] = self.stats.saves_refused.get(str(status), 0) + 1
            if status == 409 and isinstance(reply, dict) and conflicts == 0:
                conflicts += 1
                self.head = reply["error"]["details"].get("head_revision")
                continue
            return
        self.stats.saves_refused["no answer"] = self.stats.saves_refused.get("no answer", 0) + 1

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
