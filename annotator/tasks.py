"""Celery tasks of the annotator app: thin wrappers that take ids and call plain functions.

Jobs are sent to these tasks by name and queue from ``annotator.actions.jobs.JOB_ROUTES`` (``start_job``); this
module imports the actions, never the reverse.
"""

from __future__ import annotations

from celery import shared_task

from annotator.actions import exports, imports


@shared_task(name="annotator.tasks.run_import_job", acks_late=True)
def run_import_job(job_id: int) -> str:
    return imports.run_import_job(job_id).state


@shared_task(name="annotator.tasks.run_export_job", acks_late=True)
def run_export_job(job_id: int) -> str:
    return exports.run_export_job(job_id).state
