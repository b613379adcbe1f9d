"""What a reviewer approved: the revision of each label's mask at the moment a case was approved.

Approving an assignment records, per label of its task, the head revision of the annotator's mask then
(``ApprovedRevision``); saves after that do not change what was approved. Exports (by default) and the
active-learning loop read approved masks from here (``approved_pairs``; the public entry point with its
contract is ``annotator.actions.review.approved_masks``). The consensus of a series' label, built by a
reviewer, counts as approved from the moment it is built (its head revision).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import QuerySet

from annotator.models import ApprovedRevision, Assignment, MaskRevision, MaskTrack, Series


def do_record_approval(assignment: Assignment, reviewer: User) -> list[ApprovedRevision]:
    """Record the head revisions of the annotator's masks of the task's labels (call inside the approving
    transaction). A label the annotator left empty has nothing to record."""
    task = assignment.task
    tracks = MaskTrack.objects.filter(
        series_id=task.series_id,
        annotator_id=assignment.annotator_id,
        kind=MaskTrack.Kind.ANNOTATION,
        label__in=task.labels.all(),
        head__isnull=False,
    )
    ApprovedRevision.objects.filter(assignment=assignment).delete()
    return ApprovedRevision.objects.bulk_create(
        [
            ApprovedRevision(
                assignment=assignment, label_id=t.label_id, revision_id=t.head_id, approved_by=reviewer
            )
            for t in tracks
            if t.head_id is not None  # always: the tracks were filtered on having a head
        ]
    )


@dataclass(frozen=True)
class SelectedMask:
    """One mask chosen for an export or for training: whose (None: the consensus), which label, which
    revision."""

    series_id: int
    label_id: int
    annotator: User | None
    revision: MaskRevision


def approved_records(series: Iterable[Series] | QuerySet[Series]) -> QuerySet[ApprovedRevision]:
    """Approvals of assignments still approved, on active labels of ``series``, newest first."""
    return (
        ApprovedRevision.objects.filter(
            assignment__task__series__in=series,
            assignment__state=Assignment.State.APPROVED,
            label__removed_at__isnull=True,
        )
        .select_related("revision__track", "assignment__annotator", "assignment__task")
        .order_by("-approved_at", "-id")
    )


def approved_pairs(series: Iterable[Series] | QuerySet[Series]) -> list[SelectedMask]:
    """Per series, label and annotator the latest approved revision, and each label's consensus head.
    Sorted by series, then annotator (consensus last), then label."""
    chosen: dict[tuple[int, int, int | None], SelectedMask] = {}
    key: tuple[int, int, int | None]
    for record in approved_records(series):
        task, annotator = record.assignment.task, record.assignment.annotator
        key = (task.series_id, record.label_id, annotator.pk)
        chosen.setdefault(key, SelectedMask(task.series_id, record.label_id, annotator, record.revision))
    for track in consensus_heads(series):
        if track.head is None:  # never: consensus_heads are the tracks with a head
            continue
        key = (track.series_id, track.label_id, None)
        chosen[key] = SelectedMask(track.series_id, track.label_id, None, track.head)
    return sorted(chosen.values(), key=_order)


def consensus_heads(series: Iterable[Series] | QuerySet[Series]) -> QuerySet[MaskTrack]:
    return MaskTrack.objects.filter(
        series__in=series,
        kind=MaskTrack.Kind.CONSENSUS,
        head__isnull=False,
        label__removed_at__isnull=True,
    ).select_related("head")


def head_pairs(series: Iterable[Series] | QuerySet[Series]) -> list[SelectedMask]:
    """Every track's head revision (each annotator's and the consensus) on active labels of ``series``."""
    tracks = MaskTrack.objects.filter(
        series__in=series, head__isnull=False, label__removed_at__isnull=True
    ).select_related("head", "annotator")
    pairs = [
        SelectedMask(t.series_id, t.label_id, t.annotator, t.head)
        for t in tracks
        if t.head is not None  # always: the tracks were filtered on having a head
    ]
    return sorted(pairs, key=_order)


def _order(mask: SelectedMask) -> tuple[int, bool, str, int]:
    name = mask.annotator.get_username() if mask.annotator is not None else ""
    return (mask.series_id, mask.annotator is None, name, mask.label_id)
