"""Annotation tasks, per-annotator assignments, the review workflow, queues and progress.

The order of an annotator's queue is pluggable: ``register_ordering("name")`` adds an ordering of open tasks
(the active-learning work adds one by model uncertainty); a project picks one with
``settings["queue_ordering"]`` (default "priority").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from annotator import access, events, visibility
from annotator.actions import approvals, queue_scores
from annotator.errors import Conflict, Forbidden, InvalidInput
from annotator.messages import AssignmentState, AssignmentUpdated, QueueChanged
from annotator.models import Assignment, Label, Membership, Project, Role, Series, StudyTask, Task
from ml_worker.active_learning.selection import QUEUE_STRATEGIES

QueueOrdering = Callable[[QuerySet, object, Project], Iterable[Task]]
_ORDERINGS: dict[str, QueueOrdering] = {}
ASSIGNABLE_ROLES = {Role.OWNER, Role.ANNOTATOR}
OPEN_STATES = (Assignment.State.RETURNED, Assignment.State.IN_PROGRESS, Assignment.State.TODO)


def register_ordering(name: str) -> Callable[[QueueOrdering], QueueOrdering]:
    """Register ``fn(open_tasks, user, project) -> tasks in the order to offer them``."""

    def decorator(fn: QueueOrdering) -> QueueOrdering:
        _ORDERINGS[name] = fn
        return fn

    return decorator


@register_ordering("priority")
def by_priority(tasks: QuerySet, user: object, project: Project) -> Iterable[Task]:
    return tasks.order_by("-priority", "id")


# Orderings by the model's doubt, one per queue strategy of active learning (annotator/actions/queue_scores.py).
for _strategy in QUEUE_STRATEGIES:
    register_ordering(_strategy)(queue_scores.by_model_doubt(_strategy))


def ordering_for(project: Project) -> QueueOrdering:
    name = project.settings.get("queue_ordering", "priority")
    return _ORDERINGS.get(name, by_priority)


def orderings() -> list[str]:
    return sorted(_ORDERINGS)


# -- creating and assigning ----------------------------------------------------------------------------


def check_series(project: Project, series_ids: list[int]) -> list[Series]:
    if not series_ids:
        raise InvalidInput("Choose at least one series.")
    found = {s.id: s for s in Series.objects.filter(pk__in=series_ids, study__project=project)}
    missing = [i for i in series_ids if i not in found]
    if missing:
        raise InvalidInput(f"Series {missing} are not in this project.")
    return [found[i] for i in dict.fromkeys(series_ids)]


def check_labels(project: Project, label_ids: list[int]) -> list[Label]:
    found = {label.id: label for label in Label.objects.filter(pk__in=label_ids, project=project)}
    missing = [i for i in label_ids if i not in found]
    if missing:
        raise InvalidInput(f"Labels {missing} are not in this project.")
    return [found[i] for i in dict.fromkeys(label_ids)]


def check_assignees(project: Project, user_ids: list[int]) -> list[User]:
    memberships = {
        m.user_id: m
        for m in Membership.objects.filter(project=project, user_id__in=user_ids).select_related("user")
    }
    for user_id in user_ids:
        membership = memberships.get(user_id)
        if membership is None:
            raise InvalidInput(f"User {user_id} is not a member of this project.")
        if membership.role not in ASSIGNABLE_ROLES:
            raise InvalidInput(
                f"{membership.user.username} is a {membership.role}; only annotators annotate."
            )
    return [memberships[i].user for i in dict.fromkeys(user_ids)]


def spread_over(annotators: list[User], count: int, per_task: int) -> list[list[User]]:
    """``count`` tasks' annotators, ``per_task`` each (at most all of them), taken in turn so that the work
    is shared evenly: 3 annotators, 2 per task → [a, b], [c, a], [b, c], ..."""
    if not annotators:
        return [[] for _ in range(count)]
    size = min(per_task, len(annotators))
    return [[annotators[(i * size + k) % len(annotators)] for k in range(size)] for i in range(count)]


@transaction.atomic
def do_create_tasks(
    user: access.AnyUser,
    project: Project,
    series_ids: list[int],
    label_ids: list[int],
    annotator_ids: list[int],
    priority: int = 0,
    instructions: str = "",
    *,
    spread: bool = False,
) -> list[Task]:
    """One task per series, each given to every annotator in ``annotator_ids`` or, with ``spread``, to the
    project's annotations per task of them in turn (none: open tasks, taken from the pool). A task with
    fewer copies than the project asks for stays open for the rest."""
    user = access.signed_in(user)
    series = check_series(project, series_ids)
    labels = check_labels(project, label_ids or list(project.labels.values_list("id", flat=True)))
    annotators = check_assignees(project, annotator_ids)
    per_task = visibility.annotations_per_task(project) if spread else len(annotators)
    given = spread_over(annotators, len(series), per_task)
    tasks = []
    for item, chosen in zip(series, given, strict=True):
        task = Task.objects.create(
            project=project, series=item, priority=priority, instructions=instructions, created_by=user
        )
        task.labels.set(labels)
        Assignment.objects.bulk_create([Assignment(task=task, annotator=a) for a in chosen])
        tasks.append(task)
    added: dict[int, int] = defaultdict(int)
    for chosen in given:
        for annotator in chosen:
            added[annotator.id] += 1
    for annotator_id, count in added.items():
        events.send_on_commit(events.user_group(annotator_id), QueueChanged(project=project.id, added=count))
    return tasks


@transaction.atomic
def do_assign(task: Task, annotator_ids: list[int]) -> list[Assignment]:
    annotators = check_assignees(task.project, annotator_ids)
    existing = set(task.assignments.values_list("annotator_id", flat=True))
    created = Assignment.objects.bulk_create(
        [Assignment(task=task, annotator=a) for a in annotators if a.id not in existing]
    )
    for assignment in created:
        events.send_on_commit(
            events.user_group(assignment.annotator_id), QueueChanged(project=task.project_id)
        )
    return list(task.assignments.select_related("annotator"))


@transaction.atomic
def do_reassign(assignment: Assignment, annotator_id: int | None) -> Assignment | None:
    """Give an unfinished case to another annotator (it starts again for them: masks are per annotator, so
    the previous annotator's stay theirs), or with None put it back in the pool. Submitted and approved
    cases are reviewed first."""
    assignment = Assignment.objects.select_for_update().select_related("task__project").get(pk=assignment.pk)
    if assignment.state not in OPEN_STATES:
        raise Conflict(
            f"This case is {assignment.get_state_display().lower()}: review it before giving it to someone else.",
            details={"state": assignment.state},
        )
    task, previous = assignment.task, assignment.annotator_id
    if annotator_id is None:
        assignment.delete()
        events.send_on_commit(events.user_group(previous), QueueChanged(project=task.project_id))
        return None
    (annotator,) = check_assignees(task.project, [annotator_id])
    if annotator.id == previous:
        return assignment
    if task.assignments.filter(annotator=annotator).exists():
        raise Conflict(f"{annotator.username} already has this case.")
    Assignment.objects.filter(pk=assignment.pk).update(
        annotator=annotator,
        state=Assignment.State.TODO,
        started_at=None,
        submitted_at=None,
        updated_at=timezone.now(),
    )
    for user_id in (previous, annotator.id):
        events.send_on_commit(events.user_group(user_id), QueueChanged(project=task.project_id))
    assignment.refresh_from_db()
    return assignment


@transaction.atomic
def do_delete_task(task: Task) -> None:
    task.delete()


# -- the review workflow -------------------------------------------------------------------------------


def check_transition(
    user: access.AnyUser, membership: Membership, assignment: Assignment, action: str, comment: str
) -> None:
    if action not in Assignment.TRANSITIONS:
        raise InvalidInput(f"Unknown action {action!r}; use one of {', '.join(Assignment.TRANSITIONS)}.")
    if action in ("start", "submit"):
        if assignment.annotator_id != user.id:
            raise Forbidden("Only the annotator this case is assigned to can work on it.")
    else:
        if membership.role not in (Role.OWNER, Role.REVIEWER):
            raise Forbidden("Only reviewers and owners review cases.")
        if assignment.annotator_id == user.id:
            raise Forbidden("Nobody reviews their own work.")
    if action == "send_back" and not comment.strip():
        raise InvalidInput("Say what needs fixing when sending a case back.")
    sources, _ = Assignment.TRANSITIONS[action]
    if assignment.state not in sources:
        raise Conflict(
            f"This case is {assignment.get_state_display().lower()}: {action.replace('_', ' ')} is not possible now.",
            details={"state": assignment.state},
        )
    if action == "start" and assignment.pk in waiting_study_runs(access.signed_in(user)):
        raise Conflict("This is a later task of a timing study: its tasks are done in order, one at a time.")


@transaction.atomic
def do_transition(
    user: access.AnyUser, membership: Membership, assignment: Assignment, action: str, comment: str = ""
) -> Assignment:
    check_transition(user, membership, assignment, action, comment)
    user = access.signed_in(user)
    sources, target = Assignment.TRANSITIONS[action]
    now = timezone.now()
    changes: dict[str, object] = {"state": target, "updated_at": now}
    if action == "start":
        changes["started_at"] = assignment.started_at or now
    elif action == "submit":
        changes["submitted_at"] = now
    else:
        changes.update(reviewed_by=user, reviewed_at=now, review_comment=comment.strip())
    # Conditional update: of two reviewers pressing at once, one wins and the other gets a conflict.
    if not Assignment.objects.filter(pk=assignment.pk, state__in=list(sources)).update(**changes):
        assignment.refresh_from_db()
        raise Conflict(
            f"Someone changed this case first; it is now {assignment.get_state_display().lower()}."
        )
    assignment.refresh_from_db()
    if action == "approve":
        approvals.do_record_approval(assignment, user)
    events.send_on_commit(
        events.user_group(assignment.annotator_id),
        AssignmentUpdated(assignment=AssignmentState(id=assignment.id, state=assignment.state)),
    )
    return assignment


# -- queues --------------------------------------------------------------------------------------------


def waiting_study_runs(user: User) -> set[int]:
    """The user's timing-study assignments that wait their turn (issue 12): of a participant's unfinished
    runs of a study only the first in the study's order may be started (the counterbalancing and the washout
    between two runs of a case rely on that order)."""
    studies: set[int] = set()
    waiting: set[int] = set()
    runs = StudyTask.objects.filter(participant=user, assignment__state__in=OPEN_STATES)
    for study_id, assignment_id in runs.order_by("study_id", "position").values_list(
        "study_id", "assignment_id"
    ):
        if study_id in studies:
            waiting.add(assignment_id)
        studies.add(study_id)
    return waiting


def open_tasks(project: Project, *, excluding_user: User | None = None) -> QuerySet[Task]:
    """Tasks with fewer copies than the project's annotations per task (without one of ``excluding_user``'s);
    a timing study's cases are never in the pool (its participants are chosen by its design)."""
    per_task = visibility.annotations_per_task(project)
    tasks = (
        Task.objects.filter(project=project, study_case__isnull=True)
        .select_related("project", "series")
        .annotate(copies=Count("assignments"))
        .filter(copies__lt=per_task)
    )
    if excluding_user is not None:
        tasks = tasks.exclude(assignments__annotator=excluding_user)
    return tasks


