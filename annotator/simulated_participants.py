"""Scripted participants of a simulated timing study (``manage.py simulate_study``). Each logs in through
the login form and works through the real REST API and WebSocket exactly as the viewer does: takes its next
study task, subscribes with the task's assignment, draws (manual: traces the reference contour with brush
strokes and fills it; assisted: draws a box, waits for the real model's mask, then corrective strokes until
Dice ≥ the target or a cap), saves revisions over REST, logs every interaction over the socket and submits.

Simulated time: the events carry a *simulated* client clock. It starts at the real time the task starts and
moves on by the stated human times (``Behaviour``) and by the model's real waiting time, measured here;
nothing sleeps for those minutes. No Django here: the command passes in the reference masks.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import numpy as np
import websockets
from websockets.typing import Origin

from annotator import rle
from annotator.timing import tracing


@dataclass(frozen=True)
class Behaviour:
    """Human times of the simulation (seconds, image pixels); docs/timing.md gives their sources."""

    draw_speed_px_s: float = 100.0
    stroke_overhead_s: float = 1.2
    click_s: float = 0.8
    box_s: float = 7.0
    slice_change_s: float = 1.0
    review_s: float = 1.0
    target_dice: float = 0.9
    max_corrections: int = 5
    correction_brush_px: float = 3.0
    box_jitter_px: float = 2.0
    speed_sd: float = 0.15

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass
class Case:
    """A study case as the participant sees it: its reference mask per slice that holds the structure."""

    series: int
    label: int
    shape: tuple[int, int]
    slices: dict[int, np.ndarray]


class Http:
    """The browser's REST side: a session cookie from the login form and the CSRF token on every POST."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def login(self, username: str, password: str) -> None:
        page = self.opener.open(f"{self.base_url}/login/", timeout=30).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if token is None:
            raise RuntimeError("the login page has no CSRF token")
        data = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1), "next": "/"}
        ).encode()
        request = urllib.request.Request(
            f"{self.base_url}/login/", data=data, headers={"Referer": self.base_url}
        )
        self.opener.open(request, timeout=30).read()
        if not any(c.name == "sessionid" for c in self.jar):
            raise RuntimeError(f"logging in as {username} failed")

    @property
    def cookie(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        token = next((c.value or "" for c in self.jar if c.name == "csrftoken"), "")
        request = urllib.request.Request(
            f"{self.base_url}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json", "X-CSRFToken": token, "Referer": self.base_url},
        )
        try:
            with self.opener.open(request, timeout=120) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError(
                f"{method} {path}: {error.code} {error.read().decode(errors='replace')}"
            ) from error
        return json.loads(raw) if raw else None


