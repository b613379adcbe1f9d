"""REST endpoints for masks: read a label map, save a revision, list and restore revisions."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from django.contrib.auth import get_user_model
from django.http import Http404
from pydantic import BaseModel, Field, ValidationError
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import access, rle
from annotator.actions import masks as mask_actions
from annotator.errors import InvalidInput
from annotator.models import Label, MaskRevision, MaskTrack

SOCKET_HEADER = "HTTP_X_DELINEATE_SOCKET"


class SaveRevisionBody(BaseModel):
    base_revision: int | None = None
    source: Literal["model", "manual", "corrected"]
    model_version: str = Field(default="", max_length=100)
    slices: dict[int, dict[str, Any]] = Field(min_length=1)
    first_predictions: dict[int, dict[str, Any]] = Field(default_factory=dict)
    predicted_iou: dict[int, float] = Field(default_factory=dict)


class RestoreBody(BaseModel):
    base_revision: int | None = None


def parse(schema: type[BaseModel], data: Any) -> BaseModel:
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInput(
            f"{where}: {first['msg']}", details={"errors": exc.errors(include_url=False)}
        ) from exc


def label_of(series, label_id: int) -> Label:
    label = Label.objects.filter(pk=label_id, project_id=series.study.project_id).first()
    if label is None:
        raise Http404("No such label in this project.")
    return label


def track_for(series, label: Label, username: str | None, user) -> MaskTrack | None:
    annotator = user
    if username and username != user.get_username():
        annotator = get_user_model().objects.filter(username=username).first()
        if annotator is None:
            raise Http404("No such annotator.")
    return (
        MaskTrack.objects.filter(series=series, label=label, annotator=annotator)
        .select_related("head")
        .first()
    )


def decode_slices(raw: dict[int, dict[str, Any]], shape: tuple[int, int, int]) -> dict[int, np.ndarray]:
    return {int(z): rle.decode(value, expected_shape=shape[1:]) for z, value in raw.items()}


class SeriesMasksView(APIView):
    def get(self, request: Request, series_id: int) -> Response:
        series, _ = access.series_with_membership(request.user, series_id)
        tracks = MaskTrack.objects.filter(series=series, head__isnull=False).select_related(
            "head", "annotator"
        )
        return Response(
            [
                {
                    "label_id": t.label_id,
                    "annotator": t.annotator.get_username(),
                    "head": mask_actions.revision_summary(t.head),
                }
                for t in tracks
            ]
        )


class LabelMaskView(APIView):
    def get(self, request: Request, series_id: int, label_id: int) -> Response:
        series, _ = access.series_with_membership(request.user, series_id)
        label = label_of(series, label_id)
        track = track_for(series, label, request.query_params.get("annotator"), request.user)
        shape = mask_actions.mask_shape(series)
        revision = track.head if track else None
        if revision is not None and request.query_params.get("revision"):
            revision = track.revisions.filter(pk=request.query_params["revision"]).first()
            if revision is None:
                raise Http404("No such revision of this mask.")
        volume = mask_actions.read_volume(revision, shape)
        nonempty = np.flatnonzero(volume.reshape(shape[0], -1).any(axis=1))
        return Response(
            {
                "label_id": label.id,
                "annotator": track.annotator.get_username() if track else request.user.get_username(),
                "shape": list(shape),
                "revision": mask_actions.revision_summary(revision) if revision else None,
                "slices": {int(z): rle.encode(volume[z]) for z in nonempty},
            }
        )


class RevisionListView(APIView):
    def get(self, request: Request, series_id: int, label_id: int) -> Response:
        series, _ = access.series_with_membership(request.user, series_id)
        track = track_for(
            series, label_of(series, label_id), request.query_params.get("annotator"), request.user
        )
        revisions = track.revisions.select_related("author").order_by("-number") if track else []
        return Response([mask_actions.revision_summary(r) for r in revisions])

    def post(self, request: Request, series_id: int, label_id: int) -> Response:
        series, membership = access.series_with_membership(request.user, series_id)
        label = label_of(series, label_id)
        body = parse(SaveRevisionBody, request.data)
        shape = mask_actions.mask_shape(series)
        save = mask_actions.SaveRequest(
            base_revision_id=body.base_revision,
            source=body.source,
            slices=decode_slices(body.slices, shape),
            model_version=body.model_version,
            first_predictions=decode_slices(body.first_predictions, shape),
            predicted_iou=body.predicted_iou,
        )
        revision = mask_actions.do_save_revision(
            request.user, series, label, membership.role, save, skip_channel=request.META.get(SOCKET_HEADER)
        )
        return Response({"revision": mask_actions.revision_summary(revision)}, status=status.HTTP_201_CREATED)


class RestoreRevisionView(APIView):
    def post(self, request: Request, series_id: int, label_id: int, revision_id: int) -> Response:
        series, membership = access.series_with_membership(request.user, series_id)
        label = label_of(series, label_id)
        revision = (
            MaskRevision.objects.filter(pk=revision_id, track__series=series, track__label=label)
            .select_related("track")
            .first()
        )
        if revision is None:
            raise Http404("No such revision of this mask.")
        body = parse(RestoreBody, request.data)
        restored = mask_actions.do_restore_revision(
            request.user,
            revision,
            membership.role,
            body.base_revision,
            skip_channel=request.META.get(SOCKET_HEADER),
        )
        return Response({"revision": mask_actions.revision_summary(restored)}, status=status.HTTP_201_CREATED)
