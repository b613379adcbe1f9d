"""REST API for tasks, assignments, the review workflow, queues and progress."""

from __future__ import annotations

from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.actions import tasks
from annotator.api.params import choice_param, id_param
from annotator.api.permissions import (
    AssignmentView,
    CanReview,
    IsProjectOwner,
    IsProjectOwnerOrReadOnly,
    ProjectView,
    TaskView,
)
from annotator.models import Assignment, Role, Task


class AssignmentSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="annotator.username", read_only=True)
    task = serializers.IntegerField(source="task_id", read_only=True)
    series = serializers.IntegerField(source="task.series_id", read_only=True)
    reviewed_by = serializers.SerializerMethodField()

    class Meta:
        model = Assignment
        fields = [
            "id",
            "task",
            "series",
            "annotator",
            "username",
            "state",
            "review_comment",
            "reviewed_by",
            "created_at",
            "started_at",
            "submitted_at",
            "reviewed_at",
        ]

    def get_reviewed_by(self, assignment: Assignment) -> str | None:
        return assignment.reviewed_by.username if assignment.reviewed_by_id else None


class TaskSerializer(serializers.ModelSerializer):
    labels = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    assignments = AssignmentSerializer(many=True, read_only=True)
    series_description = serializers.CharField(source="series.description", read_only=True)

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
            "created_at",
        ]


class TaskCreateSerializer(serializers.Serializer):
    series = serializers.ListField(child=serializers.IntegerField(), min_length=1)
    labels = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    annotators = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    priority = serializers.IntegerField(required=False, default=0)
    instructions = serializers.CharField(required=False, allow_blank=True, default="")


class AnnotatorsSerializer(serializers.Serializer):
    annotators = serializers.ListField(child=serializers.IntegerField(), min_length=1)


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


def own_assignments_only(task: dict, user_id: int) -> dict:
    """An annotator sees only their own assignment of a task, not colleagues' (independent readings)."""
    return {**task, "assignments": [a for a in task["assignments"] if a["annotator"] == user_id]}


class TaskListView(ProjectView):
    permission_classes = [IsProjectOwnerOrReadOnly]

    def get(self, request: Request, project_id: int) -> Response:
        queryset = tasks.tasks_for(request.user, self.membership, series_id=id_param(request, "series"))
        data = TaskSerializer(queryset, many=True).data
        if self.membership.role == Role.ANNOTATOR:
            data = [own_assignments_only(task, request.user.id) for task in data]
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
        )
        return Response(TaskSerializer(created, many=True).data, status=status.HTTP_201_CREATED)


class TaskDetailView(TaskView):
    permission_classes = [IsProjectOwnerOrReadOnly]

    def get(self, request: Request, task_id: int) -> Response:
        data = TaskSerializer(self.task).data
        if self.membership.role == Role.ANNOTATOR:
            data = own_assignments_only(data, request.user.id)
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


class AssignmentActionView(AssignmentView):
    """POST /api/assignments/<id>/<start|submit|approve|send_back>/ with {"comment": ...} for send_back."""

    def post(self, request: Request, assignment_id: int, action: str) -> Response:
        payload = CommentSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        updated = tasks.do_transition(
            request.user, self.membership, self.assignment, action, payload.validated_data["comment"]
        )
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
