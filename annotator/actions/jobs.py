"""Generic job operations: progress pushed to the browser, cancellation."""

from __future__ import annotations

import logging

from django.db import transaction

from annotator import events
from annotator.errors import Conflict, Forbidden
from annotator.models import Job, Role

log = logging.getLogger(__name__)


def push_progress(job: Job) -> None:
    """Tell the job's creator (every open tab) where the job stands, once the current transaction commits."""
    if job.created_by_id is None:
        return
    message = events.job_progress(job)
    group = events.user_group(job.created_by_id)

    def send() -> None:
        try:
            events.send_to_group(group, message)
        except Exception as exc:  # noqa: BLE001 - a missing channel layer must not fail the job itself
            log.warning("could not push progress of job %s: %s", job.pk, exc)

    transaction.on_commit(send)


def report(job: Job, progress: float, message: str = "") -> bool:
    """Record and push progress; False when the job is no longer running (cancelled): stop working."""
    running = job.set_progress(progress, message)
    if running:
        push_progress(job)
    return running


def check_can_cancel(user, job: Job) -> None:
    if job.created_by_id != user.id and not (
        job.project_id and job.project.memberships.filter(user=user, role=Role.OWNER).exists()
    ):
        raise Forbidden("Only the person who started a job or a project owner can cancel it.")
    if job.is_finished:
        raise Conflict(f"The job has already finished ({job.state}).")


@transaction.atomic
def do_cancel_job(user, job: Job) -> Job:
    check_can_cancel(user, job)
    if not job.cancel():
        raise Conflict(f"The job has already finished ({job.state}).")
    push_progress(job)
    return job
