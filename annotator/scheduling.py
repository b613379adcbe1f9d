"""Which slices to embed next, kept in Redis so every process (web and workers) shares one view.

Per (series, preset) a sorted set holds the slices still wanted, scored by their distance from the slice
someone is looking at; every ``view`` rescores it, so embeddings follow the user's scrolling. A small fixed
number of runner tasks on the ``embed`` queue pop the nearest wanted slice, embed it, and re-enqueue
themselves while work remains. Runners are leases (``SET NX EX``): a runner that dies frees its lease when
it expires, and the next ``view`` starts a new one. When the last viewer leaves a series its wanted set is
dropped, so nobody's CPU goes to a series nobody looks at.

Which slices are ready is kept per image encoder (``ml_worker.sam.build.encoder_key``): a new encoder
means new embeddings, a decoder-only fine-tune does not.

Planes (issue 15): a viewer looks at one plane (axial, coronal or sagittal); each plane of a (series,
preset) has its own wanted and ready sets, scored along that plane's normal. Axial keys are those of before
planes existed; the other planes' keys end in ``:coronal`` or ``:sagittal``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, NamedTuple

import redis
from celery import current_app as celery_app
from django.conf import settings

from annotator.queues import QUEUE_EMBED
from ml_worker.planes import AXIAL, Plane, check_plane

# The embed runner task (annotator/tasks.py), sent by name so the web process never imports the worker side.
EMBED_RUNNER_TASK = "annotator.tasks.embed_runner"

# Leases outlive the slowest single embedding (ViT-B on CPU: ~10 s) by a wide margin.
RUNNER_LEASE_S = 60
# Disconnects remove viewers; the TTL only clears viewers of a web process that died.
VIEWER_TTL_S = 3600


def _on_plane(key: str, plane: str) -> str:
    return key if plane == AXIAL else f"{key}:{plane}"


def want_key(series_id: int, preset: str, plane: str = AXIAL) -> str:
    return _on_plane(f"emb:want:{series_id}:{preset}", plane)


def ready_key(series_id: int, preset: str, encoder_key: str, plane: str = AXIAL) -> str:
    return _on_plane(f"emb:ready:{series_id}:{preset}:{encoder_key}", plane)


def viewers_key(series_id: int) -> str:
    return f"series:{series_id}:viewers"


ACTIVE_KEY = "emb:active"  # zset of "series_id:preset[:plane]" scored by the time of the last view


def active_member(series_id: int, preset: str, plane: str = AXIAL) -> str:
    return _on_plane(f"{series_id}:{preset}", plane)


def parse_member(member: str | bytes) -> tuple[int, str, Plane]:
    """(series id, preset, plane) of an ACTIVE_KEY member (preset names hold no colon)."""
    text = member.decode() if isinstance(member, bytes) else member
    series_id, preset, *plane = text.split(":")
    return int(series_id), preset, check_plane(plane[0] if plane else AXIAL)


class WantedSlice(NamedTuple):
    series_id: int
    preset: str
    slice_index: int
    plane: Plane = AXIAL


def runner_key(index: int) -> str:
    return f"emb:runner:{index}"


def as_text(value: object) -> str:
    """A Redis reply as text: the client does not decode, so replies are bytes (str passes through)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a Redis string reply, got {type(value).__name__}")


