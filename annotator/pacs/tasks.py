"""Celery tasks of the PACS side: thin wrappers that take a job id and call the plain functions.

Sent by name from the actions (``celery.current_app.send_task``) to the ``embed`` queue, like imports and
exports: they decode and write large arrays, never on the interactive queue.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="annotator.pacs.tasks.run_pacs_import_job", acks_late=True)
def run_pacs_import_job(job_id: int) -> str:
    from annotator.actions.pacs_import import run_pacs_import_job as run

    return run(job_id).state


@shared_task(name="annotator.pacs.tasks.run_pacs_export_job", acks_late=True)
def run_pacs_export_job(job_id: int) -> str:
    from annotator.actions.pacs_stow import run_pacs_export_job as run

    return run(job_id).state
