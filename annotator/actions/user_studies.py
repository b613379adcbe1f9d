"""Timing user studies of assisted versus manual annotation: designing one (cases, participants, conditions,
a counterbalanced plan from a recorded seed), a participant's tasks in order, and the manual condition's
refusal of the model (annotator.timing.design has the plan's rules; docs/timing.md the whole feature)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet

from annotator import access, events
from annotator.actions import tasks as task_actions
from annotator.errors import Forbidden, InvalidInput
from annotator.messages import QueueChanged
from annotator.models import Assignment, Membership, Project, StudyCase, StudyTask, Task, TimingStudy
from annotator.models.timing import Condition
from annotator.timing import design

MAX_CASES = 200
MAX_PARTICIPANTS = 50
OPEN_STATES = (Assignment.State.TODO, Assignment.State.IN_PROGRESS, Assignment.State.RETURNED)
DEFAULT_INSTRUCTIONS = (
    "Draw the named structure on every slice where it appears, as you would for a real data set. "
    "Work at your normal pace; the time counts only while you work in the viewer (pauses over the idle "
    "threshold and time in another tab are left out). In a manual task the model is switched off; in an "
    "assisted task draw a box and correct the model's mask. Press “Done: next task” when the mask is final."
)


def serving_model_version() -> str:
    """The serving model's version string (``name@checkpoint-prefix``), as the masks it predicts record it."""
    from ml_worker.sam.build import checkpoint_sha256, model_version

    name = settings.DEFAULT_MODEL
    try:
        return model_version(name, checkpoint_sha256(name))
    except Exception:  # noqa: BLE001 - an unregistered checkpoint still has a name to show
        return name


@dataclass
class StudyRequest:
    name: str
    cases: list[tuple[int, int]]  # (series id, label id)
    participants: list[int]
    seed: int | None = None
    washout: int = 1
    instructions: str = ""
    model_version: str = ""
    simulated: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def check_study(project: Project, request: StudyRequest) -> tuple[list[design.CaseRef], list]:
    if not request.name.strip():
        raise InvalidInput("A study needs a name.")
    if not request.cases:
        raise InvalidInput("Choose at least one case (a series and a label).")
    if len(request.cases) > MAX_CASES or len(request.participants) > MAX_PARTICIPANTS:
        raise InvalidInput(f"A study has at most {MAX_CASES} cases and {MAX_PARTICIPANTS} participants.")
    if len(set(request.cases)) != len(request.cases):
        raise InvalidInput("A case (series and label) is in the study twice.")
    if len(request.participants) < 2:
        raise InvalidInput("A study needs at least two participants: each case is done in both conditions.")
    if len(set(request.participants)) != len(request.participants):
        raise InvalidInput("A participant is in the study twice.")
    if not 0 <= request.washout <= 20:
        raise InvalidInput("The washout is a number of tasks between 0 and 20.")
    series = {s.pk: s for s in task_actions.check_series(project, [s for s, _ in request.cases])}
    labels = {
        label.pk: label for label in task_actions.check_labels(project, [la for _, la in request.cases])
    }
    participants = task_actions.check_assignees(project, request.participants)
    return [design.CaseRef(series[s].pk, labels[la].pk) for s, la in request.cases], participants


