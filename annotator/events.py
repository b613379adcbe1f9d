"""Typed builders for messages pushed to WebSocket clients through the channel layer."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

# Channel-layer handler name on the consumer: "push" → AnnotatorConsumer.push
PUSH = "push"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def push_message(payload: dict[str, Any], *, skip_channel: str | None = None) -> dict[str, Any]:
    """The channel-layer envelope of a message for clients; ``payload`` must carry a ``type``."""
    if "type" not in payload:
        raise ValueError("every client message needs a type")
    return {"type": PUSH, "payload": payload, "skip_channel": skip_channel}


def send_to_group(group: str, payload: dict[str, Any], *, skip_channel: str | None = None) -> None:
    async_to_sync(get_channel_layer().group_send)(group, push_message(payload, skip_channel=skip_channel))


def send_on_commit(group: str, payload: dict[str, Any], *, skip_channel: str | None = None) -> None:
    """Broadcast only once the surrounding transaction has committed (nothing leaks from a rollback)."""
    transaction.on_commit(lambda: send_to_group(group, payload, skip_channel=skip_channel))
