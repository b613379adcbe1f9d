"""REST endpoints for masks: read a label map, save a revision, list and restore revisions."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, Field, ValidationError
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator import access, rle, visibility
from annotator.actions import masks as mask_actions
from annotator.api.params import id_param
from annotator.api.permissions import SeriesView
from annotator.errors import InvalidInput, NotFound
from annotator.models import Label, MaskTrack, Membership

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


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse(schema: type[ModelT], data: Any) -> ModelT:
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInput(
            f"{where}: {first['msg']}", details={"errors": exc.errors(include_url=False)}
        ) from exc


def decode_slices(raw: dict[int, dict[str, Any]], shape: tuple[int, int, int]) -> dict[int, np.ndarray]:
    return {int(z): rle.decode(value, expected_shape=shape[1:]) for z, value in raw.items()}


class SeriesMasksView(SeriesView):
    def get(self, request: Request, series_id: int) -> Response:
        labels: dict[str, str] = {}
        tracks = visibility.visible_tracks(
            mask_actions.head_tracks(self.series),
            request.user,
            self.membership.role,
            self.membership.project,
            self.series,
        )
        return Response(
            [
                {
                    "label_id": t.label_id,
                    "annotator": mask_actions.track_owner(t),
                    "track": t.kind,
                    "head": mask_actions.revision_summary(t.head, labels),
                }
                for t in tracks
                if t.head is not None  # always: head_tracks are the tracks with a head
            ]
        )


class LabelView(SeriesView):
    """A view on one label's masks of a series: the label must belong to the series' project."""

    label: Label

    def resolve(self) -> Membership:
        membership = super().resolve()
        self.label = access.get_label(self.request.user, membership.project, self.kwargs["label_id"])
        return membership

    def track(self) -> MaskTrack | None:
        """The track read: ``?track=consensus``, else ``?annotator=<username>`` (default: the caller's own),
        within what the caller may read (annotator.visibility)."""
        params = self.request.query_params
        if params.get("track") == MaskTrack.Kind.CONSENSUS:
            return mask_actions.readable_consensus(
                self.request.user, self.membership, self.series, self.label
            )
        annotator = mask_actions.readable_annotator(
            self.request.user, self.membership, self.series, params.get("annotator")
        )
        return mask_actions.track_of(self.series, self.label, annotator)


class LabelMaskView(LabelView):
    def get(self, request: Request, series_id: int, label_id: int) -> Response:
        track = self.track()
        revision = track.head if track else None
        revision_id = id_param(request, "revision")
        if track is not None and revision is not None and revision_id is not None:
            revision = access.get_revision(self.series, self.label, revision_id, track=track)
        return Response(mask_actions.label_mask(self.series, self.label, track, revision, request.user))


class RevisionListView(LabelView):
    def get(self, request: Request, series_id: int, label_id: int) -> Response:
        track = self.track()
        revisions = track.revisions.select_related("author").order_by("-number") if track else []
        labels: dict[str, str] = {}
        return Response([mask_actions.revision_summary(r, labels) for r in revisions])

    def post(self, request: Request, series_id: int, label_id: int) -> Response:
        body = parse(SaveRevisionBody, request.data)
        shape = mask_actions.mask_shape(self.series)
        save = mask_actions.SaveRequest(
            base_revision_id=body.base_revision,
            source=body.source,
            slices=decode_slices(body.slices, shape),
            model_version=body.model_version,
            first_predictions=decode_slices(body.first_predictions, shape),
            predicted_iou=body.predicted_iou,
        )
        revision = mask_actions.do_save_revision(
            request.user,
            self.series,
            self.label,
            self.membership.role,
            save,
            skip_channel=request.META.get(SOCKET_HEADER),
        )
        return Response({"revision": mask_actions.revision_summary(revision)}, status=status.HTTP_201_CREATED)


class RestoreRevisionView(LabelView):
    def post(self, request: Request, series_id: int, label_id: int, revision_id: int) -> Response:
        revision = access.get_revision(self.series, self.label, revision_id)
        if not visibility.may_read_track(
            request.user,
            self.membership.role,
            self.membership.project,
            self.series,
            revision.track.annotator_id,
        ):
            raise NotFound("No such revision of this mask.")
        body = parse(RestoreBody, request.data)
        restored = mask_actions.do_restore_revision(
            request.user,
            revision,
            self.membership.role,
            body.base_revision,
            skip_channel=request.META.get(SOCKET_HEADER),
        )
        return Response({"revision": mask_actions.revision_summary(restored)}, status=status.HTTP_201_CREATED)
