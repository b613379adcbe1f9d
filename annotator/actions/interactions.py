"""The interaction log: storing batches of events (over the socket or REST, idempotent per session and
sequence number) and deriving active time from them (the rules are ``annotator.timing.activity``'s)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet

from annotator import access
from annotator.errors import InvalidInput
from annotator.models import Assignment, InteractionEvent, Label, MaskRevision, Project, Series
from annotator.timing import activity
from annotator.timing.activity import DEFAULT_IDLE_THRESHOLD_S, Summary
from annotator.timing.schema import LoggedEvent

IDLE_SETTING = "idle_threshold_s"
OPEN_STATES = (Assignment.State.TODO, Assignment.State.IN_PROGRESS, Assignment.State.RETURNED)
# Bounds on the project setting: under 5 s a person studying a slice counts as idle; over 10 minutes the
# cut no longer separates work from absence.
IDLE_BOUNDS_S = (5.0, 600.0)


def idle_ms(project: Project) -> float:
    return 1000.0 * float(project.settings.get(IDLE_SETTING, DEFAULT_IDLE_THRESHOLD_S))


@transaction.atomic
def do_set_idle_threshold(project: Project, seconds: float) -> Project:
    low, high = IDLE_BOUNDS_S
    if not low <= seconds <= high:
        raise InvalidInput(f"The idle threshold must be between {low:g} and {high:g} seconds.")
    locked = Project.objects.select_for_update().get(pk=project.pk)
    locked.settings = {**locked.settings, IDLE_SETTING: seconds}
    locked.save(update_fields=["settings"])
    return locked


# -- storing -------------------------------------------------------------------------------------------


@dataclass
class Stored:
    stored: int
    duplicates: int


def check_events(
    user: User, events: Sequence[LoggedEvent], default_assignments: dict[int, int | None]
) -> list[InteractionEvent]:
    """Unsaved rows for ``events`` after checking that every series, label, assignment and revision they
    name is the user's to log against; anything else refuses the whole batch (nothing is stored)."""
    series_ids = {e.series_id for e in events}
    if None in series_ids:
        raise InvalidInput("Every event names the series it happened on.")
    series: dict[int, Series] = {}
    for series_id in series_ids:
        assert series_id is not None
        series[series_id] = access.get_series(user, series_id)
    labels = {
        label.pk: label for label in Label.objects.filter(pk__in={e.label_id for e in events if e.label_id})
    }
    assignments: dict[tuple[int, int], Assignment] = {}
    revisions: dict[int, MaskRevision] = {}
    own_cases = open_cases(user, set(series))
    rows = []
    for event in events:
        assert event.series_id is not None
        target = series[event.series_id]
        project_id = target.study.project_id
        label = labels.get(event.label_id) if event.label_id is not None else None
        if event.label_id is not None and (label is None or label.project_id != project_id):
            raise InvalidInput(f"Label {event.label_id} is not a label of this series' project.")
        assignment_id = (
            event.assignment_id
            or default_assignments.get(target.pk)
            or case_of(own_cases.get(target.pk, []), event.label_id)
        )
        if assignment_id is not None and (assignment_id, target.pk) not in assignments:
            assignments[(assignment_id, target.pk)] = access.get_assignment_on_series(
                user, assignment_id, target.pk
            )
        revision = None
        if event.revision_id is not None:
            revision = (
                revisions.get(event.revision_id)
                or MaskRevision.objects.filter(
                    pk=event.revision_id, track__series=target, track__annotator=user
                ).first()
            )
            if revision is None:
                raise InvalidInput(f"Revision {event.revision_id} is not one of your masks on this series.")
            revisions[revision.pk] = revision
        rows.append(
            InteractionEvent(
                user=user,
                project_id=project_id,
                series=target,
                label=label,
                assignment_id=assignment_id,
                revision=revision,
                seq=event.seq,
                kind=event.kind,
                client_time=datetime.fromtimestamp(event.t / 1000.0, tz=UTC),
                duration_ms=event.duration_ms,
                slice_index=event.slice_index,
                model_version=event.model_version,
                detail=event.detail,
            )
        )
    return rows


def open_cases(user: User, series_ids: set[int]) -> dict[int, list[tuple[int, set[int]]]]:
    """Per series, the user's unfinished cases on it: (assignment id, its task's label ids)."""
    found: dict[int, list[tuple[int, set[int]]]] = {}
    cases = Assignment.objects.filter(
        annotator=user, task__series_id__in=series_ids, state__in=OPEN_STATES
    ).prefetch_related("task__labels")
    for case in cases.select_related("task"):
        labels = {label.pk for label in case.task.labels.all()}
        found.setdefault(case.task.series_id, []).append((case.pk, labels))
    return found


