"""Plane messages of the WebSocket protocol (issue 15: coronal and sagittal planes, ml_worker/planes.py). Part
of the one protocol: ``annotator.messages`` includes them in ``ServerMessage``; ``PlaneName`` is in
``annotator.messages_base`` because client messages and the worker request carry it too."""

from __future__ import annotations

from typing import Literal

from annotator.messages_base import PlaneName, ServerMessageBase


class PlaneEmbeddings(ServerMessageBase):
    """The answer to a ``view`` on another plane than the socket's last one: which of that plane's slices
    already have their embedding (later ones arrive as ``embedding.ready`` naming the plane)."""

    type: Literal["embeddings.state"] = "embeddings.state"
    series_id: int
    plane: PlaneName
    preset: str
    ready: list[int]
    total: int
