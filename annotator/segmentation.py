"""The web side of interactive segmentation: validated prompt messages, rate limits, and handing work to
the workers. The consumer routes messages here; the model work itself happens in ml_worker.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache
from typing import Literal

import redis
from celery import current_app as celery_app
from django.conf import settings
from pydantic import BaseModel, Field, field_validator, model_validator

from annotator.errors import InvalidInput
from annotator.queues import QUEUE_INTERACTIVE
from ml_worker import scheduling

# A person clicks a few times a second; a client previewing masks while a box is dragged sends up to
# ~20 prompts/s. 30/s sustained with bursts of 60 leaves room for that and still stops floods.
PROMPT_RATE_PER_S = 30.0
PROMPT_BURST = 60
LATEST_TTL_S = 600


class ScopeRef(BaseModel):
    kind: Literal["series"]
    id: int


class SubscribeMessage(BaseModel):
    scope: ScopeRef
    # The label being annotated picks the model's input window (e.g. "lung" for nodules); or name it.
    label_id: int | None = None
    preset: str | None = None


class ViewMessage(BaseModel):
    series_id: int
    slice_index: int = Field(ge=0)
    preset: str | None = None


def _finite(values: list[float]) -> list[float]:
    if not all(math.isfinite(v) for v in values):
        raise ValueError("coordinates must be finite numbers")
    return values


class PromptMessage(BaseModel):
    series_id: int
    slice_index: int = Field(ge=0)
    box: list[float] | None = Field(default=None, min_length=4, max_length=4)
    points: list[list[float]] | None = Field(default=None, max_length=64)
    point_labels: list[Literal[0, 1]] | None = Field(default=None, max_length=64)
    mask_input: Literal["previous"] | None = None
    multimask: bool = False
    label_id: int | None = None
    preset: str | None = None

    @field_validator("box")
    @classmethod
    def box_is_finite_and_ordered(cls, box):
        if box is None:
            return box
        x0, y0, x1, y1 = _finite(box)
        if x1 <= x0 or y1 <= y0:
            raise ValueError("a box needs x0 < x1 and y0 < y1")
        return box

    @field_validator("points")
    @classmethod
    def points_are_pairs(cls, points):
        if points is None:
            return points
        for point in points:
            if len(point) != 2:
                raise ValueError("each point is [x, y]")
            _finite(point)
        return points

    @model_validator(mode="after")
    def prompt_is_complete(self):
        if self.box is None and not self.points:
            raise ValueError("a prompt needs a box or at least one point")
        if (self.points is None) != (self.point_labels is None) or (
            self.points is not None and len(self.points) != len(self.point_labels or [])
        ):
            raise ValueError("every point needs a label (1 foreground, 0 background)")
        return self


MIN_PROPAGATION_IOU = 0.75


class PropagateMessage(BaseModel):
    series_id: int
    slice_index: int = Field(ge=0)
    box: list[float] | None = Field(default=None, min_length=4, max_length=4)
    mask: dict | None = None
    label_id: int | None = None
    preset: str | None = None
    direction: Literal["both", "up", "down"] = "both"
    # Measured on the lung1 nodule (3 slices of 2.5 mm): predicted IoU 0.80–0.87 on its slices, 0.60–0.79 on
    # the vessels the propagation runs into beyond it (0.74 and below after the first slice past the
    # end). 0.5 let it fill the whole series; 0.75 stops one slice past the nodule on each side at most.
    min_iou: float = Field(default=MIN_PROPAGATION_IOU, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def has_a_start(self):
        if self.box is None and self.mask is None:
            raise ValueError("propagation starts from a box or a mask")
        if self.box is not None:
            PromptMessage.box_is_finite_and_ordered(self.box)
        return self


class CancelJobMessage(BaseModel):
    job_id: int


class TokenBucket:
    def __init__(self, rate: float = PROMPT_RATE_PER_S, burst: int = PROMPT_BURST) -> None:
        self.rate, self.capacity = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@lru_cache(maxsize=4)
def model_key(name: str | None = None) -> str:
    """The serving model's identity in readiness keys: a new encoder means new embeddings."""
    from ml_worker.sam.build import checkpoint_sha256

    name = name or settings.DEFAULT_MODEL
    return f"{name}@{checkpoint_sha256(name)[:12]}"


def scheduler() -> scheduling.Scheduler:
    return scheduling.Scheduler(redis_client(), model_key(), runners=settings.EMBED_RUNNERS)


def latest_key(user_id: int, series_id: int) -> str:
    return f"prompt:latest:{user_id}:{series_id}"


def model_preset(series, label=None, requested: str | None = None) -> str:
    """The window the *model* sees: the label's, else the project's, else the series' default.

    The display window is free; the model's input window is a per-label or per-project preset, so that
    dragging window/level in the browser never recomputes an embedding.
    """
    if series.is_rgb:
        return "rgb"
    names = {w["name"] for w in series.window_presets}
    if requested and requested not in names:
        raise InvalidInput(
            f"Series {series.id} has no window preset {requested!r} (it has {', '.join(sorted(names))})."
        )
    for candidate in (
        requested,
        getattr(label, "window_preset", "") or None,
        series.study.project.settings.get("model_window"),
        "soft_tissue" if series.modality == "CT" else None,
        series.default_window,
    ):
        if candidate and candidate in names:
            return candidate
    if not names:
        raise InvalidInput(f"Series {series.id} has no window preset to show the model.")
    return sorted(names)[0]


def send_decode(request: dict) -> None:
    """Hand a prompt to the interactive queue; it supersedes this user's earlier prompt on the series."""
    redis_client().set(
        latest_key(request["user_id"], request["series_id"]), request["request_id"], ex=LATEST_TTL_S
    )
    celery_app.send_task("ml_worker.tasks.decode_prompt", args=[request], queue=QUEUE_INTERACTIVE)


def start_embedding_runners() -> None:
    sched = scheduler()
    for _ in range(sched.runners):
        index = sched.claim_runner()
        if index is None:
            return
        celery_app.send_task("ml_worker.tasks.embed_runner", args=[index], queue="embed")
