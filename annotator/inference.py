"""Interactive segmentation on a worker, the Django-aware half: series slice → model input → embedding → masks,
results sent back through the channel layer. The model itself is ``ml_worker`` (predictor, embedding store,
propagation); the Celery tasks in ``annotator.tasks`` are thin wrappers over :func:`decode_prompt`,
:func:`run_embedding_runner` and :func:`run_propagation`.

Embeddings come from a bounded in-memory LRU, else the signature-checked float16 files on disk shared by all
workers, else the encoder (and are then stored in both).

Planes (issue 15): a prompt, a view or an embedding names its plane. On coronal and sagittal planes the model
sees the plane resampled to square pixels (``ml_worker.planes``), its embedding is cached per (series, plane,
index, preset), and its masks are mapped back to the plane's voxel grid before they are sent. Axial slices
are the stored ones, with the same slice hash as before planes existed, so existing caches stay valid.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from django.conf import settings

from annotator import events, model_serving, rle
from annotator.actions import jobs
from annotator.imaging.volumes import load_plane, plane_grid
from annotator.messages import (
    DecodeRequest,
    EmbeddingReady,
    ErrorMessage,
    MaskCandidate,
    PromptResult,
    PropagateSlice,
    PropagationRequest,
    Rle,
    Timings,
)
from annotator.messages_points import PromptRefused
from annotator.models import Job, Series
from annotator.scheduling import as_text, enqueue_runner, redis_client, scheduler
from annotator.segmentation import latest_key
from ml_worker import click_guard, planes, propagation, serving
from ml_worker.embeddings import EmbeddingCache, EmbeddingSignature, EmbeddingStore
from ml_worker.planes import Plane
from ml_worker.sam.errors import PromptError
from ml_worker.sam.predictor import SamPredictor
from ml_worker.sam.transforms import to_model_input, window_ct

log = logging.getLogger(__name__)

LOGITS_TTL_S = 600


# Slices and model input ----------------------------------------------------------------------------------
def model_input(series: Series, index: int, preset: str, plane: Plane = planes.AXIAL) -> np.ndarray:
    """Slice ``index`` of ``plane`` as the model sees it: ``(H, W, 3)`` uint8, windowed with ``preset`` (RGB
    as is); coronal and sagittal slices resampled to square pixels first (linear, in intensity units)."""
    pixels = load_plane(series, plane, index)
    if series.is_rgb:
        return np.ascontiguousarray(pixels.astype(np.uint8))
    window = series.window(preset)
    if window is None:
        raise PromptError(f"series {series.id} has no window preset {preset!r}")
    return to_model_input(window_ct(pixels, window["level"], window["width"]))


def slice_hash(series: Series, index: int, plane: Plane = planes.AXIAL) -> str:
    """Content hash of one slice: the series' stored array never changes, so (array hash, index) is enough
    for an axial slice; another plane adds its name, display size and the resampling's version
    (``ml_worker.planes.slice_key``, which the reaper's sweep of orphan embeddings uses too)."""
    grid = None if plane == planes.AXIAL else plane_grid(series, plane)
    return planes.slice_key(series.content_hash, index, grid)


def voxel_masks(series: Series, plane: Plane, masks: np.ndarray) -> np.ndarray:
    """``(K, H, W)`` masks of a plane's display grid on its voxel grid (majority per voxel); axial as is."""
    if plane == planes.AXIAL:
        return masks
    grid = plane_grid(series, plane)
    return np.stack([planes.mask_to_voxels(mask, grid) for mask in masks])


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


# Embeddings ----------------------------------------------------------------------------------------------
class SliceEmbeddings:
    """Embeddings of series slices through one predictor's encoder, kept in an :class:`EmbeddingStore`."""

    def __init__(self, predictor: SamPredictor, store: EmbeddingStore) -> None:
        self.predictor, self.store = predictor, store

    def signature(
        self, series: Series, index: int, preset: str, plane: Plane = planes.AXIAL
    ) -> EmbeddingSignature:
        return EmbeddingSignature.for_predictor(self.predictor, slice_hash(series, index, plane), preset)

    def get(
        self, series: Series, index: int, preset: str, plane: Plane = planes.AXIAL
    ) -> tuple[np.ndarray, bool]:
        """``(float16 (C, h, w) embedding, computed)``; computed only when neither memory nor disk has it."""
        return self.store.get(
            self.signature(series, index, preset, plane),
            lambda: self.predictor.embed(model_input(series, index, preset, plane)),
        )


@lru_cache(maxsize=1)
def embeddings() -> SliceEmbeddings:
    """This worker process's embeddings: its serving predictor over the shared disk cache."""
    store = EmbeddingStore(EmbeddingCache(settings.EMBEDDING_DIR), settings.EMBEDDING_CACHE_MB * 1024 * 1024)
    return SliceEmbeddings(serving.get_predictor(), store)


def project_predictor(project_id: int) -> SamPredictor:
    """The predictor serving ``project_id`` now: a promoted version's (annotator/model_serving.py), else this
    worker's serving predictor (the one :func:`embeddings` holds)."""
    served = model_serving.active_for(project_id)
    return embeddings().predictor if served.is_base else model_serving.predictor_of(served)


def project_embeddings(project_id: int) -> SliceEmbeddings:
    """Embeddings through the project's active model version: its predictor over the same store, since every
    version of a project shares the image encoder."""
    predictor = project_predictor(project_id)
    shared = embeddings()
    return shared if predictor is shared.predictor else SliceEmbeddings(predictor, shared.store)


def embed(series: Series, index: int, preset: str, plane: Plane = planes.AXIAL) -> tuple[np.ndarray, bool]:
    """The slice's embedding; a newly computed one is announced to the series' viewers."""
    embedding, computed = project_embeddings(series.study.project_id).get(series, index, preset, plane)
    if computed:
        announce_ready(series.id, preset, index, plane)
    return embedding, computed


def announce_ready(series_id: int, preset: str, index: int, plane: Plane = planes.AXIAL) -> None:
    scheduler().mark_ready(series_id, preset, index, plane)
    events.send_to_group(
        events.series_group(series_id),
        EmbeddingReady(series_id=series_id, slice_index=index, preset=preset, plane=plane),
    )


# Prompts -------------------------------------------------------------------------------------------------
def _prompt_key(kind: str, user_id: int, series_id: int, index: int, plane: Plane) -> str:
    """A user's per-slice prompt state in Redis; axial keys are those of before planes existed."""
    key = f"prompt:{kind}:{user_id}:{series_id}:{index}"
    return key if plane == planes.AXIAL else f"{key}:{plane}"


def logits_key(user_id: int, series_id: int, index: int, plane: Plane = planes.AXIAL) -> str:
    return _prompt_key("logits", user_id, series_id, index, plane)


def superseded(request: DecodeRequest) -> bool:
    """True when the same user sent a newer prompt on the series since this one (drop this one)."""
    latest = redis_client().get(latest_key(request.user_id, request.series_id))
    return latest is not None and as_text(latest) != request.request_id


def previous_key(user_id: int, series_id: int, index: int, plane: Plane = planes.AXIAL) -> str:
    """What the corrective-point guard knows of the user's last mask on a slice (JSON: iou, region)."""
    return _prompt_key("previous", user_id, series_id, index, plane)


@dataclass(frozen=True)
class PreviousMask:
    """The user's last mask on a slice, as the guard sees it: the best candidate's predicted IoU and the
    region around it where points may correct it (None for an empty mask)."""

    iou: float
    region: click_guard.Region | None


def previous_prediction(request: DecodeRequest) -> tuple[np.ndarray | None, PreviousMask | None]:
    """The user's last low-res logits on this slice, ``(1, 1, 256, 256)`` float32, and what the guard
    knows of that mask; either may be None (expired, or never made). One Redis round trip."""
    keys = (request.user_id, request.series_id, request.slice_index, request.plane)
    raw_logits, raw_facts = redis_client().mget([logits_key(*keys), previous_key(*keys)])
    logits = (
        None
        if not isinstance(raw_logits, bytes)  # None: expired or never made (replies are not decoded)
        else np.frombuffer(raw_logits, dtype=np.float16).astype(np.float32).reshape(1, 1, 256, 256)
    )
    if raw_facts is None:
        return logits, None
    facts = json.loads(raw_facts)
    region = click_guard.Region(*facts["region"]) if facts.get("region") else None
    return logits, PreviousMask(iou=float(facts["iou"]), region=region)


def remember(request: DecodeRequest, logits: np.ndarray, iou: float, mask: np.ndarray) -> None:
    """Keep the best candidate's logits (the next refinement's mask input) and the guard's facts."""
    keys = (request.user_id, request.series_id, request.slice_index, request.plane)
    region = click_guard.correction_region(mask)
    facts = {"iou": round(iou, click_guard.IOU_DECIMALS), "region": region.as_list() if region else None}
    pipe = redis_client().pipeline(transaction=False)
    pipe.set(logits_key(*keys), logits.astype(np.float16).tobytes(), ex=LOGITS_TTL_S)
    pipe.set(previous_key(*keys), json.dumps(facts), ex=LOGITS_TTL_S)
    pipe.execute()


def refuse(request: DecodeRequest, message: PromptRefused) -> PromptRefused | None:
    if superseded(request):
        return None
    events.send_to_channel(request.reply_channel, message)
    return message


def decode_prompt(request: DecodeRequest) -> PromptResult | PromptRefused | ErrorMessage | None:
    """Decode one prompt (checked by the consumer) and push the result to the asking socket.

    A point refining a mask, with a model not trained on clicks, is guarded (``ml_worker.click_guard``):
    the newest point (the last of ``points``) must lie in the region around the mask being corrected, and
    the corrected mask must not be rated lower than it; otherwise a ``prompt.refused`` is pushed and the
    mask being corrected stays the one refinements start from.

    Returns the pushed message, or None when a newer prompt from the same user superseded this one.
    """
    started = time.perf_counter()
    if superseded(request):
        return None
    try:
        series = cached_series(request.series_id)
        index, preset = request.slice_index, request.preset
        predictor = project_predictor(series.study.project_id)
        mask_input, previous = (
            previous_prediction(request) if request.mask_input == "previous" else (None, None)
        )
        # The mask being corrected, when a model not trained on clicks gets a corrective point.
        guard = previous if request.points and not predictor.clicks_trained else None
        if guard is not None and guard.region is not None and request.points:
            x, y = request.points[-1]
            if not guard.region.contains(x, y):
                return refuse(
                    request,
                    PromptRefused(
                        request_id=request.request_id,
                        series_id=series.id,
                        slice_index=index,
                        reason="outside_region",
                        message=click_guard.outside_message(guard.region),
                        region=guard.region.as_list(),
                        previous_iou=guard.iou,
                        model=predictor.model_version,
                    ),
                )
        embedding, computed = embed(series, index, preset, request.plane)
        points = labels = None
        if request.points:
            points = np.asarray(request.points, dtype=np.float64)[None]
            labels = np.asarray(request.point_labels, dtype=np.int64)[None]
        boxes = np.asarray(request.box, dtype=np.float64)[None] if request.box else None
        decode_started = time.perf_counter()
        result = predictor.decode(
            embedding,
            request.image_shape,
            boxes=boxes,
            points=points,
            point_labels=labels,
            mask_input=mask_input,
            # Candidates come after the single output, which is what LiteMedSAM was trained to predict.
            all_masks=request.multimask,
        )
        decode_ms = (time.perf_counter() - decode_started) * 1000
    except PromptError as exc:
        error = ErrorMessage(request_id=request.request_id, code="invalid_prompt", message=str(exc))
        events.send_to_channel(request.reply_channel, error)
        return error
    order = np.argsort(-result.iou[0], kind="stable")
    best = int(order[0])
    best_iou = float(result.iou[0, best])
    if guard is not None and not click_guard.keeps_quality(guard.iou, best_iou):
        return refuse(
            request,
            PromptRefused(
                request_id=request.request_id,
                series_id=series.id,
                slice_index=index,
                reason="iou_dropped",
                message=click_guard.dropped_message(guard.iou, best_iou),
                region=guard.region.as_list() if guard.region else None,
                previous_iou=guard.iou,
                iou=round(best_iou, click_guard.IOU_DECIMALS),
                model=predictor.model_version,
            ),
        )
    remember(request, result.low_res_logits[0, best], best_iou, result.masks[0, best])
    masks = voxel_masks(series, request.plane, result.masks[0])
    if superseded(request):
        return None
    message = PromptResult(
        request_id=request.request_id,
        series_id=series.id,
        slice_index=index,
        plane=request.plane,
        masks=[MaskCandidate(rle=mask_rle(masks[k]), iou=round(float(result.iou[0, k]), 4)) for k in order],
        model=predictor.model_version,
        embedding_computed=computed,
        timings=Timings(
            decode_ms=round(decode_ms, 2), total_ms=round((time.perf_counter() - started) * 1000, 2)
        ),
    )
    events.send_to_channel(request.reply_channel, message)
    return message


def mask_rle(mask: np.ndarray) -> Rle:
    return Rle.model_validate(rle.encode(mask))


# Background embedding ------------------------------------------------------------------------------------
RUNNER_SLICE_S = 20.0  # a runner yields its worker slot this often so propagation jobs can interleave


def run_embedding_runner(index: int) -> int:
    """Embed wanted slices, nearest to each viewer first, until none is left. Returns how many were embedded.

    Re-queues itself after RUNNER_SLICE_S so other embed-queue jobs get a turn (returns -1 then).
    """
    sched = scheduler()
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
        try:
            embeddings().get(cached_series(item.series_id), item.slice_index, item.preset, item.plane)
        except Exception:  # one broken slice must not stop the runner
            log.exception(
                "embedding %s slice %s of series %s failed", item.plane, item.slice_index, item.series_id
            )
            continue
        announce_ready(item.series_id, item.preset, item.slice_index, item.plane)
        done += 1
        if time.monotonic() > deadline:
            enqueue_runner(index)
            return -1


# Propagation ---------------------------------------------------------------------------------------------
def run_propagation(job_id: int) -> Job:
    """Propagate from the start slice in both directions, streaming each slice's mask as it is made.

    Stops in a direction when the mask vanishes or the predicted IoU falls below ``min_iou``; stops
    altogether when the job is cancelled (``jobs.report`` returns False).
    """
    job = Job.objects.get(pk=job_id)
    if not job.claim():
        return job
    try:
        request = PropagationRequest.model_validate(job.payload)
        series = series_row(request.series_id)
        predictor = project_predictor(series.study.project_id)
        depth = series.num_slices if not series.is_rgb else 1
        start = request.slice_index

        def predict(index: int, box: list[float]) -> tuple[np.ndarray, float]:
            embedding, _ = embed(series, index, request.preset)
            result = predictor.decode(embedding, request.image_shape, boxes=np.asarray([box]))
            return result.masks[0, 0], float(result.iou[0, 0])

        if request.mask is not None:
            first, first_iou = rle.decode(request.mask, expected_shape=request.image_shape), 1.0
        else:
            first, first_iou = predict(start, list(request.box or []))

        def stream(index: int, mask: np.ndarray, iou: float, model: str | None) -> None:
            slice_message = PropagateSlice(
                job_id=job.id,
                series_id=series.id,
                slice_index=index,
                rle=mask_rle(mask),
                iou=round(iou, 4),
                model=model,
            )
            events.send_to_channel(request.reply_channel, slice_message)

        # The start slice is the model's only when it started from a box, not from the user's mask.
        stream(start, first, first_iou, None if request.mask is not None else predictor.model_version)
        made = [start]
        planned = propagation.planned_slices(depth, start, request.direction)
        for index, mask, iou in propagation.propagate(
            predict, first, start, depth, request.direction, request.min_iou
        ):
            made.append(index)
            stream(index, mask, iou, predictor.model_version)
            if not jobs.report(job, min(0.99, (len(made) - 1) / planned), f"{len(made)} slices"):
                return job  # cancelled: the cancel itself told the browser
        job.finish({"slices": sorted(made)}, message=f"Propagated through {len(made)} slices.")
    except Exception as exc:
        log.exception("propagation job %s failed", job_id)
        job.fail(f"{type(exc).__name__}: {exc}")
    jobs.push_progress(job)
    return job


# Benchmarks ----------------------------------------------------------------------------------------------
def time_decoder(
    series_id: int, slice_index: int, preset: str, box: list[float], repeats: int
) -> dict[str, Any]:
    """Milliseconds per bare decoder call (one box) against a cached embedding, in this worker process."""
    series = series_row(series_id)
    embedding, _ = embeddings().get(series, slice_index, preset)
    height, width = (int(v) for v in series.shape[1:3])
    return serving.time_decode(embeddings().predictor, embedding, (height, width), box, repeats)