class Scheduler:
    def __init__(
        self, client: redis.Redis, encoder_key: str, runners: int = 1, ready_ttl_s: int = 7 * 86400
    ) -> None:
        self.r = client
        self.encoder_key = encoder_key
        self.runners = runners
        self.ready_ttl_s = ready_ttl_s

    # Readiness -----------------------------------------------------------------------------------
    def mark_ready(self, series_id: int, preset: str, index: int, plane: str = AXIAL) -> None:
        """Slice ``index`` of ``plane`` has an embedding (in the shared files). The set of ready slices
        expires ``ready_ttl_s`` after its last change or view: series deleted or no longer looked at leave
        nothing behind in Redis, and a series viewed again after that re-checks its slices, which the
        embedding files answer without the encoder."""
        key = ready_key(series_id, preset, self.encoder_key, plane)
        pipe = self.r.pipeline()
        pipe.sadd(key, index)
        pipe.expire(key, self.ready_ttl_s)
        pipe.zrem(want_key(series_id, preset, plane), index)
        pipe.execute()

    def ready(self, series_id: int, preset: str, plane: str = AXIAL) -> set[int]:
        return {int(v) for v in self.r.smembers(ready_key(series_id, preset, self.encoder_key, plane))}

    # Viewing ---------------------------------------------------------------------------------------
    def view(
        self,
        series_id: int,
        preset: str,
        center: int,
        total: int,
        viewer: str,
        username: str,
        plane: str = AXIAL,
    ) -> None:
        """``viewer`` looks at slice ``center`` of ``plane`` (``total`` slices) through ``preset``: rescore
        the slices still to embed; a viewer who moved to another plane or preset stops wanting the old one's."""
        previous = self.r.hget(viewers_key(series_id), viewer)
        self.r.hset(
            viewers_key(series_id),
            viewer,
            json.dumps(
                {
                    "username": username,
                    "slice_index": center,
                    "preset": preset,
                    "total": total,
                    "plane": plane,
                    "seen": time.time(),
                }
            ),
        )
        self.r.expire(viewers_key(series_id), VIEWER_TTL_S)
        if previous is not None:
            before = json.loads(previous)
            if (before["preset"], before.get("plane", AXIAL)) != (preset, plane):
                self._rescore(series_id, before["preset"], before["total"], before.get("plane", AXIAL))
        self._rescore(series_id, preset, total, plane)

    def _rescore(self, series_id: int, preset: str, total: int, plane: str = AXIAL) -> None:
        """Score each slice of ``plane`` not yet embedded by its distance to the nearest viewer of that
        plane using ``preset``; with no such viewer left, drop the work for that plane and preset."""
        centers = [
            v["slice_index"]
            for v in self.viewers(series_id)
            if v.get("preset") == preset and v.get("plane", AXIAL) == plane
        ]
        ready = self.ready(series_id, preset, plane)
        wanted, member = want_key(series_id, preset, plane), active_member(series_id, preset, plane)
        pipe = self.r.pipeline()
        if ready:  # looked at: keep knowing what is ready for another ready_ttl_s
            pipe.expire(ready_key(series_id, preset, self.encoder_key, plane), self.ready_ttl_s)
        pipe.delete(wanted)
        if centers:
            scores = {str(i): min(abs(i - c) for c in centers) for i in range(total) if i not in ready}
            if scores:
                pipe.zadd(wanted, scores)
            pipe.zadd(ACTIVE_KEY, {member: time.time()})
        else:
            pipe.zrem(ACTIVE_KEY, member)
        pipe.execute()

    def leave(self, series_id: int, viewer: str) -> None:
        raw = self.r.hget(viewers_key(series_id), viewer)
        self.r.hdel(viewers_key(series_id), viewer)
        if raw is not None:
            info = json.loads(raw)
            self._rescore(series_id, info["preset"], info["total"], info.get("plane", AXIAL))

    def viewers(self, series_id: int) -> list[dict[str, Any]]:
        now = time.time()
        users = []
        for channel, raw in self.r.hgetall(viewers_key(series_id)).items():
            info = json.loads(raw)
            if now - info["seen"] < VIEWER_TTL_S:
                users.append({"viewer": as_text(channel), **info})
        return users

    # Work ------------------------------------------------------------------------------------------
    def pop_next(self) -> WantedSlice | None:
        """The nearest wanted slice of the most recently viewed series and plane, removed from its wanted set."""
        for key in self.r.zrevrange(ACTIVE_KEY, 0, -1):
            member = as_text(key)
            series_id, preset, plane = parse_member(member)
            popped = self.r.zpopmin(want_key(series_id, preset, plane))
            if popped:
                return WantedSlice(series_id, preset, int(popped[0][0]), plane)
            self.r.zrem(ACTIVE_KEY, member)
        return None

    def claim_runner(self) -> int | None:
        """Take a free runner lease, or None when all runners are busy."""
        for index in range(self.runners):
            if self.r.set(runner_key(index), "1", nx=True, ex=RUNNER_LEASE_S):
                return index
        return None

    def renew_runner(self, index: int) -> None:
        self.r.set(runner_key(index), "1", ex=RUNNER_LEASE_S)

    def release_runner(self, index: int) -> None:
        self.r.delete(runner_key(index))

    def pending(self, keys: Iterable[str] | None = None) -> int:
        total = 0
        for key in keys or self.r.zrange(ACTIVE_KEY, 0, -1):
            total += self.r.zcard(want_key(*parse_member(as_text(key))))
        return total


# The app's scheduler ---------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@lru_cache(maxsize=4)
def embeddings_key(name: str | None = None) -> str:
    """The serving model's image-encoder identity, read from the checkpoint registry (no model loaded)."""
    from ml_worker.sam.build import encoder_key, expected_encoder_sha256

    name = name or settings.DEFAULT_MODEL
    return encoder_key(name, expected_encoder_sha256(name))


def scheduler() -> Scheduler:
    return Scheduler(
        redis_client(),
        embeddings_key(),
        runners=settings.EMBED_RUNNERS,
        ready_ttl_s=settings.EMBEDDING_READY_TTL_DAYS * 86400,
    )


def start_embedding_runners() -> None:
    """Start as many runners as there are free leases (none when they all run already)."""
    sched = scheduler()
    for _ in range(sched.runners):
        index = sched.claim_runner()
        if index is None:
            return
        enqueue_runner(index)


def enqueue_runner(index: int) -> None:
    celery_app.send_task(EMBED_RUNNER_TASK, args=[index], queue=QUEUE_EMBED)
