"""Jobs: starting one (one table from kind to Celery task and queue), progress pushed to the browser, cancelling.

Every background job starts through ``start_job``: the row is created in the caller's transaction and the task
is sent by *name* once that transaction commits, so a rolled-back request queues nothing and no action module
imports ``annotator/tasks.py`` (tasks import actions, never the reverse).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from celery import current_app as celery_app
from django.contrib.auth.models import User
from django.db import transaction

from annotator import access, events
from annotator.errors import Conflict, DomainError, Forbidden
from annotator.models import Job, Project, Role
from annotator.queues import QUEUE_EMBED, QUEUE_TRAIN

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobRoute:
    """Which Celery task runs a kind of job, and on which queue (annotator/queues.py)."""

    task: str
    queue: str


# Imports, exports and propagation decode, write or embed whole volumes: the embed queue, never the interactive
# one. Fine-tuning and scoring the queue by the model (active learning) run on the train queue.
JOB_ROUTES: dict[str, JobRoute] = {
    "import": JobRoute("annotator.tasks.run_import_job", QUEUE_EMBED),
    "export": JobRoute("annotator.tasks.run_export_job", QUEUE_EMBED),
    "propagate": JobRoute("annotator.tasks.run_propagation_job", QUEUE_EMBED),
    # A project's PACS (annotator/actions/pacs_import.py, pacs_stow.py): retrieve and import, send SEGs back.
    "pacs-import": JobRoute("annotator.pacs.tasks.run_pacs_import_job", QUEUE_EMBED),
    "pacs-export": JobRoute("annotator.pacs.tasks.run_pacs_export_job", QUEUE_EMBED),
    # Active learning (annotator/learning/): a fine-tuning run, and scoring the open tasks by the model.
    "train": JobRoute("annotator.tasks.run_training_job", QUEUE_TRAIN),
    "queue-scores": JobRoute("annotator.tasks.run_queue_scoring_job", QUEUE_TRAIN),
}


def route_for(kind: str) -> JobRoute:
    try:
        return JOB_ROUTES[kind]
    except KeyError:
        raise ValueError(
            f"Unknown job kind {kind!r}; known kinds: {', '.join(sorted(JOB_ROUTES))}."
        ) from None


def start_job(
    kind: str,
    *,
    project: Project | None,
    user: access.AnyUser | None,
    payload: dict[str, Any],
    message: str = "Waiting for a worker.",
) -> Job:
    """Create a pending job of ``kind`` and queue its task once the caller's transaction commits.

    Inside a caller's ``transaction.atomic`` the row is part of that transaction: if it rolls back, the row is
    gone and nothing is sent. The creator's open tabs learn of the job (``job.progress``, state pending).
    """
    route = route_for(kind)
    with transaction.atomic():
        job = Job.objects.create(
            kind=kind,
            project=project,
            created_by=None if user is None else access.signed_in(user),
            payload=payload,
            message=message[:300],
        )
        push_progress(job)
        transaction.on_commit(lambda: celery_app.send_task(route.task, args=[job.pk], queue=route.queue))
    return job


def project_of(job: Job) -> Project:
    """The project of a job that works on one (imports, exports, PACS jobs are all started with theirs)."""
    if job.project is None:
        raise DomainError(f"The {job.kind} job belongs to no project.")
    return job.project


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


def check_can_cancel(user: User, job: Job) -> None:
    """The person who started a job may cancel it (even after leaving its project), and so may the project's
    owners; anyone else who can see the job is refused (403)."""
    if job.created_by_id != user.pk and not (
        job.project is not None and job.project.memberships.filter(user=user, role=Role.OWNER).exists()
    ):
        raise Forbidden("Only the person who started a job or a project owner can cancel it.")
    if job.is_finished:
        raise Conflict(f"The job has already finished ({job.state}).")


def do_cancel_job(user: access.AnyUser, job_id: int) -> Job:
    """Cancel a job, from the REST API or the socket alike: a job the user cannot see is 404 (access.get_job),
    one they see but may not cancel is 403, a finished one 409."""
    with transaction.atomic():
        job = access.get_job(user, job_id)
        check_can_cancel(access.signed_in(user), job)  # get_job refused anonymous callers
        if not job.cancel():
            raise Conflict(f"The job has already finished ({job.state}).")
        push_progress(job)
    return job
