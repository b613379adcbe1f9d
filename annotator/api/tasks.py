"""REST API for tasks, assignments, the review workflow, queues and progress."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator import visibility
from annotator.actions import review, task_progress, tasks
from annotator.api.params import choice_param, id_param
from annotator.api.permissions import (
    AssignmentView,
    CanReview,
    IsProjectOwner,
    IsProjectOwnerOrReadOnly,
    ProjectView,
    TaskView,
)
from annotator.models import Assignment, Label, Role, Task


class AssignmentSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="annotator.username", read_only=True)
    task = serializers.IntegerField(source="task_id", read_only=True)
    series = serializers.IntegerField(source="task.series_id", read_only=True)
    reviewed_by = serializers.SerializerMethodField()
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    # {labels, masks, slices, active_seconds} (annotator.actions.task_progress) when the view computed it;
    # active_seconds is the annotator's active time on the case (annotator.actions.interactions, issue 12),
    # null while nothing is logged for it.
    progress = serializers.SerializerMethodField()
    # For a timing study's task: its study, condition and step (annotator/actions/user_studies.py).
    study = serializers.SerializerMethodField()

    class Meta:
        model = Assignment
        fields = [
            "id",
            "task",
            "series",
            "annotator",
            "username",
            "state",
            "state_label",
            "progress",
            "review_comment",
            "reviewed_by",
            "created_at",
            "started_at",
            "submitted_at",
            "reviewed_at",
            "study",
        ]

    def get_study(self, assignment: Assignment) -> dict | None:
        run = getattr(assignment, "study_task", None)
        if run is None:
            return None
        return {"id": run.study_id, "condition": run.condition, "position": run.position}

    def get_reviewed_by(self, assignment: Assignment) -> str | None:
        return assignment.reviewed_by.username if assignment.reviewed_by is not None else None

    def get_progress(self, assignment: Assignment) -> dict | None:
        return self.context.get("progress", {}).get(assignment.pk)


class TaskSerializer(serializers.ModelSerializer):
    labels: serializers.PrimaryKeyRelatedField[Label] = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True
    )
    assignments = AssignmentSerializer(many=True, read_only=True)
    series_description = serializers.CharField(source="series.description", read_only=True)
    # copies of the task the pool still offers (the project's annotations per task minus the assignments)
    open_slots = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = [
            "id",
            "project",
            "series",
            "series_description",
            "labels",
            "priority",
            "instructions",
            "assignments",
            "open_slots",
            "created_at",
        ]

    def get_open_slots(self, task: Task) -> int:
        return max(0, visibility.annotations_per_task(task.project) - len(task.assignments.all()))


def Id() -> serializers.IntegerField:  # noqa: N802 - reads as a field type
    """An id as the database can hold it (a larger number was a 500 from SQLite: found by schemathesis)."""
    return serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class TaskCreateSerializer(serializers.Serializer):
    series = serializers.ListField(child=Id(), min_length=1)
    labels = serializers.ListField(child=Id(), required=False, default=list)
    annotators = serializers.ListField(child=Id(), required=False, default=list)
    # give each task to the project's annotations per task of the annotators, in turn (else to all of them)
    spread = serializers.BooleanField(required=False, default=False)
    priority = serializers.IntegerField(required=False, default=0, min_value=-(2**31), max_value=2**31 - 1)
    instructions = serializers.CharField(required=False, allow_blank=True, default="")


class ReassignSerializer(serializers.Serializer):
    annotator = serializers.IntegerField(allow_null=True, min_value=1, max_value=2**63 - 1)


class AnnotatorsSerializer(serializers.Serializer):
    annotators = serializers.ListField(child=Id(), min_length=1)


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


def own_assignments_only(task: dict, user_id: int) -> dict:
    """An annotator sees only their own assignment of a task, not colleagues' (independent readings)."""
    return {**task, "assignments": [a for a in task["assignments"] if a["annotator"] == user_id]}


def with_progress(listed: list[Task]) -> dict:
    """The serializer context giving each assignment of ``listed`` its progress."""
    return {"progress": task_progress.assignment_progress(a for t in listed for a in t.assignments.all())}


