"""Who may call a REST view: one DRF permission class per rule, checked by DRF before the handler runs.

A view on one object the URL names derives from a scoped base view (``ProjectView``, ``SeriesView``...), whose
``resolve`` reaches the object through access.py and returns the caller's membership of its project; the
permission class then checks that membership's role. Scoped views are members-only unless they name a stricter
class, so no view can forget the check. Outsiders get 404 from the lookup (they cannot tell the object exists),
members with another role 403 ``forbidden``, anonymous callers 403 ``not_authenticated``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from annotator import access
from annotator.models import Assignment, Job, Membership, Project, ReviewComment, Series, Study, Task


class ScopedView(APIView):
    """A view on one object named in the URL; ``resolve`` finds it and the caller's membership of its project."""

    membership: Membership

    def resolve(self) -> Membership:
        raise NotImplementedError

    def scope_membership(self) -> Membership:
        if not hasattr(self, "membership"):
            self.membership = self.resolve()
        return self.membership


class ProjectRole(IsAuthenticated):
    """The caller's role in the project of the view's object is one of ``roles``."""

    roles: ClassVar[frozenset[str]] = access.MEMBERS

    def allowed_roles(self, request: Request) -> frozenset[str]:
        return self.roles

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        access.check_role(view.scope_membership(), self.allowed_roles(request))
        return True


class IsProjectMember(ProjectRole):
    roles = access.MEMBERS


class IsProjectOwner(ProjectRole):
    roles = access.OWNER_ONLY


class CanReview(ProjectRole):
    roles = access.REVIEWERS


class IsProjectOwnerOrReadOnly(ProjectRole):
    """Members read; only owners create, change or delete."""

    def allowed_roles(self, request: Request) -> frozenset[str]:
        return access.MEMBERS if request.method in SAFE_METHODS else access.OWNER_ONLY


class CanSeeJob(IsAuthenticated):
    """The job's creator, or a member of its project (``access.get_job``)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        view.job = access.get_job(request.user, view.kwargs["job_id"])
        return True


# -- the scopes --------------------------------------------------------------------------------------------


class ProjectView(ScopedView):
    permission_classes = [IsProjectMember]
    project: Project

    def resolve(self) -> Membership:
        membership = access.membership_for(self.request.user, self.kwargs["project_id"])
        self.project = membership.project
        return membership


class StudyView(ScopedView):
    permission_classes = [IsProjectMember]
    study: Study

    def resolve(self) -> Membership:
        self.study, membership = access.study_with_membership(self.request.user, self.kwargs["study_id"])
        return membership


class SeriesView(ScopedView):
    permission_classes = [IsProjectMember]
    series: Series

    def resolve(self) -> Membership:
        self.series, membership = access.series_with_membership(self.request.user, self.kwargs["series_id"])
        return membership


class TaskView(ScopedView):
    permission_classes = [IsProjectMember]
    task: Task

    def resolve(self) -> Membership:
        self.task, membership = access.task_with_membership(self.request.user, self.kwargs["task_id"])
        return membership


class AssignmentView(ScopedView):
    permission_classes = [IsProjectMember]
    assignment: Assignment

    def resolve(self) -> Membership:
        self.assignment, membership = access.get_assignment(self.request.user, self.kwargs["assignment_id"])
        return membership


class CaseScopedView(ScopedView):
    """A view on one case (assignment) as its annotator, a reviewer or an owner sees it; other members get
    404 like outsiders (access.get_case)."""

    permission_classes = [IsProjectMember]
    assignment: Assignment

    def resolve(self) -> Membership:
        self.assignment, membership = access.get_case(self.request.user, self.kwargs["assignment_id"])
        return membership


class CommentScopedView(ScopedView):
    """A view on one review comment, for whoever may see its case."""

    permission_classes = [IsProjectMember]
    comment: ReviewComment

    def resolve(self) -> Membership:
        self.comment, membership = access.get_comment(self.request.user, self.kwargs["comment_id"])
        return membership


class ExportView(ScopedView):
    permission_classes = [IsProjectMember]
    job: Job

    def resolve(self) -> Membership:
        self.job, membership = access.export_with_membership(self.request.user, self.kwargs["job_id"])
        return membership


class JobView(APIView):
    """A job seen by its creator or a member of its project; ``CanSeeJob`` sets ``self.job``."""

    permission_classes = [CanSeeJob]
    job: Job
