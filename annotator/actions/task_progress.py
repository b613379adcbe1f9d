"""How far the work is: per assignment (masks and slices done) and per series (the tiles of the project page).

Read from each mask's head revision (``MaskRevision.mask_slices``), never from the mask files, so the lists
stay cheap. What an annotator is shown follows annotator.visibility: under independent readings, their own
masks only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from annotator import access, visibility
from annotator.actions import interactions
from annotator.models import Assignment, MaskTrack, Membership, Role, Series


def assignment_progress(assignments: Iterable[Assignment]) -> dict[int, dict[str, float | None]]:
    """Per assignment id: ``labels`` (of its task), ``masks`` (of those labels with a saved, non-empty mask
    by its annotator), ``slices`` (slices of the series holding any of them) and ``active_seconds`` (the
    annotator's active time on the case by annotator.actions.interactions' rules; None while nothing is
    logged for it)."""
    assignments = list(assignments)
    timed = interactions.assignment_summaries(assignments)
    series_ids = {a.task.series_id for a in assignments}
    annotator_ids = {a.annotator_id for a in assignments}
    heads: dict[tuple[int, int, int], list[int]] = {}
    rows = MaskTrack.objects.filter(
        kind=MaskTrack.Kind.ANNOTATION,
        head__voxel_count__gt=0,
        series_id__in=series_ids,
        annotator_id__in=annotator_ids,
    ).values_list("series_id", "label_id", "annotator_id", "head__mask_slices")
    for series_id, label_id, annotator_id, slices in rows:
        heads[(series_id, label_id, annotator_id)] = slices or []
    result: dict[int, dict[str, float | None]] = {}
    for assignment in assignments:
        label_ids = [label.id for label in assignment.task.labels.all()]
        done = [heads.get((assignment.task.series_id, lid, assignment.annotator_id)) for lid in label_ids]
        masks = [slices for slices in done if slices is not None]
        result[assignment.pk] = {
            "labels": len(label_ids),
            "masks": len(masks),
            "slices": len({z for slices in masks for z in slices}),
            "active_seconds": interactions.seconds(timed.get(assignment.pk)),
        }
    return result


def hidden_series(user: access.AnyUser, membership: Membership, series_ids: list[int]) -> set[int]:
    """The series whose colleagues' masks ``user`` may not read (annotator.visibility), in one query."""
    if membership.role != Role.ANNOTATOR or not visibility.is_independent(membership.project):
        return set()
    states: dict[int, set[str]] = defaultdict(set)
    mine = Assignment.objects.filter(task__series_id__in=series_ids, annotator=access.signed_in(user))
    for series_id, state in mine.values_list("task__series_id", "state"):
        states[series_id].add(state)
    finished = {s for s, seen in states.items() if seen <= {Assignment.State.APPROVED}}
    return set(series_ids) - finished


def series_progress(
    user: access.AnyUser, membership: Membership, series: Iterable[Series]
) -> dict[int, dict[str, object]]:
    """Per series id: ``annotated_slices`` (slices holding a mask the caller may read), ``total`` (slices),
    ``state`` (the caller's own case on it, if any: todo, in_progress, submitted, approved, returned) and
    ``cases`` (assignments per state: all of them for owners and reviewers, the caller's for annotators)."""
    series = list(series)
    ids = [s.pk for s in series]
    slices: dict[int, set[int]] = defaultdict(set)
    tracks = MaskTrack.objects.filter(series_id__in=ids, head__voxel_count__gt=0)
    hidden = hidden_series(user, membership, ids)
    for series_id, annotator_id, mask_slices in tracks.values_list(
        "series_id", "annotator_id", "head__mask_slices"
    ):
        if series_id in hidden and annotator_id != user.pk:
            continue
        slices[series_id].update(mask_slices or [])
    cases: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    own: dict[int, str] = {}
    assignments = Assignment.objects.filter(task__series_id__in=ids)
    if membership.role == Role.ANNOTATOR:
        assignments = assignments.filter(annotator=access.signed_in(user))
    for series_id, annotator_id, state in assignments.values_list("task__series_id", "annotator_id", "state"):
        cases[series_id][state] += 1
        if annotator_id == user.pk:
            own.setdefault(series_id, state)
    return {
        s.pk: {
            "annotated_slices": len(slices[s.pk]),
            "total": s.num_slices,
            "state": own.get(s.pk),
            "cases": dict(cases[s.pk]),
        }
        for s in series
    }
