"""The WebSocket protocol, defined once: every client message, the worker's request, every server message.

The consumer parses client messages with these models; ``annotator.events`` sends server messages built from
them (one send path); ``frontend/src/protocol.ts`` is generated from their JSON Schema by ``make protocol``
(``scripts/protocol.py``), and a test fails when it is stale. ``docs/protocol.md`` describes the exchanges.

Plain pydantic and no Django, so the schema can be dumped without a configured project.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    StrictInt,
    ValidationError,
    model_validator,
)
from typing_extensions import TypeAliasType

from annotator.messages_al import ActiveLearningMessage  # active learning (issue 11): training, versions
from annotator.messages_base import ClientMessageBase, PlaneName, ServerMessageBase

# Issue 15: what is ready on a plane a viewer turned to; a corrective point the guard for models not
# trained on clicks did not apply; review comments pinned to a slice and a position of a case.
from annotator.messages_planes import PlaneEmbeddings
from annotator.messages_points import PromptRefused
from annotator.messages_review import CommentCreated, CommentUpdated
from annotator.messages_timing import LogAck, LogMessage  # annotation time (issue 12): the interaction log

# The worker's decode request (web → worker through Celery; never seen by the browser).
from annotator.messages_worker import DecodeRequest as DecodeRequest

# Measured on the lung1 nodule (3 slices of 2.5 mm): predicted IoU 0.80–0.87 on its slices, 0.60–0.79 on
# the vessels the propagation runs into beyond it (0.74 and below after the first slice past the end).
# 0.5 let it fill the whole series; 0.75 stops one slice past the nodule on each side at most.
MIN_PROPAGATION_IOU = 0.75

JobStateName = Literal["pending", "running", "done", "failed", "cancelled"]


# Shared parts --------------------------------------------------------------------------------------------
class Rle(BaseModel):
    """A binary [H, W] mask: lengths of alternating runs of 0 and 1 over the pixels in row-major order,
    starting with a run of zeros (possibly 0); the counts sum to H * W (checked by annotator/rle.py)."""

    size: Annotated[list[StrictInt], Field(min_length=2, max_length=2)]
    counts: list[StrictInt]


class Scope(BaseModel):
    kind: Literal["series"]
    id: int


def _finite(values: list[float]) -> list[float]:
    if not all(math.isfinite(v) for v in values):
        raise ValueError("coordinates must be finite numbers")
    return values


def _ordered_box(box: list[float]) -> list[float]:
    x0, y0, x1, y1 = _finite(box)
    if x1 <= x0 or y1 <= y0:
        raise ValueError("a box needs x0 < x1 and y0 < y1")
    return box


def _pair(point: Any) -> Any:
    if not isinstance(point, list) or len(point) != 2:
        raise ValueError("each point is [x, y]")
    return point


# Image pixels: a box [x0, y0, x1, y1] with x0 < x1 and y0 < y1, a point [x, y]; finite numbers.
Box = Annotated[list[float], Field(min_length=4, max_length=4), AfterValidator(_ordered_box)]
Point = Annotated[
    list[float], BeforeValidator(_pair), Field(min_length=2, max_length=2), AfterValidator(_finite)
]


# Client → server -----------------------------------------------------------------------------------------
class ProtocolError(Exception):
    """A client message that cannot be accepted; answered with an ``error`` message carrying ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


Parsed = TypeVar("Parsed", bound=BaseModel)


def parse(schema: type[Parsed], content: Any) -> Parsed:
    """``content`` validated by ``schema``, or :class:`ProtocolError` naming the first problem and where."""
    try:
        return schema.model_validate(content)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProtocolError("invalid_message", f"{where + ': ' if where else ''}{first['msg']}") from exc


class Envelope(BaseModel):
    """What every client message has: a ``type`` and an optional ``request_id`` its replies carry back."""

    type: str
    request_id: str | None = None


class PingMessage(ClientMessageBase):
    type: Literal["ping"] = "ping"


class SubscribeMessage(ClientMessageBase):
    type: Literal["subscribe"] = "subscribe"
    scope: Scope
    # The label being annotated picks the model's input window (e.g. "lung" for nodules); or name it.
    label_id: int | None = None
    preset: str | None = None
    # The task assignment being worked on or reviewed here (the viewer's ?assignment=), if any: the server
    # attributes the work to it (review, timing) and applies its rules (e.g. a study's manual condition).
    assignment_id: int | None = None


