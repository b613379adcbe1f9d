"""Permission-checked getters: every lookup by id of a project's data goes through here.

A getter finds the object, then the caller's membership of its project. Outsiders (and anonymous users) get
``NotFound`` with the same message as for an id that does not exist, so they cannot tell the object exists; a
member whose role is not in ``roles`` gets ``Forbidden``. Both are the app's own errors (annotator/errors.py),
mapped to HTTP in one place (annotator/api/errors.py) and sent as ``error`` messages on the socket.
"""

from __future__ import annotations

from collections.abc import Collection

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db.models import Q, QuerySet
from django.utils import timezone

from annotator.errors import Forbidden, NotFound
from annotator.models import (
    Assignment,
    Invitation,
    Job,
    Label,
    MaskRevision,
    MaskTrack,
    Membership,
    Project,
    ReviewComment,
    Role,
    Series,
    Study,
    Task,
    TimingStudy,
)

AnyUser = User | AnonymousUser
Roles = Collection[str]

OWNER_ONLY: frozenset[str] = frozenset({Role.OWNER})
MEMBERS: frozenset[str] = frozenset({Role.OWNER, Role.ANNOTATOR, Role.REVIEWER})
ANNOTATORS: frozenset[str] = frozenset({Role.OWNER, Role.ANNOTATOR})
REVIEWERS: frozenset[str] = frozenset({Role.OWNER, Role.REVIEWER})


def projects_for(user: AnyUser) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(memberships__user=user).distinct()


def membership_for(user: AnyUser, project_id: int, *, what: str = "project") -> Membership:
    """The user's membership of the project, or ``NotFound("No such <what>.")``: outsiders learn nothing."""
    if not user.is_authenticated:
        raise NotFound(f"No such {what}.")
    membership = Membership.objects.select_related("project").filter(project_id=project_id, user=user).first()
    if membership is None:
        raise NotFound(f"No such {what}.")
    return membership


def signed_in(user: AnyUser) -> User:
    """``user`` as an account. REST views and the socket turn anonymous callers away before any action runs, so
    this narrows the type for actions that record who acted; it refuses an anonymous caller all the same."""
    if not user.is_authenticated:
        raise Forbidden("Sign in first.")
    return user


def check_role(membership: Membership, roles: Roles | None) -> None:
    if roles is not None and membership.role not in roles:
        raise Forbidden(f"Your role ({membership.role}) does not allow this.")


def role_in(user: AnyUser, project_id: int) -> str | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(project_id=project_id, user=user).values_list("role", flat=True).first()


def get_project(user: AnyUser, project_id: int, roles: Roles | None = None) -> Project:
    membership = membership_for(user, project_id)
    check_role(membership, roles)
    return membership.project


def study_with_membership(user: AnyUser, study_id: int) -> tuple[Study, Membership]:
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        raise NotFound("No such study.")
    return study, membership_for(user, study.project_id, what="study")


def get_study(user: AnyUser, study_id: int, roles: Roles | None = None) -> Study:
    study, membership = study_with_membership(user, study_id)
    check_role(membership, roles)
    return study


def series_with_membership(user: AnyUser, series_id: int) -> tuple[Series, Membership]:
    """``(series, membership)`` for a member of the series' project, else 404 (outsiders learn nothing)."""
    series = Series.objects.select_related("study__project").filter(pk=series_id).first()
    if series is None:
        raise NotFound("No such series.")
    return series, membership_for(user, series.study.project_id, what="series")


def get_series(user: AnyUser, series_id: int, roles: Roles | None = None) -> Series:
    """The series if the user is a member of its project (404 otherwise; 403 for a role not in ``roles``)."""
    series, membership = series_with_membership(user, series_id)
    check_role(membership, roles)
    return series


def get_label(user: AnyUser, project: Project | int, label_id: int) -> Label:
    """A label of ``project`` for a member of it; a label of another project, or any label for an outsider,
    is ``NotFound("No such label in this project.")``."""
    project_id = project.pk if isinstance(project, Project) else project
    membership_for(user, project_id, what="label in this project")
    label = Label.objects.filter(pk=label_id, project_id=project_id).first()
    if label is None:
        raise NotFound("No such label in this project.")
    return label


def get_revision(
    series: Series,
    label: Label,
    revision_id: int | str,
    *,
    annotator: User | None = None,
    track: MaskTrack | None = None,
) -> MaskRevision:
    """A revision of a mask of ``label`` on ``series`` (of ``annotator``'s track, or of ``track``, when given);
    reach the series and the label through access first, and who may read which track through
    annotator.visibility."""
    if not str(revision_id).isdigit():
        raise NotFound("No such revision of this mask.")
    revisions = MaskRevision.objects.filter(pk=revision_id, track__series=series, track__label=label)
    if annotator is not None:
        revisions = revisions.filter(track__annotator=annotator)
    if track is not None:
        revisions = revisions.filter(track=track)
    revision = revisions.select_related("track").first()
    if revision is None:
        raise NotFound("No such revision of this mask.")
    return revision


