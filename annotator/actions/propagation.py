"""3D propagation of a box or mask through neighbouring slices, as a cancellable job."""

from __future__ import annotations

from typing import Any

from annotator import access, rle
from annotator.actions import jobs
from annotator.errors import Forbidden, NotFound
from annotator.messages import PropagateMessage
from annotator.models import Job, Role

PROPAGATE = "propagate"


def check_start(user: access.AnyUser, message: PropagateMessage, info: dict[str, Any]) -> None:
    if info["role"] not in (Role.OWNER, Role.ANNOTATOR):
        raise Forbidden("Reviewers cannot create masks.")
    if message.slice_index >= info["shape"][0]:
        raise NotFound(f"Slice {message.slice_index} is outside the series.")
    if message.label_id is not None:
        access.get_label(user, info["project_id"], message.label_id)
    if message.mask is not None:
        # Decoded here, with the same bounds as a saved mask, so a malformed mask never reaches a worker.
        rle.decode(message.mask, expected_shape=tuple(info["shape"][1:]))


def do_start_propagation(
    user: access.AnyUser, message: PropagateMessage, info: dict[str, Any], *, reply_channel: str
) -> Job:
    """Create the job row and, once committed, queue the task that runs it (``jobs.JOB_ROUTES``: the embed
    queue, since each step needs a new slice's embedding, which is encoder work interactive decoding must
    never wait behind)."""
    check_start(user, message, info)
    return jobs.start_job(
        PROPAGATE,
        project=access.get_project(user, info["project_id"]),
        user=user,
        payload={
            **message.model_dump(),
            "preset": message.preset or info["preset"],
            "image_shape": info["shape"][1:],
            "reply_channel": reply_channel,
        },
    )


def do_cancel_job(user: access.AnyUser, job_id: int) -> Job:
    """Cancel a job from the socket: the very function the REST cancel calls, so the rules are one."""
    return jobs.do_cancel_job(user, job_id)