class UnsubscribeMessage(ClientMessageBase):
    type: Literal["unsubscribe"] = "unsubscribe"
    scope: Scope


class ViewMessage(ClientMessageBase):
    type: Literal["view"] = "view"
    series_id: int
    slice_index: int = Field(ge=0)
    preset: str | None = None
    plane: PlaneName = "axial"


class PromptMessage(ClientMessageBase):
    """A box and/or points (image pixels) on one slice; mask_input "previous" refines the last mask.

    On a coronal or sagittal ``plane`` the pixels are those of the plane resampled to square pixels."""

    type: Literal["prompt"] = "prompt"
    series_id: int
    slice_index: int = Field(ge=0)
    plane: PlaneName = "axial"
    box: Box | None = None
    points: Annotated[list[Point], Field(max_length=64)] | None = None
    point_labels: Annotated[list[Literal[0, 1]], Field(max_length=64)] | None = None
    mask_input: Literal["previous"] | None = None
    multimask: bool = False
    label_id: int | None = None
    preset: str | None = None

    @model_validator(mode="after")
    def prompt_is_complete(self) -> PromptMessage:
        if self.box is None and not self.points:
            raise ValueError("a prompt needs a box or at least one point")
        if (self.points is None) != (self.point_labels is None) or (
            self.points is not None and len(self.points) != len(self.point_labels or [])
        ):
            raise ValueError("every point needs a label (1 foreground, 0 background)")
        return self


