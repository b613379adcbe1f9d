"""REST API of a project's model versions (issue 11): list with metrics, start training, promote, reject,
roll back, the active-learning settings and scoring the queue. Thin: parse, call one action, serialise."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.actions import model_versions
from annotator.api.masks import parse
from annotator.api.permissions import IsProjectOwner, IsProjectOwnerOrReadOnly, ProjectView
from annotator.api.studies import job_body
from annotator.models import Project


def versions_body(project: Project) -> dict[str, Any]:
    active = model_versions.active_version(project)
    training = model_versions.running_training(project)
    return {
        "versions": [
            model_versions.version_info(v).model_dump(mode="json")
            for v in model_versions.versions_of(project)
        ],
        "active": active.pk if active else None,
        "training": job_body(training) if training else None,
        "settings": model_versions.settings_info(project),
    }


class ModelVersionListView(ProjectView):
    def get(self, request: Request, project_id: int) -> Response:
        return Response(versions_body(self.project))


class TrainView(ProjectView):
    permission_classes = [IsProjectOwner]

    def post(self, request: Request, project_id: int) -> Response:
        job = model_versions.do_start_training(request.user, self.project)
        return Response({"job": job_body(job)}, status=status.HTTP_202_ACCEPTED)


class PromoteView(ProjectView):
    permission_classes = [IsProjectOwner]

    def post(self, request: Request, project_id: int, version_id: int) -> Response:
        model_versions.do_promote(request.user, self.project, version_id)
        return Response(versions_body(self.project))


class RejectView(ProjectView):
    permission_classes = [IsProjectOwner]

    def post(self, request: Request, project_id: int, version_id: int) -> Response:
        model_versions.do_reject(request.user, self.project, version_id)
        return Response(versions_body(self.project))


class RollbackView(ProjectView):
    permission_classes = [IsProjectOwner]

    def post(self, request: Request, project_id: int) -> Response:
        model_versions.do_rollback(request.user, self.project)
        return Response(versions_body(self.project))


class SettingsBody(BaseModel):
    # a partial ActiveLearningSettings, validated by the action (annotator/al_settings.py) for one message
    changes: dict[str, Any] = Field(default_factory=dict)
    queue_ordering: str | None = None


class ActiveLearningSettingsView(ProjectView):
    permission_classes = [IsProjectOwnerOrReadOnly]

    def get(self, request: Request, project_id: int) -> Response:
        return Response(model_versions.settings_info(self.project))

    def patch(self, request: Request, project_id: int) -> Response:
        body = parse(SettingsBody, request.data)
        project = model_versions.do_update_settings(
            request.user, self.project, body.changes, queue_ordering=body.queue_ordering
        )
        return Response(model_versions.settings_info(project))


class QueueScoresView(ProjectView):
    permission_classes = [IsProjectOwner]

    def post(self, request: Request, project_id: int) -> Response:
        job = model_versions.do_score_queue(request.user, self.project)
        return Response({"job": job_body(job) if job else None}, status=status.HTTP_202_ACCEPTED)
