"""Celery tasks of the annotator app: thin wrappers that take ids and call plain functions."""

from __future__ import annotations

from celery import shared_task

from annotator.queues import QUEUE_EMBED


@shared_task(name="annotator.tasks.run_import_job", acks_late=True)
def run_import_job(job_id: int) -> str:
    from annotator.actions.imports import run_import_job as run

    return run(job_id).state


def enqueue_import(job_id: int) -> None:
    """Imports decode and write large arrays: the embed queue, never the interactive one."""
    run_import_job.apply_async(args=[job_id], queue=QUEUE_EMBED)


@shared_task(name="annotator.tasks.run_export_job", acks_late=True)
def run_export_job(job_id: int) -> str:
    from annotator.actions.exports import run_export_job as run

    return run(job_id).state


def enqueue_export(job_id: int) -> None:
    """Exports read every mask and write a zip: the embed queue, never the interactive one."""
    run_export_job.apply_async(args=[job_id], queue=QUEUE_EMBED)
