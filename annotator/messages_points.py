"""Corrective-point messages of the WebSocket protocol (issue 15): the answer to a point that the guard for
models not trained on clicks did not apply (ml_worker/click_guard.py, annotator/inference.py). Part of the one
protocol: ``annotator.messages`` includes it in ``ServerMessage``."""

from __future__ import annotations

from typing import Literal

from annotator.messages_base import ServerMessageBase


class PromptRefused(ServerMessageBase):
    """The answer to a corrective point that was not applied: it lay outside the region around the mask
    being corrected (``outside_region``; ``region`` says where points may go), or the model rated the
    corrected mask lower than that mask (``iou_dropped``). The mask being corrected stays the one
    refinements start from; the client drops the refused point (the last of the prompt's points)."""

    type: Literal["prompt.refused"] = "prompt.refused"
    request_id: str
    series_id: int
    slice_index: int
    reason: Literal["outside_region", "iou_dropped"]
    message: str
    # [x0, y0, x1, y1] image pixels, bounds inclusive: where a point may correct the mask
    region: list[int] | None = None
    previous_iou: float
    iou: float | None = None
    model: str
