"""Annotation-time messages of the WebSocket protocol (issue 12): the viewer's interaction log, sent in
batches and acknowledged (docs/timing.md). Part of the one protocol: ``annotator.messages`` includes them in
``ClientMessage`` and ``ServerMessage``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from annotator.messages_base import ClientMessageBase, ServerMessageBase
from annotator.timing.schema import MAX_BATCH, LoggedEvent, Session


class LogMessage(ClientMessageBase):
    """A batch of a client session's interaction events; answered with ``log.ack`` (stored once per seq)."""

    type: Literal["log"] = "log"
    session: Session
    events: list[LoggedEvent] = Field(min_length=1, max_length=MAX_BATCH)


class LogAck(ServerMessageBase):
    """The batch of ``log`` with this request_id is stored (``duplicates``: events already there)."""

    type: Literal["log.ack"] = "log.ack"
    request_id: str | None = None
    stored: int
    duplicates: int
