"""Reviewing cases: what a reviewer sees of a task, comments pinned to a slice and a position, requesting
changes, agreement between the annotators of a task, their consensus, and the approved masks.

Who takes part: reviewers and owners review (never their own work); the annotator of an assignment reads
and answers its comments; nobody else sees an assignment's comments, and a case they may not see is
answered like a missing one. The consensus of a series' label is one track of its own (no annotator; each
revision's author is the reviewer who built it, its ``inputs`` say from which revisions and how), so it
never mixes with anybody's own mask and a second reviewer's consensus is simply its next revision.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotator import access, agreement, events
from annotator.actions import approvals, masks, tasks
from annotator.errors import Forbidden, InvalidInput, NotFound
from annotator.imaging.volumes import mask_shape
from annotator.messages_review import CommentCreated, CommentInfo, CommentUpdated
from annotator.models import (
    Assignment,
    Label,
    MaskRevision,
    MaskTrack,
    Membership,
    Project,
    ReviewComment,
    Role,
    Series,
    Task,
)
from annotator.models.review import MAX_COMMENT_CHARS

# Colours of the annotators' layers in the review view (label colours say which structure; these, whose).
ANNOTATOR_COLORS = ["#00bcd4", "#ff9800", "#8bc34a", "#e040fb", "#ffeb3b", "#ff5252", "#448aff", "#a1887f"]
CONSENSUS_COLOR = "#ffffff"
ConsensusMethod = Literal["majority", "staple"]


# -- the approved masks (exports, active learning) -------------------------------------------------------


def approved_masks(project: Project) -> Iterator[tuple[Series, Label, User | None, MaskRevision]]:
    """Every approved mask of ``project`` as ``(series, label, annotator, revision)``.

    - For each approved assignment (a reviewer approved the case), per label of its task, the revision of
      the annotator's mask that was the head when the case was approved: later saves do not change it. When
      the same annotator had the same series and label approved twice, the later approval counts.
    - For each series and label with a consensus (built by a reviewer from several annotators' masks,
      majority vote or STAPLE), its latest revision, with ``annotator`` None.
    Removed labels are left out. Read the mask with ``annotator.actions.masks.read_volume(revision,
    mask_shape(series))``: a bool (Z, Y, X) array in the series' canonical orientation. The revision carries
    ``source``, ``model_version`` and the model's first prediction per slice (``read_first_predictions``).
    Ordered by series, annotator (consensus last) and label. Exports use the same selection
    (annotator.actions.exports.selected_masks).
    """
    series = Series.objects.filter(study__project=project).select_related("study")
    by_id = {s.pk: s for s in series}
    labels = {label.pk: label for label in Label.objects.filter(project=project)}
    for mask in approvals.approved_pairs(series):
        if mask.label_id in labels:
            yield by_id[mask.series_id], labels[mask.label_id], mask.annotator, mask.revision


# -- who reviews -----------------------------------------------------------------------------------------


def check_reviewer(user: access.AnyUser, membership: Membership) -> None:
    if membership.role not in access.REVIEWERS:
        raise Forbidden("Only reviewers and owners review cases.")


def annotator_color(index: int) -> str:
    return ANNOTATOR_COLORS[index % len(ANNOTATOR_COLORS)]


def review_of(task: Task) -> dict[str, Any]:
    """What the review view shows of a task: each assignment with its annotator's colour and the head
    revision of their mask of each label, and the consensus of each label."""
    labels = list(task.labels.all())
    assignments = list(task.assignments.select_related("annotator").order_by("id"))
    tracks = MaskTrack.objects.filter(
        series=task.series, label__in=labels, head__isnull=False
    ).select_related("head__author")
    heads = {(t.annotator_id, t.label_id): t.head for t in tracks}
    return {
        "task": task.pk,
        "series": task.series_id,
        "labels": [label.pk for label in labels],
        "instructions": task.instructions,
        "assignments": [
            {
                "id": a.pk,
                "annotator": a.annotator_id,
                "username": a.annotator.get_username(),
                "state": a.state,
                "state_label": a.get_state_display(),
                "color": annotator_color(i),
                "masks": {str(label.pk): summary(heads.get((a.annotator_id, label.pk))) for label in labels},
            }
            for i, a in enumerate(assignments)
        ],
        "consensus": {
            "color": CONSENSUS_COLOR,
            "masks": {str(label.pk): summary(heads.get((None, label.pk))) for label in labels},
        },
    }


def summary(revision: MaskRevision | None) -> dict[str, Any] | None:
    return masks.revision_summary(revision) if revision is not None else None


# -- comments --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommentRequest:
    """A comment's text and, optionally, where it is pinned: a slice and a point (image pixels)."""

    text: str
    label_id: int | None = None
    slice_index: int | None = None
    x: float | None = None
    y: float | None = None


