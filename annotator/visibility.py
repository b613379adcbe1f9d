"""Whose masks a member may read: the independence rule of projects with several annotators per task.

A project asks for N independent annotations of each task (``settings["annotations_per_task"]``, set by the
owner; 1 by default). With N > 1 the readings must not influence each other, so an annotator sees only their
own masks of a series until their own work on it is final (every assignment they have on its tasks is
approved): then a colleague's mask can no longer change theirs. Owners and reviewers see everything (they
run the project and review the readings). The rule applies everywhere masks leave the server: mask reads
(``?annotator=``, ``?revision=``), revision lists, the list of a series' masks, project exports and the
socket's ``revision.created`` broadcasts (``audience``).

A mask the caller may not read is answered exactly like one that does not exist, and so is an unknown
username (``NotFound("No such annotator in this project.")``): the answer never tells whether a user exists.
With N = 1 annotators see each other's masks, as before (live collaboration on one mask set).
"""

from __future__ import annotations

from django.db.models import QuerySet

from annotator import access
from annotator.errors import InvalidInput
from annotator.models import Assignment, MaskTrack, Membership, Project, Role, Series

ANNOTATIONS_PER_TASK = "annotations_per_task"
MAX_ANNOTATIONS_PER_TASK = 10


def annotations_per_task(project: Project) -> int:
    """How many independent annotations each task of ``project`` asks for (1 unless the owner set more)."""
    value = project.settings.get(ANNOTATIONS_PER_TASK, 1)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1


def check_annotations_per_task(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ANNOTATIONS_PER_TASK:
        raise InvalidInput(
            f"Annotations per case must be a whole number from 1 to {MAX_ANNOTATIONS_PER_TASK}."
        )
    return value


def is_independent(project: Project) -> bool:
    return annotations_per_task(project) > 1


def finished_annotators(series: Series | int) -> set[int]:
    """Annotators whose every assignment on the series' tasks is approved (and who have at least one)."""
    states: dict[int, set[str]] = {}
    rows = Assignment.objects.filter(task__series=series).values_list("annotator_id", "state")
    for user_id, state in rows:
        states.setdefault(user_id, set()).add(state)
    return {user_id for user_id, seen in states.items() if seen <= {Assignment.State.APPROVED}}


def sees_colleagues(user: access.AnyUser, role: str, project: Project, series: Series) -> bool:
    """Whether ``user`` (a member with ``role``) may read other people's masks of ``series``."""
    if role != Role.ANNOTATOR or not is_independent(project):
        return True
    return user.pk in finished_annotators(series)


def visible_tracks(
    tracks: QuerySet[MaskTrack], user: access.AnyUser, role: str, project: Project, series: Series
) -> QuerySet[MaskTrack]:
    """``tracks`` of ``series`` narrowed to what ``user`` may read (their own only, under independence)."""
    if sees_colleagues(user, role, project, series):
        return tracks
    return tracks.filter(annotator=access.signed_in(user))


def may_read_track(
    user: access.AnyUser, role: str, project: Project, series: Series, track_annotator_id: int | None
) -> bool:
    """Whether ``user`` may read the track of ``track_annotator_id`` (None: the consensus) on ``series``."""
    return track_annotator_id == user.pk or sees_colleagues(user, role, project, series)


def audience(project: Project, series_id: int, track_annotator_id: int | None) -> list[int] | None:
    """Who may receive a ``revision.created`` of this track: None for every subscriber of the series (no
    independence), else the user ids allowed (owners, reviewers, the track's annotator, the finished ones)."""
    if not is_independent(project):
        return None
    allowed = set(
        Membership.objects.filter(project=project)
        .exclude(role=Role.ANNOTATOR)
        .values_list("user_id", flat=True)
    )
    if track_annotator_id is not None:
        allowed.add(track_annotator_id)
    return sorted(allowed | finished_annotators(series_id))
