"""Interactive segmentation on a worker: slice → model input → embedding → masks, as plain functions.

Embeddings come from a bounded in-memory LRU, else the signature-checked float16 files on disk shared by all
workers, else the encoder (and are then stored in both). Celery tasks in ``ml_worker.tasks`` are thin
wrappers over :func:`decode_prompt`, :func:`run_embedding_runner` and :func:`run_propagation`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from functools import lru_cache

import numpy as np
from channels.layers import get_channel_layer
from django.conf import settings

from annotator import events, rle
from annotator import segmentation as seg
from annotator.actions import jobs
from annotator.actions.masks import series_group
from annotator.imaging.volumes import load_slice
from annotator.models import Job, Series
from ml_worker.embeddings import EmbeddingCache, EmbeddingCacheError, EmbeddingSignature
from ml_worker.sam.errors import PromptError
from ml_worker.sam.transforms import to_model_input, window_ct
from ml_worker.serving import get_predictor

log = logging.getLogger(__name__)

LOGITS_TTL_S = 600
# Propagation: each next box is the previous mask's box grown by this fraction of its size per side
# (at least MIN_GROW_PX), so a structure that widens from slice to slice stays inside the prompt.
GROW_FRACTION = 0.1
MIN_GROW_PX = 2


# Model input ---------------------------------------------------------------------------------------------
def model_input(series: Series, index: int, preset: str) -> np.ndarray:
    """Slice ``index`` as the model sees it: ``(H, W, 3)`` uint8, windowed with ``preset`` (RGB as is)."""
    plane = load_slice(series, index)
    if series.is_rgb:
        return np.ascontiguousarray(plane.astype(np.uint8))
    window = series.window(preset)
    if window is None:
        raise PromptError(f"series {series.id} has no window preset {preset!r}")
    return to_model_input(window_ct(plane, window["level"], window["width"]))


def slice_hash(series: Series, index: int) -> str:
    """Content hash of one slice: the series' stored array never changes, so (array hash, index) is enough."""
    return hashlib.sha256(f"{series.content_hash}:{index}".encode()).hexdigest()