def check_comment(
    user: access.AnyUser, membership: Membership, assignment: Assignment, request: CommentRequest
) -> Label | None:
    """Reviewers and owners comment on others' cases, the annotator on their own; the text is not empty
    and not too long; a pin names a slice and a point inside the series (all of them or none)."""
    own = assignment.annotator_id == user.pk
    if not own and membership.role not in access.REVIEWERS:
        raise NotFound("No such assignment.")
    text = request.text.strip()
    if not text:
        raise InvalidInput("A comment needs some text.")
    if len(text) > MAX_COMMENT_CHARS:
        raise InvalidInput(f"A comment is at most {MAX_COMMENT_CHARS} characters.")
    pin = (request.slice_index, request.x, request.y)
    if any(v is not None for v in pin):
        if request.slice_index is None or request.x is None or request.y is None:
            raise InvalidInput("Pin a comment with a slice and both coordinates, or not at all.")
        depth, height, width = mask_shape(assignment.task.series)
        if not 0 <= request.slice_index < depth:
            raise InvalidInput(f"Slice {request.slice_index} is outside the series (0–{depth - 1}).")
        x, y = float(request.x), float(request.y)
        if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= width and 0 <= y <= height):
            raise InvalidInput(f"The point ({x}, {y}) is outside the image ({width}×{height}).")
    if request.label_id is None:
        return None
    return access.get_label(user, assignment.task.project_id, request.label_id)


def comment_audience(assignment: Assignment) -> list[int]:
    """Who may read an assignment's comments: its annotator, the project's reviewers and owners."""
    reviewers = Membership.objects.filter(
        project_id=assignment.task.project_id, role__in=[Role.OWNER, Role.REVIEWER]
    ).values_list("user_id", flat=True)
    return sorted({assignment.annotator_id, *reviewers})


def comment_info(comment: ReviewComment) -> CommentInfo:
    return CommentInfo(
        id=comment.pk,
        assignment=comment.assignment_id,
        series_id=comment.assignment.task.series_id,
        author=comment.author.get_username(),
        text=comment.text,
        label_id=comment.label_id,
        slice_index=comment.slice_index,
        x=comment.x,
        y=comment.y,
        requests_changes=comment.requests_changes,
        created_at=comment.created_at.isoformat(),
        resolved=comment.resolved_at is not None,
        resolved_by=comment.resolved_by.get_username() if comment.resolved_by is not None else None,
    )


def _announce(comment: ReviewComment, created: bool) -> None:
    """Tell the sockets on the case's series that may read it (a reviewer's and the annotator's viewers)."""
    assignment = comment.assignment
    info = comment_info(comment)
    message = CommentCreated(comment=info) if created else CommentUpdated(comment=info)
    events.send_on_commit(
        events.series_group(assignment.task.series_id), message, only_users=comment_audience(assignment)
    )


@transaction.atomic
def do_comment(
    user: access.AnyUser,
    membership: Membership,
    assignment: Assignment,
    request: CommentRequest,
    *,
    requests_changes: bool = False,
) -> ReviewComment:
    label = check_comment(user, membership, assignment, request)
    comment = ReviewComment.objects.create(
        assignment=assignment,
        author=access.signed_in(user),
        text=request.text.strip(),
        label=label,
        slice_index=request.slice_index,
        x=request.x,
        y=request.y,
        requests_changes=requests_changes,
    )
    _announce(comment, created=True)
    return comment