def case_of(cases: list[tuple[int, set[int]]], label_id: int | None) -> int | None:
    """The case an event belongs to when the viewer named none (opened on the series rather than from a
    task): the user's one unfinished case on the series, or the one whose task has the event's label (a
    task without labels has them all); None when that is not exactly one."""
    if label_id is not None and len(cases) > 1:
        cases = [(pk, labels) for pk, labels in cases if not labels or label_id in labels]
    return cases[0][0] if len(cases) == 1 else None


@transaction.atomic
def do_record_events(
    user: access.AnyUser,
    session: str,
    events: Sequence[LoggedEvent],
    transport: str,
    *,
    default_assignments: dict[int, int | None] | None = None,
) -> Stored:
    """Store a batch; events already stored for (user, session, seq) are skipped, so a batch sent again
    after a reconnect, or by the REST fallback as well as the socket, is counted once."""
    user = access.signed_in(user)
    rows = check_events(user, events, default_assignments or {})
    existing = set(
        InteractionEvent.objects.filter(
            user=user, session=session, seq__in=[r.seq for r in rows]
        ).values_list("seq", flat=True)
    )
    fresh: dict[int, InteractionEvent] = {}
    for row in rows:
        if row.seq not in existing:
            row.session, row.transport = session, transport
            fresh.setdefault(row.seq, row)
    # ignore_conflicts: two copies of a batch racing (socket and REST at once) store it once
    InteractionEvent.objects.bulk_create(fresh.values(), ignore_conflicts=True)
    return Stored(stored=len(fresh), duplicates=len(rows) - len(fresh))


# -- deriving ------------------------------------------------------------------------------------------


def as_events(queryset: QuerySet[InteractionEvent]) -> list[activity.Event]:
    rows = queryset.values_list(
        "session",
        "seq",
        "client_time",
        "kind",
        "user_id",
        "series_id",
        "label_id",
        "assignment_id",
        "revision_id",
        "duration_ms",
        "model_version",
    )
    return [
        activity.Event(
            session=session,
            seq=seq,
            t=client_time.timestamp() * 1000.0,
            kind=kind,
            user=user,
            series=series,
            label=label,
            assignment=assignment,
            revision=revision,
            duration=duration,
            model_version=model_version,
        )
        for (
            session,
            seq,
            client_time,
            kind,
            user,
            series,
            label,
            assignment,
            revision,
            duration,
            model_version,
        ) in rows
    ]


def series_timing(
    user: access.AnyUser, series: Series, assignment_id: int | None = None, exclude_session: str = ""
) -> dict:
    """The user's active time per label on a series (their masks), with each revision's share: what the
    viewer's running clock starts from (leaving out the viewer's own session, which it counts itself)."""
    events = InteractionEvent.objects.filter(user=access.signed_in(user), series=series)
    if assignment_id is not None:
        events = events.filter(assignment_id=assignment_id)
    if exclude_session:
        events = events.exclude(session=exclude_session)
    stream = as_events(events)
    threshold = idle_ms(series.study.project)
    masks = activity.per_mask(stream, threshold)
    revisions = activity.per_revision(stream, threshold)
    return {
        "idle_threshold_s": threshold / 1000.0,
        "labels": {
            str(label): {
                **summary.as_dict(),
                "revisions": [
                    {"revision": part.revision, **part.summary.as_dict()}
                    for part in revisions.get((uid, sid, label), [])
                ],
            }
            for (uid, sid, label), summary in masks.items()
        },
    }


def assignment_summaries(assignments: Iterable[Assignment]) -> dict[int, Summary]:
    """Per assignment, the work of its annotator on it (a reviewer looking at it does not add time)."""
    by_project: dict[int, list[Assignment]] = {}
    for assignment in assignments:
        by_project.setdefault(assignment.task.project_id, []).append(assignment)
    result: dict[int, Summary] = {}
    for listed in by_project.values():
        owners = {a.pk: a.annotator_id for a in listed}
        stream = [
            e
            for e in as_events(InteractionEvent.objects.filter(assignment_id__in=owners))
            if e.assignment is not None and owners.get(e.assignment) == e.user
        ]
        result.update(activity.per_assignment(stream, idle_ms(listed[0].task.project)))
    return result


def seconds(summary: Summary | None) -> float | None:
    """A summary's active time in seconds (ms rounded), None when nothing was logged."""
    return round(summary.active_ms / 1000.0, 3) if summary else None
