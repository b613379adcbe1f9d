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