def tasks_for(
    user: access.AnyUser, membership: Membership, *, series_id: int | None = None
) -> QuerySet[Task]:
    """The project's tasks a member sees: all of them, except that annotators see their own cases and the
    open ones, not colleagues' copies (independent readings)."""
    queryset = Task.objects.filter(project_id=membership.project_id).prefetch_related(
        "labels", "assignments__annotator"
    )
    if membership.role == Role.ANNOTATOR:
        user = access.signed_in(user)
        open_ids = open_tasks(membership.project).values_list("id", flat=True)
        queryset = queryset.filter(Q(assignments__annotator=user) | Q(pk__in=list(open_ids))).distinct()
    if series_id:
        queryset = queryset.filter(series_id=series_id)
    return queryset.select_related("series", "project")


def review_queue(project: Project, state: str) -> QuerySet[Assignment]:
    """Assignments of the project in ``state`` (submitted: waiting for review), oldest submission first."""
    return (
        Assignment.objects.filter(task__project=project, state=state)
        .select_related("annotator", "task", "reviewed_by")
        .order_by("submitted_at", "id")
    )


def queue_for(user: access.AnyUser, project: Project) -> tuple[list[Assignment], list[Task]]:
    """The user's unfinished assignments (sent back first, then in progress, then to do) and the open
    tasks they may take, in the project's queue ordering."""
    user = access.signed_in(user)
    mine = list(
        Assignment.objects.filter(task__project=project, annotator=user, state__in=OPEN_STATES)
        .exclude(pk__in=waiting_study_runs(user))
        .select_related("task__series")
    )
    rank: dict[str, int] = {state: i for i, state in enumerate(OPEN_STATES)}
    mine.sort(key=lambda a: (rank[a.state], -a.task.priority, a.task_id))
    return mine, list(ordering_for(project)(open_tasks(project, excluding_user=user), user, project))