class PropagateMessage(ClientMessageBase):
    """Start a propagation job from a box or a mask on one slice, up, down or both ways."""

    type: Literal["propagate"] = "propagate"
    series_id: int
    slice_index: int = Field(ge=0)
    box: Box | None = None
    mask: Rle | None = None
    label_id: int | None = None
    preset: str | None = None
    direction: Literal["both", "up", "down"] = "both"
    min_iou: float = Field(default=MIN_PROPAGATION_IOU, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def has_a_start(self) -> PropagateMessage:
        if self.box is None and self.mask is None:
            raise ValueError("propagation starts from a box or a mask")
        return self


class CancelJobMessage(ClientMessageBase):
    type: Literal["cancel_job"] = "cancel_job"
    job_id: int


CLIENT_MESSAGES: dict[str, type[ClientMessageBase]] = {
    "ping": PingMessage,
    "subscribe": SubscribeMessage,
    "unsubscribe": UnsubscribeMessage,
    "view": ViewMessage,
    "prompt": PromptMessage,
    "propagate": PropagateMessage,
    "cancel_job": CancelJobMessage,
    "log": LogMessage,
}

ClientMessage = TypeAliasType(
    "ClientMessage",
    Annotated[
        PingMessage
        | SubscribeMessage
        | UnsubscribeMessage
        | ViewMessage
        | PromptMessage
        | PropagateMessage
        | CancelJobMessage
        | LogMessage,
        Field(discriminator="type"),
    ],
)


# Web → worker (JSON through Celery; never seen by the browser) -----------------------------------------------
class PropagationRequest(BaseModel):
    """A propagation job's payload (``Job.payload``), as the worker reads it."""

    series_id: int
    slice_index: int = Field(ge=0)
    preset: str
    image_shape: tuple[int, int]
    reply_channel: str
    box: list[float] | None = None
    mask: Rle | None = None
    label_id: int | None = None
    direction: Literal["both", "up", "down"] = "both"
    min_iou: float = MIN_PROPAGATION_IOU


# Server → client -----------------------------------------------------------------------------------------
class PresenceUser(BaseModel):
    username: str
    slice_index: int | None
    plane: PlaneName = "axial"


class EmbeddingsState(BaseModel):
    preset: str
    ready: list[int]
    total: int


class SeriesState(BaseModel):
    id: int
    shape: list[int]
    preset: str


class JobState(BaseModel):
    """A job as browsers see it (Job.as_event())."""

    id: int
    kind: str
    state: JobStateName
    progress: float
    message: str
    error: str
    project: int | None = None
    # The outcome, a JSON object whose shape depends on the kind (each page reads its own kinds').
    result: Any = Field(default_factory=dict)
    created_at: str | None = None
    updated_at: str | None = None


class RevisionSummary(BaseModel):
    """One saved revision of a mask (annotator/actions/masks.py revision_summary)."""

    id: int
    number: int
    author: str
    created_at: str
    source: str
    slices: list[int]
    model_version: str = ""
    # the project's name for that model: "v3", "base LiteMedSAM" (model_version when it is not one of them)
    model_label: str = ""
    # slices saved with the model's first prediction and its predicted IoU (active learning)
    predicted_slices: list[int] = Field(default_factory=list)
    voxel_count: int = 0
    restored_from: int | None = None
    # what a consensus revision was built from: {"method", "revisions": {username: id}, ...}; else {}
    inputs: dict[str, Any] = Field(default_factory=dict)


class MaskCandidate(BaseModel):
    rle: Rle
    iou: float


class Timings(BaseModel):
    decode_ms: float
    total_ms: float


class Hello(ServerMessageBase):
    type: Literal["hello"] = "hello"
    user: str
    user_id: int
    socket_id: str


class Pong(ServerMessageBase):
    type: Literal["pong"] = "pong"
    request_id: str | None = None


class ErrorMessage(ServerMessageBase):
    type: Literal["error"] = "error"
    request_id: str | None = None
    code: str
    message: str


class Subscribed(ServerMessageBase):
    type: Literal["subscribed"] = "subscribed"
    request_id: str | None = None
    scope: Scope
    series: SeriesState
    embeddings: EmbeddingsState
    presence: list[PresenceUser]


class Unsubscribed(ServerMessageBase):
    type: Literal["unsubscribed"] = "unsubscribed"
    request_id: str | None = None
    scope: Scope


class PromptResult(ServerMessageBase):
    """Masks by predicted IoU, best first: one, or with multimask the single output and three candidates.

    Each mask lies on the plane's voxel grid (rows × cols of the stored volume), mapped back from the
    resampled plane the model saw by majority per voxel (ml_worker.planes.mask_to_voxels)."""

    type: Literal["prompt.result"] = "prompt.result"
    request_id: str
    series_id: int
    slice_index: int
    plane: PlaneName = "axial"
    masks: list[MaskCandidate]
    model: str
    embedding_computed: bool
    timings: Timings


class EmbeddingReady(ServerMessageBase):
    type: Literal["embedding.ready"] = "embedding.ready"
    series_id: int
    slice_index: int
    preset: str
    plane: PlaneName = "axial"


class PropagateSlice(ServerMessageBase):
    """One slice of a propagation; model is null for a start slice that was the user's own mask."""

    type: Literal["propagate.slice"] = "propagate.slice"
    job_id: int
    series_id: int
    slice_index: int
    rle: Rle
    iou: float
    model: str | None


class JobCreated(ServerMessageBase):
    type: Literal["job.created"] = "job.created"
    request_id: str | None = None
    job: JobState


class JobProgress(ServerMessageBase):
    type: Literal["job.progress"] = "job.progress"
    request_id: str | None = None
    job: JobState


class RevisionCreated(ServerMessageBase):
    type: Literal["revision.created"] = "revision.created"
    series_id: int
    label_id: int
    # the track's annotator ("" for the consensus, whose revisions name their author)
    annotator: str
    revision: RevisionSummary
    consensus: bool = False


class Presence(ServerMessageBase):
    type: Literal["presence"] = "presence"
    series_id: int
    users: list[PresenceUser]


class QueueChanged(ServerMessageBase):
    """Cases were assigned to this user in a project (added: how many new tasks, when known)."""

    type: Literal["queue.changed"] = "queue.changed"
    project: int
    added: int | None = None


class AssignmentState(BaseModel):
    id: int
    state: str


class AssignmentUpdated(ServerMessageBase):
    """A case of this user's moved on in the review workflow (started, submitted, approved, sent back)."""

    type: Literal["assignment.updated"] = "assignment.updated"
    assignment: AssignmentState


ServerMessage = TypeAliasType(
    "ServerMessage",
    Annotated[
        Hello
        | Pong
        | ErrorMessage
        | Subscribed
        | Unsubscribed
        | PromptResult
        | PromptRefused
        | EmbeddingReady
        | PlaneEmbeddings
        | PropagateSlice
        | JobCreated
        | JobProgress
        | RevisionCreated
        | Presence
        | QueueChanged
        | AssignmentUpdated
        | LogAck
        | CommentCreated
        | CommentUpdated
        | ActiveLearningMessage,
        Field(discriminator="type"),
    ],
)