def get_job(user: AnyUser, job_id: int) -> Job:
    """A job the user may see: one they started, or any job of a project they are a member of."""
    job = Job.objects.select_related("project").filter(pk=job_id).first()
    if job is None or not user.is_authenticated:
        raise NotFound("No such job.")
    if job.created_by_id != user.pk:
        if job.project_id is None:
            raise NotFound("No such job.")
        membership_for(user, job.project_id, what="job")
    return job


def export_with_membership(user: AnyUser, job_id: int) -> tuple[Job, Membership]:
    """An export job for a member of its project (404 for anyone else, even the person who started it once
    they left the project: the archive holds the project's masks)."""
    job = Job.objects.select_related("project").filter(pk=job_id, kind="export").first()
    if job is None or job.project_id is None:
        raise NotFound("No such export.")
    return job, membership_for(user, job.project_id, what="export")


def task_with_membership(user: AnyUser, task_id: int) -> tuple[Task, Membership]:
    task = Task.objects.select_related("series__study", "project").filter(pk=task_id).first()
    if task is None:
        raise NotFound("No such task.")
    return task, membership_for(user, task.project_id, what="task")


def get_task(user: AnyUser, task_id: int, roles: Roles | None = None) -> Task:
    task, membership = task_with_membership(user, task_id)
    check_role(membership, roles)
    return task


def get_assignment(user: AnyUser, assignment_id: int) -> tuple[Assignment, Membership]:
    """An assignment with the user's membership of its project: ``(assignment, membership)``."""
    assignment = (
        Assignment.objects.select_related("task__project", "task__series", "annotator")
        .filter(pk=assignment_id)
        .first()
    )
    if assignment is None:
        raise NotFound("No such assignment.")
    return assignment, membership_for(user, assignment.task.project_id, what="assignment")


def get_assignment_on_series(user: AnyUser, assignment_id: int, series_id: int) -> Assignment:
    """An assignment the user works on (their own) or reviews (a reviewer or owner of its project), on the
    given series; anything else is answered like a missing assignment."""
    assignment, membership = get_assignment(user, assignment_id)
    own = assignment.annotator_id == user.pk
    if assignment.task.series_id != series_id or not (own or membership.role in REVIEWERS):
        raise NotFound("No such assignment.")
    return assignment


def timing_study_with_membership(user: AnyUser, study_id: int) -> tuple[TimingStudy, Membership]:
    """A timing study (issue 12) with the user's membership of its project; 404 for outsiders."""
    study = TimingStudy.objects.select_related("project").filter(pk=study_id).first()
    if study is None:
        raise NotFound("No such timing study.")
    return study, membership_for(user, study.project_id, what="timing study")


def get_case(user: AnyUser, assignment_id: int) -> tuple[Assignment, Membership]:
    """A case (assignment) with its comments, for its annotator or a reviewer or owner of its project;
    anyone else (a colleague included: independent readings) is answered like a missing assignment."""
    assignment, membership = get_assignment(user, assignment_id)
    if assignment.annotator_id != user.pk and membership.role not in REVIEWERS:
        raise NotFound("No such assignment.")
    return assignment, membership


def get_comment(user: AnyUser, comment_id: int) -> tuple[ReviewComment, Membership]:
    """A review comment for whoever may see its case (``get_case``); else ``NotFound``."""
    comment = ReviewComment.objects.select_related("assignment__task").filter(pk=comment_id).first()
    if comment is None:
        raise NotFound("No such comment.")
    try:
        _, membership = get_case(user, comment.assignment_id)
    except NotFound as exc:
        raise NotFound("No such comment.") from exc
    return comment, membership


def get_member(project: Project, user_id: int) -> Membership:
    """The membership of user ``user_id`` in ``project`` (reach the project through access first)."""
    membership = Membership.objects.filter(project=project, user_id=user_id).select_related("user").first()
    if membership is None:
        raise NotFound("That user is not a member of this project.")
    return membership


def get_project_invitation(project: Project, invitation_id: int) -> Invitation:
    """An invitation to ``project`` (reach the project through access first)."""
    invitation = Invitation.objects.filter(pk=invitation_id, project=project).first()
    if invitation is None:
        raise NotFound("No Invitation matches the given query.")
    return invitation


def invitations_for(user: User) -> QuerySet[Invitation]:
    """Pending invitations addressed to this user, by account or by their e-mail address."""
    addressed = Q(user=user)
    email = getattr(user, "email", "")
    if email:
        addressed |= Q(user=None, email__iexact=email)
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    return Invitation.objects.filter(addressed, unexpired, state=Invitation.State.PENDING).select_related(
        "project", "invited_by"
    )


def get_invitation_for(user: AnyUser, invitation_id: int) -> Invitation:
    """A pending invitation addressed to ``user``; any other is ``NotFound`` (``AnonymousUser`` has none)."""
    invitation = (
        invitations_for(user).filter(pk=invitation_id).first() if isinstance(user, AbstractBaseUser) else None
    )
    if invitation is None:
        raise NotFound("No such invitation.")
    return invitation
