"""Permission-checked getters: every view reaches projects and their data through here."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from annotator.models import Membership, Project, Role


def projects_for(user) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(memberships__user=user).distinct()


def membership_for(user, project_id: int) -> Membership:
    """The user's membership of the project, or 404: outsiders cannot tell a project exists."""
    if not user.is_authenticated:
        raise Http404("No such project.")
    try:
        return Membership.objects.select_related("project").get(project_id=project_id, user=user)
    except Membership.DoesNotExist as exc:
        raise Http404("No such project.") from exc


def get_project(user, project_id: int, roles: set[str] | None = None) -> Project:
    membership = membership_for(user, project_id)
    if roles is not None and membership.role not in roles:
        raise PermissionDenied(f"Your role ({membership.role}) does not allow this.")
    return membership.project


OWNER_ONLY = {Role.OWNER}


def series_with_membership(user, series_id: int):
    """``(series, membership)`` for a member of the series' project, else 404 (outsiders learn nothing)."""
    from annotator.models import Series

    if not user.is_authenticated:
        raise Http404("No such series.")
    series = Series.objects.select_related("study").filter(pk=series_id).first()
    if series is None:
        raise Http404("No such series.")
    membership = Membership.objects.filter(project_id=series.study.project_id, user=user).first()
    if membership is None:
        raise Http404("No such series.")
    return series, membership


def _membership_of_project(user, project_id: int, what: str) -> Membership:
    if not user.is_authenticated:
        raise Http404(f"No such {what}.")
    membership = Membership.objects.select_related("project").filter(project_id=project_id, user=user).first()
    if membership is None:
        raise Http404(f"No such {what}.")
    return membership


def _check_role(membership: Membership, roles: set[str] | None) -> None:
    if roles is not None and membership.role not in roles:
        raise PermissionDenied(f"Your role ({membership.role}) does not allow this.")


def get_study(user, study_id: int, roles: set[str] | None = None):
    from annotator.models import Study

    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        raise Http404("No such study.")
    _check_role(_membership_of_project(user, study.project_id, "study"), roles)
    return study


def get_series(user, series_id: int, roles: set[str] | None = None):
    """The series if the user is a member of its project (404 otherwise; 403 for a role not in ``roles``)."""
    from annotator.models import Series

    series = Series.objects.select_related("study__project").filter(pk=series_id).first()
    if series is None:
        raise Http404("No such series.")
    _check_role(_membership_of_project(user, series.study.project_id, "series"), roles)
    return series


def get_job(user, job_id: int):
    """A job the user may see: one they started, or any job of a project they are a member of."""
    from annotator.models import Job

    job = Job.objects.filter(pk=job_id).first()
    if job is None or not user.is_authenticated:
        raise Http404("No such job.")
    if job.created_by_id != user.id:
        if job.project_id is None:
            raise Http404("No such job.")
        _membership_of_project(user, job.project_id, "job")
    return job


def get_task(user, task_id: int, roles: set[str] | None = None):
    from annotator.models import Task

    task = Task.objects.select_related("series__study", "project").filter(pk=task_id).first()
    if task is None:
        raise Http404("No such task.")
    _check_role(_membership_of_project(user, task.project_id, "task"), roles)
    return task


def get_assignment(user, assignment_id: int):
    """An assignment with the user's membership of its project: ``(assignment, membership)``."""
    from annotator.models import Assignment

    assignment = (
        Assignment.objects.select_related("task__project", "task__series", "annotator")
        .filter(pk=assignment_id)
        .first()
    )
    if assignment is None:
        raise Http404("No such assignment.")
    return assignment, _membership_of_project(user, assignment.task.project_id, "assignment")


def role_in(user, project_id: int) -> str | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(project_id=project_id, user=user).values_list("role", flat=True).first()


MEMBERS = {Role.OWNER, Role.ANNOTATOR, Role.REVIEWER}
REVIEWERS = {Role.OWNER, Role.REVIEWER}
