"""REST API for editing a project's labels (owners): add, rename, recolour, model window, reorder, remove."""

from __future__ import annotations

from pydantic import BaseModel, Field
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator import access
from annotator.actions import labels
from annotator.api.masks import parse
from annotator.api.permissions import IsProjectOwner, ProjectView
from annotator.api.serializers import LabelSerializer


class NewLabelBody(BaseModel):
    name: str = Field(max_length=200)
    color: str = Field(default="", max_length=7)
    window_preset: str = Field(default="", max_length=32)


class EditLabelBody(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    color: str | None = Field(default=None, max_length=7)
    window_preset: str | None = Field(default=None, max_length=32)


class OrderBody(BaseModel):
    labels: list[int] = Field(max_length=1000)


class RemoveBody(BaseModel):
    confirm: bool = False


class LabelListView(ProjectView):
    permission_classes = [IsProjectOwner]

    def post(self, request: Request, project_id: int) -> Response:
        body = parse(NewLabelBody, request.data)
        label = labels.do_add_label(self.project, body.name, body.color, body.window_preset)
        return Response(LabelSerializer(label).data, status=status.HTTP_201_CREATED)


class LabelOrderView(ProjectView):
    permission_classes = [IsProjectOwner]

    def post(self, request: Request, project_id: int) -> Response:
        body = parse(OrderBody, request.data)
        return Response(LabelSerializer(labels.do_reorder_labels(self.project, body.labels), many=True).data)


class LabelDetailView(ProjectView):
    permission_classes = [IsProjectOwner]

    def patch(self, request: Request, project_id: int, label_id: int) -> Response:
        label = access.get_label(request.user, self.project, label_id)
        body = parse(EditLabelBody, request.data)
        return Response(
            LabelSerializer(labels.do_edit_label(label, **body.model_dump(exclude_none=True))).data
        )

    def delete(self, request: Request, project_id: int, label_id: int) -> Response:
        """Remove a label; one with masks answers 409 (details.masks) until the body says {"confirm": true}."""
        label = access.get_label(request.user, self.project, label_id)
        body = parse(RemoveBody, request.data or {})
        return Response({"outcome": labels.do_remove_label(label, confirm=body.confirm)})
