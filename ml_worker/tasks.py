"""Thin Celery tasks: each takes ids or plain values and calls a plain function."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from celery import shared_task
from celery.signals import worker_ready
from celery.worker.control import inspect_command

logger = logging.getLogger(__name__)

# What this worker process loaded at start-up, reported by the `model_info` inspect command.
_model_status: dict = {"loaded": False, "error": "the model has not been loaded yet"}


@shared_task(name="ml_worker.tasks.ping")
def ping(value: str) -> dict:
    """A round trip through the broker and the result backend, for health checks and tests."""
    return {"pong": value}


@shared_task(name="ml_worker.tasks.notify_group")
def notify_group(group: str, message: dict) -> None:
    """Send ``message`` to a channel-layer group from the worker, as model results will be."""
    from channels.layers import get_channel_layer

    async_to_sync(get_channel_layer().group_send)(group, message)


@shared_task(name="ml_worker.tasks.decode_prompt", ignore_result=True)
def decode_prompt(request: dict) -> None:
    from ml_worker import segmentation

    segmentation.decode_prompt(request)


@shared_task(name="ml_worker.tasks.embed_runner", ignore_result=True)
def embed_runner(index: int) -> int:
    from ml_worker import segmentation

    return segmentation.run_embedding_runner(index)


@shared_task(name="ml_worker.tasks.propagate", ignore_result=True)
def propagate(job_id: int) -> str:
    from ml_worker import segmentation

    return segmentation.run_propagation(job_id).state


@shared_task(name="ml_worker.tasks.time_decoder")
def time_decoder(series_id: int, slice_index: int, preset: str, box: list[float], repeats: int = 100) -> dict:
    """The compute floor for benchmarks: bare decoder calls on a cached embedding, in this worker process."""
    from ml_worker import segmentation

    return segmentation.time_decoder(series_id, slice_index, preset, box, repeats)


@worker_ready.connect
def load_model_when_worker_starts(**_: object) -> None:
    """Load the serving model once per worker process, before the first task needs it."""
    from ml_worker import serving

    global _model_status
    try:
        predictor = serving.get_predictor()
        from ml_worker.segmentation import warm_up

        warm_up(predictor)
        _model_status = {"loaded": True, **predictor.describe()}
    except Exception as exc:  # the worker still serves non-model tasks; /healthz reports the failure
        logger.exception("could not load the serving model")
        _model_status = {"loaded": False, "error": f"{type(exc).__name__}: {exc}"}


@inspect_command()
def model_info(state) -> dict:
    """`celery inspect model_info`: what model this worker has loaded (for /healthz)."""
    return _model_status