class Socket:
    """The viewer's socket: requests matched to replies by request_id."""

    def __init__(self, url: str, http: Http, origin: str) -> None:
        self.url, self.http, self.origin = url, http, origin
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.counter = 0

    async def __aenter__(self) -> Socket:
        self.ws = await websockets.connect(
            self.url,
            additional_headers={"Cookie": self.http.cookie},
            origin=cast(Origin, self.origin),
            max_size=2**26,
        )
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.reader.cancel()
        await self.ws.close()

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            future = self.pending.pop(message.get("request_id") or "", None)
            if future is not None and not future.done():
                future.set_result(message)

    async def request(self, message: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
        self.counter += 1
        request_id = f"sim{self.counter}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        await self.ws.send(json.dumps({**message, "request_id": request_id}))
        reply = await asyncio.wait_for(future, timeout)
        if reply["type"] == "error":
            raise RuntimeError(f"{message['type']}: {reply['code']}: {reply['message']}")
        return reply


@dataclass
class Participant:
    username: str
    password: str
    base_url: str
    behaviour: Behaviour
    rng: np.random.Generator
    # this person's pace: every human time is multiplied by it (lognormal around 1)
    pace: float = 1.0
    done: list[dict[str, Any]] = field(default_factory=list)

    async def run(self, study_id: int, cases: dict[tuple[int, int], Case]) -> list[dict[str, Any]]:
        self.http = Http(self.base_url)
        await asyncio.to_thread(self.http.login, self.username, self.password)
        while True:
            nxt = await asyncio.to_thread(self.http.call, "POST", f"/api/timing-studies/{study_id}/next/", {})
            task = nxt["task"]
            if task is None:
                return self.done
            await self.work(task, cases[(task["series"], task["label"])])

    async def work(self, task: dict[str, Any], case: Case) -> None:
        ws_url = self.base_url.replace("http", "ws", 1) + "/ws/"
        self.clock = time.time() * 1000.0
        self.session = f"sim-{task['assignment']}-{int(self.clock)}"
        self.events: list[dict[str, Any]] = []
        self.sent = 0  # events of this task's session acknowledged so far
        self.task, self.case = task, case
        async with Socket(ws_url, self.http, self.base_url) as socket:
            self.socket = socket
            await socket.request(
                {
                    "type": "subscribe",
                    "scope": {"kind": "series", "id": case.series},
                    "label_id": case.label,
                    "assignment_id": task["assignment"],
                }
            )
            mask_path = f"/api/series/{case.series}/masks/{case.label}/"
            saved = await asyncio.to_thread(self.http.call, "GET", mask_path)
            self.head = saved["revision"]["id"] if saved["revision"] else None
            self.log("page.open")
            self.log("tool", detail={"tool": "brush" if task["condition"] == "manual" else "box"})
            corrections = 0
            for z in sorted(case.slices):
                self.wait(self.behaviour.slice_change_s)
                self.log("slice", slice_index=z)
                if task["condition"] == "manual":
                    drawn = await self.draw(z)
                else:
                    drawn, n = await self.assisted(z)
                    corrections += n
                await self.save(z, drawn)
                await self.flush()
            self.wait(self.behaviour.review_s)
            self.log("page.close")
            await self.flush()
        await asyncio.to_thread(self.http.call, "POST", f"/api/assignments/{task['assignment']}/submit/", {})
        self.done.append({**task, "corrections": corrections, "events": len(self.events)})

    # -- the simulated clock and the log ---------------------------------------------------------------
    def wait(self, seconds: float, human: bool = True) -> None:
        self.clock += 1000.0 * seconds * (self.pace if human else 1.0)

    def log(self, kind: str, **fields: Any) -> None:
        event = {
            "seq": len(self.events),
            "kind": kind,
            "t": round(self.clock, 3),
            "series_id": self.case.series,
            "label_id": self.case.label,
            "assignment_id": self.task["assignment"],
            **fields,
        }
        self.events.append(event)

    def stroke(self, stroke: tracing.Stroke, z: int) -> None:
        """The pointing movement (a gap before the event), then the stroke from press to release."""
        self.wait(stroke.overhead_s)
        self.wait(stroke.drawing_s)
        self.log(
            stroke.kind,
            slice_index=z,
            duration_ms=round(1000.0 * stroke.drawing_s * self.pace, 3),
            detail={"length_px": round(stroke.length_px, 1)},
        )

    async def flush(self) -> None:
        unsent = self.events[self.sent :]
        if unsent:
            await self.socket.request({"type": "log", "session": self.session, "events": unsent})
            self.sent = len(self.events)

    # -- drawing -------------------------------------------------------------------------------------------
    async def draw(self, z: int) -> np.ndarray:
        b = self.behaviour
        reference = self.case.slices[z]
        for stroke in tracing.trace(reference, b.draw_speed_px_s, b.stroke_overhead_s, b.click_s):
            self.stroke(stroke, z)
        self.first: tuple[np.ndarray, float, str] | None = None
        return reference.copy()

    async def assisted(self, z: int) -> tuple[np.ndarray, int]:
        b = self.behaviour
        reference = self.case.slices[z]
        box = tracing.box_of(reference, b.box_jitter_px, self.rng, self.case.shape)
        self.wait(b.box_s)
        self.log(
            "prompt", slice_index=z, duration_ms=round(1000.0 * b.box_s * self.pace, 3), detail={"box": box}
        )
        started = time.perf_counter()
        result = await self.socket.request(
            {
                "type": "prompt",
                "series_id": self.case.series,
                "slice_index": z,
                "box": box,
                "label_id": self.case.label,
            }
        )
        waited = time.perf_counter() - started
        self.wait(waited, human=False)  # the model's real answer time
        best = result["masks"][0]
        self.log(
            "prompt.result",
            slice_index=z,
            model_version=result["model"],
            detail={"wait_ms": round(1000 * waited)},
        )
        mask = rle.decode(best["rle"]).astype(bool)
        self.first = (mask.copy(), float(best["iou"]), result["model"])
        self.wait(b.review_s)
        self.log("accept", slice_index=z)
        corrections = 0
        while tracing.dice(mask, reference) < b.target_dice and corrections < b.max_corrections:
            fix = tracing.correct(
                mask, reference, b.draw_speed_px_s, b.stroke_overhead_s, b.correction_brush_px
            )
            if fix is None:
                break
            mask, stroke = fix
            self.stroke(stroke, z)
            corrections += 1
        self.corrected = corrections > 0
        return mask, corrections

    async def save(self, z: int, mask: np.ndarray) -> None:
        """The viewer's autosave: this slice as a revision on top of the head, with the model's first
        prediction beside it when the model drew it."""
        body: dict[str, Any] = {"base_revision": self.head, "slices": {str(z): rle.encode(mask)}}
        if self.first is None:
            body["source"] = "manual"
        else:
            first, iou, model = self.first
            body.update(
                source="corrected" if self.corrected else "model",
                first_predictions={str(z): rle.encode(first)},
                predicted_iou={str(z): iou},
                model_version=model,
            )
        path = f"/api/series/{self.case.series}/masks/{self.case.label}/revisions/"
        reply = await asyncio.to_thread(self.http.call, "POST", path, body)
        self.head = reply["revision"]["id"]
        self.log("save", slice_index=z, revision_id=self.head, model_version=body.get("model_version", ""))