@transaction.atomic
def do_create_study(user: access.AnyUser, project: Project, request: StudyRequest) -> TimingStudy:
    """The study, its cases as tasks, each participant's runs as assignments with a condition, in the
    counterbalanced order of ``annotator.timing.design.plan`` from the (given or drawn) seed."""
    user = access.signed_in(user)
    cases, participants = check_study(project, request)
    seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
    plan = design.plan(cases, [p.pk for p in participants], seed, request.washout)
    model_version = request.model_version.strip() or serving_model_version()
    study = TimingStudy.objects.create(
        project=project,
        name=request.name.strip(),
        instructions=request.instructions.strip() or DEFAULT_INSTRUCTIONS,
        model_version=model_version,
        seed=seed,
        washout=request.washout,
        simulated=request.simulated,
        design={**plan.report, **request.extra},
        created_by=user,
    )
    rows: list[StudyCase] = []
    for index, case in enumerate(cases):
        task = Task.objects.create(
            project=project, series_id=case.series, instructions=study.instructions, created_by=user
        )
        task.labels.set([case.label])
        rows.append(
            StudyCase.objects.create(
                study=study, task=task, series_id=case.series, label_id=case.label, index=index
            )
        )
    for planned in plan.tasks:
        case_row = rows[planned.case]
        assignment = Assignment.objects.create(task=case_row.task, annotator_id=planned.participant)
        StudyTask.objects.create(
            study=study,
            case=case_row,
            assignment=assignment,
            participant_id=planned.participant,
            condition=planned.condition,
            model_version=model_version if planned.condition == Condition.ASSISTED.value else "",
            position=planned.position,
        )
    # Scripted participants of a simulated study take their tasks through the API; nobody to tell.
    for participant in [] if request.simulated else participants:
        events.send_on_commit(
            events.user_group(participant.pk), QueueChanged(project=project.pk, added=len(cases))
        )
    return study


def studies_for(user: access.AnyUser, membership: Membership) -> QuerySet[TimingStudy]:
    """The project's studies an owner sees; anyone else, the studies they take part in."""
    studies = TimingStudy.objects.filter(project_id=membership.project_id)
    if membership.role != "owner":
        studies = studies.filter(study_tasks__participant=access.signed_in(user)).distinct()
    return studies


def sequence(study: TimingStudy, participant: User) -> list[StudyTask]:
    return list(
        StudyTask.objects.filter(study=study, participant=participant)
        .select_related("assignment", "case__series", "case__label")
        .order_by("position")
    )


def check_participant(user: access.AnyUser, study: TimingStudy) -> list[StudyTask]:
    runs = sequence(study, access.signed_in(user))
    if not runs:
        raise Forbidden("You are not a participant of this study.")
    return runs


@transaction.atomic
def do_start_next(user: access.AnyUser, membership: Membership, study: TimingStudy) -> StudyTask | None:
    """The participant's first unfinished task in their order, started (None: all done). Tasks are
    offered one at a time, in order: the next only once this one is submitted."""
    for run in check_participant(user, study):
        if run.assignment.state in OPEN_STATES:
            if run.assignment.state != Assignment.State.IN_PROGRESS:
                run.assignment = task_actions.do_transition(user, membership, run.assignment, "start")
            return run
    return None


def study_task_of(assignment_id: int | None) -> StudyTask | None:
    if assignment_id is None:
        return None
    return StudyTask.objects.filter(assignment_id=assignment_id).select_related("study").first()


def model_refusal(user: User, series_id: int, assignment_id: int | None) -> str | None:
    """Why the model is refused to this user on this series, or None. A manual-condition study task refuses
    it: the one named by the subscription, and any unfinished one of the user's on the series (so opening
    the viewer without the task's link does not get the model either)."""
    named = study_task_of(assignment_id)
    manual = (
        named
        if named is not None and named.condition == Condition.MANUAL
        else StudyTask.objects.filter(
            participant=user,
            case__series_id=series_id,
            condition=Condition.MANUAL,
            assignment__state__in=OPEN_STATES,
        )
        .select_related("study")
        .first()
    )
    if manual is None:
        return None
    return (
        f"This is a manual task of the timing study “{manual.study.name}”: the model is switched off. "
        "Draw the mask with the brush, eraser and fill."
    )


def runs_summary(runs: Sequence[StudyTask]) -> list[dict[str, object]]:
    return [
        {
            "study_task": run.pk,
            "assignment": run.assignment_id,
            "position": run.position,
            "condition": run.condition,
            "model_version": run.model_version,
            "state": run.assignment.state,
            "series": run.case.series_id,
            "series_description": str(run.case.series),
            "label": run.case.label_id,
            "label_name": run.case.label.name,
        }
        for run in runs
    ]
