"""The worker's decode request: a prompt the consumer checked, sent to an interactive worker as JSON through
Celery (``annotator.tasks.decode``) and read by ``annotator.inference.decode_prompt``. Never seen by the
browser, so it is not part of the generated TypeScript; ``annotator.messages`` re-exports it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from annotator.messages_base import PlaneName


class DecodeRequest(BaseModel):
    """A prompt the consumer checked against the series, completed with who asked and where to reply."""

    request_id: str
    user_id: int
    reply_channel: str
    series_id: int
    slice_index: int = Field(ge=0)
    preset: str
    # the model input's (rows, cols): the plane resampled to square pixels
    image_shape: tuple[int, int]
    plane: PlaneName = "axial"
    box: list[float] | None = None
    points: list[list[float]] | None = None
    point_labels: list[Literal[0, 1]] | None = None
    mask_input: Literal["previous"] | None = None
    multimask: bool = False
    label_id: int | None = None
