"""Review messages of the WebSocket protocol (issue 15): comments pinned to a slice and a position of a case.
Part of the one protocol: ``annotator.messages`` includes them in ``ServerMessage``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from annotator.messages_base import ServerMessageBase


class CommentInfo(BaseModel):
    """A review comment on one assignment (annotator/actions/review.py comment_info). ``slice_index``, ``x``
    and ``y`` (image pixels: column, row) are all set when it is pinned, else all null."""

    id: int
    assignment: int
    series_id: int
    author: str
    text: str
    label_id: int | None = None
    slice_index: int | None = None
    x: float | None = None
    y: float | None = None
    # the comment that sent the case back ("changes requested")
    requests_changes: bool = False
    created_at: str
    resolved: bool = False
    resolved_by: str | None = None


class CommentCreated(ServerMessageBase):
    """A comment was written on a case of this series; sent only to those who may read it (the case's
    annotator, the project's reviewers and owners)."""

    type: Literal["comment.created"] = "comment.created"
    comment: CommentInfo


class CommentUpdated(ServerMessageBase):
    """A comment was marked resolved (or open again)."""

    type: Literal["comment.updated"] = "comment.updated"
    comment: CommentInfo