@transaction.atomic
def do_next_case(user: access.AnyUser, membership: Membership) -> Assignment | None:
    """Start the next case of the user's queue, taking an open task when nothing is assigned; None when
    the queue is empty."""
    if membership.role not in ASSIGNABLE_ROLES:
        raise Forbidden("Only annotators and owners take cases.")
    user = access.signed_in(user)
    project = membership.project
    mine, candidates = queue_for(user, project)
    if mine:
        assignment = mine[0]
        if assignment.state != Assignment.State.IN_PROGRESS:
            assignment = do_transition(user, membership, assignment, "start")
        return assignment
    per_task = visibility.annotations_per_task(project)
    for task in candidates:
        # Lock the task row, then re-check it is still open: two annotators never take its last copy.
        locked = Task.objects.select_for_update().get(pk=task.pk)
        taken = list(locked.assignments.values_list("annotator_id", flat=True))
        if len(taken) >= per_task or user.pk in taken:
            continue
        return Assignment.objects.create(
            task=locked, annotator=user, state=Assignment.State.IN_PROGRESS, started_at=timezone.now()
        )
    return None


# -- progress ------------------------------------------------------------------------------------------


def progress(project: Project) -> dict:
    """Counts of assignments per state, overall, per annotator and per label, and the number of open tasks."""
    states = [s.value for s in Assignment.State]
    blank = dict.fromkeys(states, 0)
    assignments = Assignment.objects.filter(task__project=project)
    totals = dict(blank)
    for row in assignments.values("state").annotate(n=Count("id")):
        totals[row["state"]] = row["n"]
    per_user: dict[int, dict] = {}
    for row in assignments.values("annotator_id", "annotator__username", "state").annotate(n=Count("id")):
        entry = per_user.setdefault(
            row["annotator_id"],
            {"user": row["annotator_id"], "username": row["annotator__username"], **blank},
        )
        entry[row["state"]] = row["n"]
    per_label_counts: dict[int, dict] = defaultdict(lambda: dict(blank))
    for row in assignments.values("task__labels", "state").annotate(n=Count("id")):
        if row["task__labels"] is not None:
            per_label_counts[row["task__labels"]][row["state"]] = row["n"]
    tasks_per_label = dict(
        Task.objects.filter(project=project)
        .values_list("labels")
        .annotate(n=Count("id"))
        .values_list("labels", "n")
    )
    open_count = open_tasks(project).count()
    labels = [
        {
            "label": label.id,
            "name": label.name,
            "color": label.color,
            "tasks": tasks_per_label.get(label.id, 0),
            **per_label_counts[label.id],
        }
        for label in project.labels.all()
    ]
    for entry in [totals, *per_user.values(), *labels]:
        done = entry["approved"]
        count = sum(entry[s] for s in states)
        entry["total"] = count
        entry["fraction_approved"] = round(done / count, 4) if count else 0.0
    return {
        "tasks": Task.objects.filter(project=project).count(),
        "open_tasks": open_count,
        "assignments": totals,
        "per_annotator": sorted(per_user.values(), key=lambda e: e["username"]),
        "per_label": labels,
    }
