"""REST API for tasks, assignments, the review workflow, queues and progress."""

from __future__ import annotations

from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import access
from annotator.actions import tasks
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


def _tasks_for(user, project):
    queryset = Task.objects.filter(project=project).prefetch_related("labels", "assignments__annotator")
    if access.role_in(user, project.id) == Role.ANNOTATOR:
        # Annotators see their own cases and the open ones, not colleagues' copies (independent readings).
        mine = queryset.filter(assignments__annotator=user)
        return (mine | tasks.open_tasks(project)).distinct().select_related("series")
    return queryset.select_related("series")


class TaskListView(APIView):
    def get(self, request: Request, project_id: int) -> Response:
        project = access.get_project(request.user, project_id)
        queryset = _tasks_for(request.user, project)
        if series := request.query_params.get("series"):
            queryset = queryset.filter(series_id=series)
        data = TaskSerializer(queryset, many=True).data
        if access.role_in(request.user, project.id) == Role.ANNOTATOR:
            for task in data:
                task["assignments"] = [a for a in task["assignments"] if a["annotator"] == request.user.id]
        return Response(data)

    def post(self, request: Request, project_id: int) -> Response:
        project = access.get_project(request.user, project_id, roles=access.OWNER_ONLY)
        payload = TaskCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        created = tasks.do_create_tasks(
            request.user,
            project,
            data["series"],
            data["labels"],
            data["annotators"],
            priority=data["priority"],
            instructions=data["instructions"],
        )
        return Response(TaskSerializer(created, many=True).data, status=status.HTTP_201_CREATED)


class TaskDetailView(APIView):
    def get(self, request: Request, task_id: int) -> Response:
        task = access.get_task(request.user, task_id)
        data = TaskSerializer(task).data
        if access.role_in(request.user, task.project_id) == Role.ANNOTATOR:
            data["assignments"] = [a for a in data["assignments"] if a["annotator"] == request.user.id]
        return Response(data)

    def delete(self, request: Request, task_id: int) -> Response:
        tasks.do_delete_task(access.get_task(request.user, task_id, roles=access.OWNER_ONLY))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TaskAssignView(APIView):
    def post(self, request: Request, task_id: int) -> Response:
        task = access.get_task(request.user, task_id, roles=access.OWNER_ONLY)
        payload = AnnotatorsSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        assignments = tasks.do_assign(task, payload.validated_data["annotators"])
        return Response(AssignmentSerializer(assignments, many=True).data)


class AssignmentActionView(APIView):
    """POST /api/assignments/<id>/<start|submit|approve|send_back>/ with {"comment": ...} for send_back."""

    def post(self, request: Request, assignment_id: int, action: str) -> Response:
        assignment, membership = access.get_assignment(request.user, assignment_id)
        payload = CommentSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        updated = tasks.do_transition(
            request.user, membership, assignment, action, payload.validated_data["comment"]
        )
        return Response(AssignmentSerializer(updated).data)


class ReviewQueueView(APIView):
    """Assignments of the project in a state (default: submitted, i.e. waiting for review)."""

    def get(self, request: Request, project_id: int) -> Response:
        project = access.get_project(request.user, project_id, roles=access.REVIEWERS)
        state = request.query_params.get("state", Assignment.State.SUBMITTED)
        queryset = Assignment.objects.filter(task__project=project, state=state).select_related(
            "annotator", "task", "reviewed_by"
        )
        return Response(AssignmentSerializer(queryset.order_by("submitted_at", "id"), many=True).data)


class QueueView(APIView):
    def get(self, request: Request, project_id: int) -> Response:
        project = access.get_project(request.user, project_id)
        mine, open_ = tasks.queue_for(request.user, project)
        return Response(
            {
                "ordering": project.settings.get("queue_ordering", "priority"),
                "assigned": AssignmentSerializer(mine, many=True).data,
                "open": TaskSerializer(open_, many=True).data,
            }
        )


class NextCaseView(APIView):
    def post(self, request: Request, project_id: int) -> Response:
        membership = access.membership_for(request.user, project_id)
        assignment = tasks.do_next_case(request.user, membership)
        return Response({"assignment": AssignmentSerializer(assignment).data if assignment else None})


class ProgressView(APIView):
    def get(self, request: Request, project_id: int) -> Response:
        return Response(tasks.progress(access.get_project(request.user, project_id)))
