from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import access
from annotator.actions.projects import do_create_project, do_update_project
from annotator.api.masks import parse
from annotator.api.permissions import IsProjectOwnerOrReadOnly, ProjectView
from annotator.api.serializers import ProjectCreateSerializer, ProjectSerializer
from ml_worker.windows import DEFAULT_CT_WINDOW, named_presets


class ProjectListView(APIView):
    def get(self, request: Request) -> Response:
        projects = access.projects_for(request.user).prefetch_related("labels")
        return Response(ProjectSerializer(projects, many=True, context={"request": request}).data)

    def post(self, request: Request) -> Response:
        payload = ProjectCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        project = do_create_project(request.user, **payload.validated_data)
        return Response(
            ProjectSerializer(project, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class ProjectUpdateBody(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    # validated by the action (annotator.visibility.check_annotations_per_task) for one clear message
    annotations_per_task: Any = None


class ProjectDetailView(ProjectView):
    permission_classes = [IsProjectOwnerOrReadOnly]

    def get(self, request: Request, project_id: int) -> Response:
        return Response(ProjectSerializer(self.project, context={"request": request}).data)

    def patch(self, request: Request, project_id: int) -> Response:
        body = parse(ProjectUpdateBody, request.data)
        project = do_update_project(self.project, **body.model_dump(exclude_none=True))
        return Response(ProjectSerializer(project, context={"request": request}).data)


class WindowPresetsView(APIView):
    """The model's CT input windows (one definition: ml_worker.windows), e.g. for a new project's labels."""

    def get(self, request: Request) -> Response:
        return Response({"presets": named_presets(), "default": DEFAULT_CT_WINDOW})