@transaction.atomic
def do_request_changes(
    user: access.AnyUser, membership: Membership, assignment: Assignment, request: CommentRequest
) -> tuple[Assignment, ReviewComment]:
    """Send a submitted case back to its annotator with a comment (pinned where the fix is needed)."""
    tasks.check_transition(user, membership, assignment, "send_back", request.text)
    check_comment(user, membership, assignment, request)
    returned = tasks.do_transition(user, membership, assignment, "send_back", request.text)
    return returned, do_comment(user, membership, returned, request, requests_changes=True)


def comments_of(assignment: Assignment) -> QuerySet[ReviewComment]:
    return assignment.comments.select_related("author", "resolved_by", "assignment__task")


@transaction.atomic
def do_resolve_comment(user: access.AnyUser, comment: ReviewComment, resolved: bool) -> ReviewComment:
    """Mark a comment done (or open again): whoever may read it (the annotator fixed it, or the reviewer
    agrees)."""
    comment.resolved_at = timezone.now() if resolved else None
    comment.resolved_by = access.signed_in(user) if resolved else None
    comment.save(update_fields=["resolved_at", "resolved_by"])
    _announce(comment, created=False)
    return comment


# -- agreement and consensus -----------------------------------------------------------------------------


def annotator_volumes(task: Task, label: Label) -> list[tuple[User, MaskRevision, np.ndarray]]:
    """Each annotator of the task with a saved mask of ``label``: (annotator, head revision, volume)."""
    shape = mask_shape(task.series)
    annotators = [a.annotator for a in task.assignments.select_related("annotator").order_by("id")]
    heads = {
        t.annotator_id: t.head
        for t in MaskTrack.objects.filter(
            series=task.series, label=label, kind=MaskTrack.Kind.ANNOTATION, head__isnull=False
        ).select_related("head")
        if t.head is not None  # always: filtered on having a head
    }
    found = [(user, heads[user.pk]) for user in annotators if user.pk in heads]
    return [(user, head, masks.read_volume(head, shape)) for user, head in found]


def agreement_of(task: Task) -> dict[str, Any]:
    """Pairwise Dice between the task's annotators, per label: over the volume and per slice (the slices
    where either mask has something)."""
    result = []
    for label in task.labels.all():
        found = annotator_volumes(task, label)
        pairs = []
        for i, (a, _, va) in enumerate(found):
            for b, _, vb in found[i + 1 :]:
                per_slice = agreement.dice_per_slice(va, vb)
                pairs.append(
                    {
                        "a": a.get_username(),
                        "b": b.get_username(),
                        "dice": round(agreement.dice(va, vb), 4),
                        "slices": {str(z): round(d, 4) for z, d in per_slice.items()},
                    }
                )
        result.append(
            {"label": label.pk, "annotators": [user.get_username() for user, _, _ in found], "pairs": pairs}
        )
    return {"task": task.pk, "labels": result}


@transaction.atomic
def do_build_consensus(
    user: access.AnyUser, membership: Membership, task: Task, label_id: int, method: str
) -> MaskRevision:
    """Build the consensus of the task's annotators' masks of a label (majority vote or STAPLE) and save it
    as the next revision of the label's consensus on the series."""
    check_reviewer(user, membership)
    if method not in ("majority", "staple"):
        raise InvalidInput(f"Unknown consensus method {method!r}; use majority or staple.")
    label = task.labels.filter(pk=label_id).first()
    if label is None:
        raise InvalidInput("That label is not part of this task.")
    found = annotator_volumes(task, label)
    if len(found) < 2:
        raise InvalidInput(f"A consensus needs masks of {label.name} from at least two annotators.")
    volumes = [volume for _, _, volume in found]
    inputs: dict[str, Any] = {
        "method": method,
        "task": task.pk,
        "revisions": {u.get_username(): head.pk for u, head, _ in found},
    }
    if method == "staple":
        estimate = agreement.staple(volumes)
        consensus = estimate.consensus
        inputs["sensitivity"] = {
            u.get_username(): round(v, 4) for (u, _, _), v in zip(found, estimate.sensitivity, strict=True)
        }
        inputs["specificity"] = {
            u.get_username(): round(v, 4) for (u, _, _), v in zip(found, estimate.specificity, strict=True)
        }
    else:
        consensus = agreement.majority_vote(volumes)
    return masks.do_save_consensus(access.signed_in(user), task.series, label, consensus, inputs)
