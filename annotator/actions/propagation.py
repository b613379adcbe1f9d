"""3D propagation of a box or mask through neighbouring slices, as a cancellable job."""

from __future__ import annotations

from celery import current_app as celery_app
from django.db import transaction

from annotator import rle
from annotator.actions import jobs
from annotator.errors import Forbidden, NotFound
from annotator.models import Job, Label, Role
from annotator.queues import QUEUE_EMBED

PROPAGATE = "propagate"


def check_start(user, message, info: dict) -> None:
    if info["role"] not in (Role.OWNER, Role.ANNOTATOR):
        raise Forbidden("Reviewers cannot create masks.")
    if message.slice_index >= info["shape"][0]:
        raise NotFound(f"Slice {message.slice_index} is outside the series.")
    if (
        message.label_id is not None
        and not Label.objects.filter(pk=message.label_id, project_id=info["project_id"]).exists()
    ):
        raise NotFound("No such label in this project.")
    if message.mask is not None:
        # Decoded here, with the same bounds as a saved mask, so a malformed mask never reaches a worker.
        rle.decode(message.mask, expected_shape=tuple(info["shape"][1:]))


def do_start_propagation(user, message, info: dict, *, reply_channel: str) -> Job:
    """Create the job row and, once committed, queue the worker task that runs it.

    The job runs on the ``embed`` queue: each step needs a new slice's embedding, which is encoder work,
    and interactive decoding must never wait behind it.
    """
    check_start(user, message, info)
    with transaction.atomic():
        job = Job.objects.create(
            kind=PROPAGATE,
            created_by=user,
            project_id=info["project_id"],
            payload={
                **message.model_dump(),
                "preset": message.preset or info["preset"],
                "image_shape": info["shape"][1:],
                "reply_channel": reply_channel,
            },
            message="Waiting for a worker.",
        )
        transaction.on_commit(
            lambda: celery_app.send_task(
                "annotator.tasks.run_propagation_job", args=[job.id], queue=QUEUE_EMBED
            )
        )
    return job


def do_cancel_job(user, job_id: int) -> Job:
    """Cancel a job from the socket: the same rules as the REST cancel (creator or project owner)."""
    job = Job.objects.filter(pk=job_id).select_related("project").first()
    if job is None or (job.created_by_id != user.id and job.project_id is None):
        raise NotFound("No such job.")
    if job.project_id is not None and not job.project.memberships.filter(user=user).exists():
        raise NotFound("No such job.")
    return jobs.do_cancel_job(user, job)