class TaskListView(ProjectView):
    permission_classes = [IsProjectOwnerOrReadOnly]

    def get(self, request: Request, project_id: int) -> Response:
        listed = list(tasks.tasks_for(request.user, self.membership, series_id=id_param(request, "series")))
        # a list (the stub types every .data as a dict)
        data: Any = TaskSerializer(listed, many=True, context=with_progress(listed)).data
        if self.membership.role == Role.ANNOTATOR:
            data = [own_assignments_only(task, self.membership.user_id) for task in data]
        return Response(data)

    def post(self, request: Request, project_id: int) -> Response:
        payload = TaskCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        created = tasks.do_create_tasks(
            request.user,
            self.project,
            data["series"],
            data["labels"],
            data["annotators"],
            priority=data["priority"],
            instructions=data["instructions"],
            spread=data["spread"],
        )
        return Response(TaskSerializer(created, many=True).data, status=status.HTTP_201_CREATED)


class TaskDetailView(TaskView):
    permission_classes = [IsProjectOwnerOrReadOnly]

    def get(self, request: Request, task_id: int) -> Response:
        data: dict[str, Any] = TaskSerializer(self.task).data
        if self.membership.role == Role.ANNOTATOR:
            data = own_assignments_only(data, self.membership.user_id)
        return Response(data)

    def delete(self, request: Request, task_id: int) -> Response:
        tasks.do_delete_task(self.task)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TaskAssignView(TaskView):
    permission_classes = [IsProjectOwner]

    def post(self, request: Request, task_id: int) -> Response:
        payload = AnnotatorsSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        assignments = tasks.do_assign(self.task, payload.validated_data["annotators"])
        return Response(AssignmentSerializer(assignments, many=True).data)


class AssignmentDetailView(AssignmentView):
    """PATCH {"annotator": user id or null}: an owner gives an unfinished case to someone else or back to
    the pool."""

    permission_classes = [IsProjectOwner]

    def patch(self, request: Request, assignment_id: int) -> Response:
        payload = ReassignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        moved = tasks.do_reassign(self.assignment, payload.validated_data["annotator"])
        return Response({"assignment": AssignmentSerializer(moved).data if moved else None})


class AssignmentActionView(AssignmentView):
    """POST /api/assignments/<id>/<start|submit|approve|send_back>/ with {"comment": ...} for send_back."""

    def post(self, request: Request, assignment_id: int, action: str) -> Response:
        payload = CommentSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        comment = payload.validated_data["comment"]
        if action == "send_back":
            # Also a review comment the annotator sees in the viewer (unpinned; pin it through
            # /request_changes/, annotator/api/review.py).
            request_ = review.CommentRequest(comment)
            updated, _ = review.do_request_changes(request.user, self.membership, self.assignment, request_)
        else:
            updated = tasks.do_transition(request.user, self.membership, self.assignment, action, comment)
        return Response(AssignmentSerializer(updated).data)


class ReviewQueueView(ProjectView):
    """Assignments of the project in a state (default: submitted, i.e. waiting for review)."""

    permission_classes = [CanReview]

    def get(self, request: Request, project_id: int) -> Response:
        state = choice_param(request, "state", Assignment.State.values, Assignment.State.SUBMITTED)
        return Response(AssignmentSerializer(tasks.review_queue(self.project, state), many=True).data)


class QueueView(ProjectView):
    def get(self, request: Request, project_id: int) -> Response:
        mine, open_ = tasks.queue_for(request.user, self.project)
        return Response(
            {
                "ordering": self.project.settings.get("queue_ordering", "priority"),
                "assigned": AssignmentSerializer(mine, many=True).data,
                "open": TaskSerializer(open_, many=True).data,
            }
        )


class NextCaseView(ProjectView):
    def post(self, request: Request, project_id: int) -> Response:
        assignment = tasks.do_next_case(request.user, self.membership)
        return Response({"assignment": AssignmentSerializer(assignment).data if assignment else None})


class ProgressView(ProjectView):
    def get(self, request: Request, project_id: int) -> Response:
        return Response(tasks.progress(self.project))