# Embeddings ----------------------------------------------------------------------------------------------
class EmbeddingStore:
    """Memory LRU (bounded in bytes) over the shared disk cache, over the encoder."""

    def __init__(self, predictor, disk: EmbeddingCache, memory_bytes: int) -> None:
        self.predictor, self.disk, self.memory_bytes = predictor, disk, memory_bytes
        self._lru: OrderedDict[EmbeddingSignature, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._computing: dict[EmbeddingSignature, threading.Lock] = {}

    def signature(self, series: Series, index: int, preset: str) -> EmbeddingSignature:
        return EmbeddingSignature.for_predictor(self.predictor, slice_hash(series, index), preset)

    def _remember(self, key: EmbeddingSignature, embedding: np.ndarray) -> None:
        with self._lock:
            if key in self._lru:
                self._lru.move_to_end(key)
                return
            self._lru[key] = embedding
            self._bytes += embedding.nbytes
            while self._bytes > self.memory_bytes and len(self._lru) > 1:
                _, dropped = self._lru.popitem(last=False)
                self._bytes -= dropped.nbytes

    def cached(self, sig: EmbeddingSignature) -> np.ndarray | None:
        with self._lock:
            if sig in self._lru:
                self._lru.move_to_end(sig)
                return self._lru[sig]
        try:
            embedding = self.disk.load(sig)
        except EmbeddingCacheError as exc:  # refused, never used: it is recomputed and overwritten
            log.warning("%s", exc)
            return None
        if embedding is not None:
            self._remember(sig, embedding)
        return embedding

    def get(self, series: Series, index: int, preset: str) -> tuple[np.ndarray, bool]:
        """``(embedding, computed)``: never recomputes an embedding that exists in memory or on disk."""
        sig = self.signature(series, index, preset)
        embedding = self.cached(sig)
        if embedding is not None:
            return embedding, False
        key = sig
        with self._lock:
            gate = self._computing.setdefault(key, threading.Lock())
        with gate:  # two threads asking for the same new slice compute it once
            embedding = self.cached(sig)
            if embedding is not None:
                return embedding, False
            embedding = self.predictor.embed(model_input(series, index, preset)).astype(np.float16)
            self.disk.save(sig, embedding)
            self._remember(key, embedding)
        with self._lock:
            self._computing.pop(key, None)
        return embedding, True

    @property
    def memory_used(self) -> int:
        return self._bytes


@lru_cache(maxsize=1)
def embedding_store() -> EmbeddingStore:
    return EmbeddingStore(
        get_predictor(), EmbeddingCache(settings.EMBEDDING_DIR), settings.EMBEDDING_CACHE_MB * 1024 * 1024
    )


def series_row(series_id: int) -> Series:
    return Series.objects.select_related("study__project").get(pk=series_id)


# A series' pixels and geometry never change after import, so a worker keeps the rows it decodes against
# (saves a database round trip on every prompt; bench-ws: see the note on issue 5).
_series_cache: OrderedDict[int, Series] = OrderedDict()
_series_lock = threading.Lock()
SERIES_CACHE_SIZE = 256


def cached_series(series_id: int) -> Series:
    with _series_lock:
        series = _series_cache.get(series_id)
        if series is not None:
            _series_cache.move_to_end(series_id)
            return series
    series = series_row(series_id)
    with _series_lock:
        _series_cache[series_id] = series
        while len(_series_cache) > SERIES_CACHE_SIZE:
            _series_cache.popitem(last=False)
    return series


class _Sender:
    """Channel-layer sends from worker threads through one long-lived event loop, so each send reuses the
    layer's Redis connection instead of building a loop and a connection per call (async_to_sync)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or not self._loop.is_running():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="channel-sender", daemon=True).start()
                self._loop = loop
            return self._loop

    def send(self, channel: str, message: dict) -> None:
        future = asyncio.run_coroutine_threadsafe(
            get_channel_layer().send(channel, message), self._ensure_loop()
        )
        future.result(timeout=10)


_sender = _Sender()


def send(channel: str, payload: dict) -> None:
    _sender.send(channel, events.push_message(payload))


def announce_ready(series_id: int, preset: str, index: int) -> None:
    seg.scheduler().mark_ready(series_id, preset, index)
    events.send_to_group(
        series_group(series_id),
        {"type": "embedding.ready", "series_id": series_id, "slice_index": index, "preset": preset},
    )


def warm_up(predictor) -> None:
    """Run each decoder graph once (with and without a mask input) so the first real prompt does not pay
    for the runtime's lazy set-up (measured: 200–330 ms for the first prompt against 45–95 ms after)."""
    embedding = np.zeros((256, 64, 64), dtype=np.float32)
    box = np.asarray([[8.0, 8.0, 64.0, 64.0]])
    result = predictor.decode(embedding, (256, 256), boxes=box, all_masks=True)
    predictor.decode(embedding, (256, 256), boxes=box, mask_input=result.low_res_logits[:, :1])


def model_version(predictor) -> str:
    """What a saved mask records as the model behind its first prediction: name@checkpoint-prefix."""
    return f"{predictor.model_name}@{predictor.checkpoint_sha256[:12]}"


# Prompts -------------------------------------------------------------------------------------------------
def logits_key(user_id: int, series_id: int, index: int) -> str:
    return f"prompt:logits:{user_id}:{series_id}:{index}"


def superseded(request: dict) -> bool:
    latest = seg.redis_client().get(seg.latest_key(request["user_id"], request["series_id"]))
    return latest is not None and latest.decode() != request["request_id"]


def decode_prompt(request: dict) -> dict | None:
    """Decode one prompt message (validated by the consumer) and push the result to the asking socket.

    Returns the pushed payload, or None when a newer prompt from the same user superseded this one.
    """
    started = time.perf_counter()
    if superseded(request):
        return None
    reply = request["reply_channel"]
    try:
        series = cached_series(request["series_id"])
        store = embedding_store()
        index, preset = request["slice_index"], request["preset"]
        embedding, computed = store.get(series, index, preset)
        if computed:
            announce_ready(series.id, preset, index)
        mask_input = None
        if request.get("mask_input") == "previous":
            raw = seg.redis_client().get(logits_key(request["user_id"], series.id, index))
            if raw is not None:
                mask_input = np.frombuffer(raw, dtype=np.float16).astype(np.float32).reshape(1, 1, 256, 256)
        points = labels = None
        if request.get("points"):
            points = np.asarray(request["points"], dtype=np.float64)[None]
            labels = np.asarray(request["point_labels"], dtype=np.int64)[None]
        boxes = np.asarray(request["box"], dtype=np.float64)[None] if request.get("box") else None
        decode_started = time.perf_counter()
        result = store.predictor.decode(
            embedding,
            tuple(request["image_shape"]),
            boxes=boxes,
            points=points,
            point_labels=labels,
            mask_input=mask_input,
            # Candidates come after the single output, which is what LiteMedSAM was trained to predict.
            all_masks=bool(request.get("multimask")),
        )
        decode_ms = (time.perf_counter() - decode_started) * 1000
    except PromptError as exc:
        payload = {
            "type": "error",
            "request_id": request["request_id"],
            "code": "invalid_prompt",
            "message": str(exc),
        }
        send(reply, payload)
        return payload
    order = np.argsort(-result.iou[0], kind="stable")
    best = int(order[0])
    seg.redis_client().set(
        logits_key(request["user_id"], series.id, index),
        result.low_res_logits[0, best].astype(np.float16).tobytes(),
        ex=LOGITS_TTL_S,
    )
    if superseded(request):
        return None
    payload = {
        "type": "prompt.result",
        "request_id": request["request_id"],
        "series_id": series.id,
        "slice_index": index,
        "masks": [
            {"rle": rle.encode(result.masks[0, k]), "iou": round(float(result.iou[0, k]), 4)} for k in order
        ],
        "model": model_version(store.predictor),
        "embedding_computed": computed,
        "timings": {
            "decode_ms": round(decode_ms, 2),
            "total_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    }
    send(reply, payload)
    return payload


# Background embedding ------------------------------------------------------------------------------------
RUNNER_SLICE_S = 20.0  # a runner yields its worker slot this often so propagation jobs can interleave


def run_embedding_runner(index: int) -> int:
    """Embed wanted slices, nearest to each viewer first, until none is left. Returns how many were embedded.

    Re-queues itself after RUNNER_SLICE_S so other embed-queue jobs get a turn (returns -1 then).
    """
    from celery import current_app as celery_app

    sched = seg.scheduler()
    store = embedding_store()
    deadline = time.monotonic() + RUNNER_SLICE_S
    done = 0
    while True:
        item = sched.pop_next()
        if item is None:
            sched.release_runner(index)
            # A view may have added work between the last pop and the release: take the lease back.
            if sched.pending() and sched.claim_runner() is not None:
                continue
            return done
        sched.renew_runner(index)
        series_id, preset, slice_index = item
        try:
            series = cached_series(series_id)
            store.get(series, slice_index, preset)
        except Exception:  # one broken slice must not stop the runner
            log.exception("embedding slice %s of series %s failed", slice_index, series_id)
            continue
        announce_ready(series_id, preset, slice_index)
        done += 1
        if time.monotonic() > deadline:
            celery_app.send_task("ml_worker.tasks.embed_runner", args=[index], queue="embed")
            return -1


# Propagation ---------------------------------------------------------------------------------------------
def grown_box(mask: np.ndarray) -> list[float] | None:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    height, width = mask.shape
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    gx = max(MIN_GROW_PX, GROW_FRACTION * (x1 - x0))
    gy = max(MIN_GROW_PX, GROW_FRACTION * (y1 - y0))
    return [max(0.0, x0 - gx), max(0.0, y0 - gy), min(float(width), x1 + gx), min(float(height), y1 + gy)]


def run_propagation(job_id: int) -> Job:
    """Propagate from the start slice in both directions, streaming each slice's mask as it is made.

    Stops in a direction when the mask vanishes or the predicted IoU falls below ``min_iou``; stops
    altogether when the job is cancelled (``set_progress`` returns False).
    """
    job = Job.objects.get(pk=job_id)
    if not job.claim():
        return job
    p = job.payload
    reply = p["reply_channel"]
    try:
        series = series_row(p["series_id"])
        store = embedding_store()
        depth = series.num_slices if not series.is_rgb else 1
        start, preset = p["slice_index"], p["preset"]

        def predict(index: int, box: list[float]) -> tuple[np.ndarray, float]:
            embedding, computed = store.get(series, index, preset)
            if computed:
                announce_ready(series.id, preset, index)
            result = store.predictor.decode(embedding, tuple(p["image_shape"]), boxes=np.asarray([box]))
            return result.masks[0, 0], float(result.iou[0, 0])

        if p.get("mask"):
            first, first_iou = rle.decode(p["mask"], expected_shape=tuple(p["image_shape"])), 1.0
        else:
            first, first_iou = predict(start, p["box"])
        made = [start]
        send(
            reply,
            {
                "type": "propagate.slice",
                "job_id": job.id,
                "series_id": series.id,
                "slice_index": start,
                "rle": rle.encode(first),
                "iou": round(first_iou, 4),
                # The start slice is the model's only when it started from a box, not from the user's mask.
                "model": None if p.get("mask") else model_version(store.predictor),
            },
        )
        directions = {"both": (1, -1), "up": (1,), "down": (-1,)}[p.get("direction", "both")]
        planned = sum((depth - 1 - start) if d > 0 else start for d in directions) or 1
        for step in directions:
            previous, index = first, start + step
            while 0 <= index < depth:
                box = grown_box(previous)
                if box is None:
                    break
                mask, iou = predict(index, box)
                if not mask.any() or iou < p.get("min_iou", seg.MIN_PROPAGATION_IOU):
                    break
                made.append(index)
                send(
                    reply,
                    {
                        "type": "propagate.slice",
                        "job_id": job.id,
                        "series_id": series.id,
                        "slice_index": index,
                        "rle": rle.encode(mask),
                        "iou": round(iou, 4),
                        "model": model_version(store.predictor),
                    },
                )
                if not jobs.report(job, min(0.99, (len(made) - 1) / planned), f"{len(made)} slices"):
                    return job  # cancelled: the cancel itself told the browser
                previous, index = mask, index + step
        job.finish({"slices": sorted(made)}, message=f"Propagated through {len(made)} slices.")
    except Exception as exc:
        log.exception("propagation job %s failed", job_id)
        job.fail(f"{type(exc).__name__}: {exc}")
    jobs.push_progress(job)
    return job


def time_decoder(series_id: int, slice_index: int, preset: str, box: list[float], repeats: int) -> dict:
    """Milliseconds per bare ``predictor.decode`` call (one box) against a cached embedding, after warm-up."""
    series = series_row(series_id)
    store = embedding_store()
    embedding, _ = store.get(series, slice_index, preset)
    shape = tuple(series.shape[1:3])
    boxes = np.asarray([box], dtype=np.float64)
    for _ in range(5):
        store.predictor.decode(embedding, shape, boxes=boxes)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        store.predictor.decode(embedding, shape, boxes=boxes)
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": float(np.median(times)), "p99_ms": float(np.percentile(times, 99)), "n": repeats}
