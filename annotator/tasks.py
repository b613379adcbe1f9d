"""Celery tasks of the annotator app: thin wrappers that take ids and call plain functions.

Jobs are sent to these tasks by name and queue from ``annotator.actions.jobs.JOB_ROUTES`` (``start_job``); this
module imports the actions, never the reverse.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from celery.worker.control import inspect_command

from annotator.actions import exports, imports
from annotator.messages import DecodeRequest


@shared_task(name="annotator.tasks.run_import_job", acks_late=True)
def run_import_job(job_id: int) -> str:
    return imports.run_import_job(job_id).state


@shared_task(name="annotator.tasks.run_export_job", acks_late=True)
def run_export_job(job_id: int) -> str:
    return exports.run_export_job(job_id).state


# Model work: thin tasks over annotator.inference. The worker side (torch, the model) is imported inside each
# task, so the web process, which imports this module to enqueue imports and exports, never loads it.
logger = logging.getLogger(__name__)

# What this worker process loaded at start-up, reported by the `model_info` inspect command (/healthz).
_model_status: dict[str, Any] = {"loaded": False, "error": "the model has not been loaded yet"}
_warm_up_lock = threading.Lock()
_warmed_up = False


@shared_task(name="annotator.tasks.ping")
def ping(value: str) -> dict[str, str]:
    """A round trip through the broker and the result backend, for health checks and tests."""
    return {"pong": value}


@shared_task(name="annotator.tasks.notify_group")
def notify_group(group: str, message: dict[str, Any]) -> None:
    """Send a channel-layer ``message`` to ``group`` from a worker, as model results are (tests, health)."""
    from asgiref.sync import async_to_sync

    from annotator.events import channel_layer

    async_to_sync(channel_layer().group_send)(group, message)


@shared_task(name="annotator.tasks.decode_prompt", ignore_result=True)
def decode_prompt(request: dict[str, Any]) -> None:
    from annotator import inference, segmentation

    decode = DecodeRequest.model_validate(request)
    try:
        inference.decode_prompt(decode)
    finally:
        segmentation.prompt_done(decode)


@shared_task(name="annotator.tasks.embed_runner", ignore_result=True)
def embed_runner(index: int) -> int:
    from annotator import inference

    return inference.run_embedding_runner(index)


@shared_task(name="annotator.tasks.run_propagation_job", ignore_result=True)
def run_propagation_job(job_id: int) -> str:
    from annotator import inference

    return inference.run_propagation(job_id).state


@shared_task(name="annotator.tasks.run_training_job", acks_late=True, ignore_result=True)
def run_training_job(job_id: int) -> str:
    from annotator.learning import training

    return training.run_training_job(job_id).state


@shared_task(name="annotator.tasks.run_queue_scoring_job", acks_late=True, ignore_result=True)
def run_queue_scoring_job(job_id: int) -> str:
    from annotator.learning import queue

    return queue.run_scoring_job(job_id).state


@shared_task(name="annotator.tasks.time_decoder")
def time_decoder(
    series_id: int, slice_index: int, preset: str, box: list[float], repeats: int = 100
) -> dict[str, Any]:
    """The compute floor for benchmarks: bare decoder calls on a cached embedding, in this worker process."""
    from annotator import inference

    return inference.time_decoder(series_id, slice_index, preset, box, repeats)


@worker_ready.connect
def load_model_when_worker_starts(**_: object) -> None:
    """Load the serving model once per worker process, and warm it up, before the first task needs it.

    Once per process: the signal can reach this handler more than once (a consumer restart after a lost
    broker connection sends ``worker_ready`` again), and a warm-up costs seconds of encoder time."""
    from ml_worker import serving

    global _model_status, _warmed_up
    with _warm_up_lock:
        if _warmed_up:
            return
        _warmed_up = True
        try:
            predictor = serving.get_predictor()
            serving.warm_up(predictor)
            _model_status = {"loaded": True, **predictor.describe()}
        except Exception as exc:  # the worker still serves non-model tasks; /healthz reports the failure
            logger.exception("could not load the serving model")
            _model_status = {"loaded": False, "error": f"{type(exc).__name__}: {exc}"}


@inspect_command()
def model_info(state: object) -> dict[str, Any]:
    """`celery inspect model_info`: what model this worker has loaded (for /healthz)."""
    return _model_status
