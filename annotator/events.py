"""The one way server messages reach WebSocket clients: models of ``annotator.messages``, sent through the
channel layer to a group (``user_group``, ``series_group``) or to one socket (``send_to_channel``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, get_channel_layer
from django.db import transaction

from annotator.messages import JobCreated, JobProgress, JobState
from annotator.messages_base import ServerMessageBase

if TYPE_CHECKING:
    from annotator.models import Job

# Channel-layer handler name on the consumer: "push" → AnnotatorConsumer.push
PUSH = "push"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def series_group(series_id: int) -> str:
    return f"series.{series_id}"


def push_message(
    message: ServerMessageBase, *, skip_channel: str | None = None, only_users: list[int] | None = None
) -> dict[str, Any]:
    """The channel-layer envelope of a message for clients (JSON-safe). ``only_users``: the sockets of other
    users drop it (a mask that independent annotators must not see, annotator.visibility.audience)."""
    return {
        "type": PUSH,
        "payload": message.model_dump(mode="json"),
        "skip_channel": skip_channel,
        "only_users": only_users,
    }


def channel_layer() -> BaseChannelLayer:
    """The configured channel layer (settings.CHANNEL_LAYERS); without one no message can be sent."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("No channel layer is configured (settings.CHANNEL_LAYERS).")
    return layer


def send_to_group(
    group: str,
    message: ServerMessageBase,
    *,
    skip_channel: str | None = None,
    only_users: list[int] | None = None,
) -> None:
    envelope = push_message(message, skip_channel=skip_channel, only_users=only_users)
    async_to_sync(channel_layer().group_send)(group, envelope)


def send_on_commit(
    group: str,
    message: ServerMessageBase,
    *,
    skip_channel: str | None = None,
    only_users: list[int] | None = None,
) -> None:
    """Broadcast only once the surrounding transaction has committed (nothing leaks from a rollback).

    Robust: a broadcast that fails (the channel layer's Redis restarting) is logged and dropped, so a change
    that is committed is never answered as an error (`make test-stack` saw saves acknowledged with a 500
    while Redis restarted); the other tabs catch up when they next load the data."""
    transaction.on_commit(
        lambda: send_to_group(group, message, skip_channel=skip_channel, only_users=only_users), robust=True
    )


class _Sender:
    """Channel-layer sends from worker threads through one long-lived event loop, so each send reuses the
    layer's Redis connection instead of building a loop and a connection per call (async_to_sync)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or not self._loop.is_running():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="channel-sender", daemon=True).start()
                self._loop = loop
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._ensure_loop()).result(timeout=10)


_sender = _Sender()


def send_to_channel(channel: str, message: ServerMessageBase) -> None:
    """Send ``message`` to one socket (a worker's reply to the socket that asked)."""
    _sender.run(channel_layer().send(channel, push_message(message)))


def job_state(job: Job) -> JobState:
    return JobState.model_validate(job.as_event())


def job_created(job: Job, request_id: str | None = None) -> JobCreated:
    return JobCreated(request_id=request_id, job=job_state(job))


def job_progress(job: Job, request_id: str | None = None) -> JobProgress:
    """Where ``job`` stands, as its creator's tabs are told."""
    return JobProgress(request_id=request_id, job=job_state(job))
