"""The one WebSocket endpoint. It authenticates, parses each message with its schema (``annotator.messages``),
checks access at subscribe time and routes: the work happens in actions and, for the model, on the workers
(``annotator.inference``)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth.models import User
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from annotator import access, events, socket_access
from annotator import segmentation as seg
from annotator.actions import interactions, propagation, user_studies
from annotator.errors import DomainError
from annotator.imaging.volumes import mask_shape, plane_grids
from annotator.messages import (
    CLIENT_MESSAGES,
    CancelJobMessage,
    EmbeddingsState,
    Envelope,
    ErrorMessage,
    Hello,
    PingMessage,
    Pong,
    Presence,
    PresenceUser,
    PromptMessage,
    PropagateMessage,
    ProtocolError,
    Scope,
    SeriesState,
    Subscribed,
    SubscribeMessage,
    Unsubscribed,
    UnsubscribeMessage,
    ViewMessage,
    parse,
)
from annotator.messages_base import ServerMessageBase
from annotator.messages_planes import PlaneEmbeddings
from annotator.messages_timing import LogAck, LogMessage
from annotator.scheduling import scheduler, start_embedding_runners
from ml_worker.planes import Plane

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
# "Try again later" (as HTTP 503; RFC 6455's 1013 is refused by Daphne's WebSocket library, which allows an
# application 1000 and 3000-4999 only): the channel layer (Redis) is unreachable. Before, such a socket closed
# with 1011 (a server error, with a traceback in the log), the same as a bug; the client reconnects with
# back-off, and the first reconnect after Redis is back succeeds (tests/integration/test_redis_restart.py).
CLOSE_TRY_AGAIN_LATER = 4503
# Bounds checked before a message is parsed (a deeply nested one made the JSON parser overflow the stack
# and closed the socket with 1011). The largest real messages: a propagation's starting mask as RLE (tens of
# KB for a 2048² slice), a prompt with 64 points (~70 brackets).
MAX_MESSAGE_CHARS = 2 * 1024 * 1024
MAX_MESSAGE_BRACKETS = 512
# Messages whose handler checks access in full itself (or touches nothing of a project); every other message
# first passes the cheap re-check of the socket's session and roles (socket_access, probe finding 6).
SELF_CHECKED = frozenset({"ping", "subscribe", "unsubscribe", "cancel_job"})


class AnnotatorConsumer(AsyncJsonWebsocketConsumer):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except (RedisConnectionError, RedisTimeoutError, ConnectionError) as exc:
            # The channel layer retried on fresh connections and gave up: Redis is down or restarting.
            log.warning("socket closed: the channel layer is unreachable (%s)", exc)
            await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})

    async def connect(self) -> None:
        # The lazy user of AuthMiddlewareStack passes isinstance through to what it wraps; typed as object
        # because its stub class cannot also be a User. Only a signed-in account: AnonymousUser is refused.
        user: object = self.scope.get("user")
        if not isinstance(user, User):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user: User = user
        self.groups_joined: set[str] = set()
        # series id → {"shape": (Z, Y, X), "preset": str, "project_id": int, "role": str, "slice_index": int}
        self.series: dict[int, dict[str, Any]] = {}
        session = self.scope.get("session")
        self.access = socket_access.SocketAccess(user, getattr(session, "session_key", None))
        await database_sync_to_async(self.access.start)()
        await self.accept()
        await self._join(events.user_group(user.id))
        if self.access.session_key:
            await self._join(socket_access.session_group(self.access.session_key))
        await self.send_message(Hello(user=user.username, user_id=user.id, socket_id=self.channel_name))

    async def disconnect(self, code: int) -> None:
        for series_id in list(getattr(self, "series", {})):
            await self._leave_series(series_id)
        for group in list(getattr(self, "groups_joined", ())):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.add(group)

    async def send_message(self, message: ServerMessageBase) -> None:
        await self.send_json(message.model_dump(mode="json"))

    # Routing -----------------------------------------------------------------------------------------
    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        try:
            envelope = Envelope.model_validate(content)
        except ValidationError as exc:
            await self.send_error(None, "invalid_message", f"Malformed message: {exc.errors()[0]['msg']}")
            return
        schema = CLIENT_MESSAGES.get(envelope.type)
        if schema is None:
            await self.send_error(
                envelope.request_id, "unknown_type", f"Unknown message type {envelope.type!r}."
            )
            return
        handler = getattr(self, f"on_{envelope.type}")
        if envelope.type not in SELF_CHECKED and not await self._still_allowed(envelope.request_id):
            return
        try:
            await handler(parse(schema, content))
        except (ProtocolError, DomainError) as exc:
            await self.send_error(envelope.request_id, exc.code, exc.message)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if text_data is not None and len(text_data) > MAX_MESSAGE_CHARS:
            await self.send_error(None, "too_large", f"Messages are at most {MAX_MESSAGE_CHARS} characters.")
            return
        if text_data is not None and text_data.count("[") + text_data.count("{") > MAX_MESSAGE_BRACKETS:
            await self.send_error(None, "invalid_message", "The message is nested too deeply or too often.")
            return
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except ValueError:  # not JSON at all
            await self.send_error(None, "invalid_message", "Messages must be JSON objects.")

    async def send_error(self, request_id: str | None, code: str, message: str) -> None:
        await self.send_message(ErrorMessage(request_id=request_id, code=code, message=message))

    # Handlers: one per client message type (annotator.messages.CLIENT_MESSAGES) --------------------------
    async def on_ping(self, message: PingMessage) -> None:
        await self.send_message(Pong(request_id=message.request_id))

    async def on_subscribe(self, message: SubscribeMessage) -> None:
        info = await database_sync_to_async(self._series_info)(
            message.scope.id, message.label_id, message.preset, message.assignment_id
        )
        series_id = message.scope.id
        self.series[series_id] = info
        await self._join(events.series_group(series_id))
        depth = info["shape"][0]
        ready = await database_sync_to_async(self._view)(series_id, depth // 2)
        await self.send_message(
            Subscribed(
                request_id=message.request_id,
                scope=Scope(kind="series", id=series_id),
                series=SeriesState(id=series_id, shape=info["shape"], preset=info["preset"]),
                embeddings=EmbeddingsState(preset=info["preset"], ready=sorted(ready), total=depth),
                presence=await self._presence(series_id),
            )
        )
        await self._broadcast_presence(series_id)

    async def on_unsubscribe(self, message: UnsubscribeMessage) -> None:
        await self._leave_series(message.scope.id)
        await self.send_message(Unsubscribed(request_id=message.request_id, scope=message.scope))

    async def on_view(self, message: ViewMessage) -> None:
        info = self._subscribed(message.series_id)
        grid = info["planes"].get(message.plane)
        if grid is None:
            raise ProtocolError("invalid_message", f"This series has no {message.plane} plane.")
        if message.slice_index >= grid.depth:
            raise ProtocolError("invalid_message", f"Slice {message.slice_index} is outside the series.")
        plane_changed = message.plane != info.get("plane", "axial")
        ready = await database_sync_to_async(self._view)(
            message.series_id, message.slice_index, message.plane
        )
        if plane_changed:
            await self.send_message(
                PlaneEmbeddings(
                    series_id=message.series_id,
                    plane=message.plane,
                    preset=info["preset"],
                    ready=sorted(ready),
                    total=grid.depth,
                )
            )
        await self._broadcast_presence(message.series_id)

    async def on_prompt(self, message: PromptMessage) -> None:
        info = self._model_allowed(self._subscribed(message.series_id))
        request = seg.decode_request(
            message,
            info,
            request_id=message.request_id or uuid.uuid4().hex,
            user_id=self.user.id,
            reply_channel=self.channel_name,
        )
        await database_sync_to_async(seg.submit)(request)

    async def on_propagate(self, message: PropagateMessage) -> None:
        info = self._model_allowed(self._subscribed(message.series_id))
        job = await database_sync_to_async(propagation.do_start_propagation)(
            self.user, message, info, reply_channel=self.channel_name
        )
        await self.send_message(events.job_created(job, message.request_id))

    async def on_cancel_job(self, message: CancelJobMessage) -> None:
        job = await database_sync_to_async(propagation.do_cancel_job)(self.user, message.job_id)
        await self.send_message(events.job_progress(job, message.request_id))

    async def on_log(self, message: LogMessage) -> None:
        """Store interaction events; those of a subscribed series default to its task assignment."""
        assignments = {series_id: info.get("assignment_id") for series_id, info in self.series.items()}
        stored = await database_sync_to_async(interactions.do_record_events)(
            self.user, message.session, message.events, "socket", default_assignments=assignments
        )
        await self.send_message(
            LogAck(request_id=message.request_id, stored=stored.stored, duplicates=stored.duplicates)
        )

    # Helpers -----------------------------------------------------------------------------------------
    async def _still_allowed(self, request_id: str | None) -> bool:
        """The socket's session still valid and its roles current (reloaded when the user's access epoch
        moved); otherwise the message is refused and the socket closed."""
        if self.access.session_due() and await database_sync_to_async(self.access.session_ended)():
            await self._refuse_and_close(
                request_id, "session_ended", "Your session has ended; sign in again.", CLOSE_UNAUTHENTICATED
            )
            return False
        epoch = await sync_to_async(self.access.epoch_moved, thread_sensitive=False)()
        if epoch is not None and await database_sync_to_async(self.access.reload_roles)(self.series, epoch):
            await self._refuse_and_close(
                request_id,
                "not_found",
                "You are no longer a member of this project.",
                socket_access.CLOSE_ACCESS_REVOKED,
            )
            return False
        return True

    async def _refuse_and_close(self, request_id: str | None, code: str, message: str, close: int) -> None:
        await self.send_error(request_id, code, message)
        await self.close(code=close)

    @staticmethod
    def _model_allowed(info: dict[str, Any]) -> dict[str, Any]:
        """The subscription, unless the model is refused on it (a manual-condition study task)."""
        if info.get("model_refused"):
            raise ProtocolError("model_disabled", info["model_refused"])
        return info

    def _subscribed(self, series_id: int) -> dict[str, Any]:
        info = self.series.get(series_id)
        if info is None:
            raise ProtocolError("not_subscribed", f"Subscribe to series {series_id} first.")
        return info

    def _series_info(
        self, series_id: int, label_id: int | None, preset: str | None, assignment_id: int | None
    ) -> dict[str, Any]:
        series, membership = access.series_with_membership(self.user, series_id)
        label = None if label_id is None else access.get_label(self.user, membership.project_id, label_id)
        if assignment_id is not None:
            access.get_assignment_on_series(self.user, assignment_id, series.id)
        return {
            "shape": list(mask_shape(series)),
            "preset": seg.model_preset(series, label, requested=preset),
            "project_id": series.study.project_id,
            "role": membership.role,
            "assignment_id": assignment_id,
            "model_refused": user_studies.model_refusal(self.user, series.id, assignment_id),
            "planes": plane_grids(series),
        }

    def _view(self, series_id: int, index: int, plane: Plane = "axial") -> set[int]:
        info = self.series[series_id]
        info["slice_index"], info["plane"] = index, plane
        sched = scheduler()
        total = info["planes"][plane].depth
        sched.view(series_id, info["preset"], index, total, self.channel_name, self.user.username, plane)
        start_embedding_runners()
        return sched.ready(series_id, info["preset"], plane)

    async def _leave_series(self, series_id: int) -> None:
        if self.series.pop(series_id, None) is None:
            return
        group = events.series_group(series_id)
        await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined.discard(group)
        await database_sync_to_async(scheduler().leave)(series_id, self.channel_name)
        await self._broadcast_presence(series_id)

    async def _presence(self, series_id: int) -> list[PresenceUser]:
        viewers = await database_sync_to_async(scheduler().viewers)(series_id)
        return [
            PresenceUser(username=v["username"], slice_index=v["slice_index"], plane=v.get("plane", "axial"))
            for v in viewers
        ]

    async def _broadcast_presence(self, series_id: int) -> None:
        message = Presence(series_id=series_id, users=await self._presence(series_id))
        await self.channel_layer.group_send(events.series_group(series_id), events.push_message(message))

    # Channel-layer handlers --------------------------------------------------------------------------
    async def access_close(self, event: dict[str, Any]) -> None:
        """The user was removed from a project, or this socket's session signed out (socket_access)."""
        code = "session_ended" if event["code"] == CLOSE_UNAUTHENTICATED else "access_revoked"
        await self._refuse_and_close(None, code, event["reason"], event["code"])

    async def push(self, event: dict[str, Any]) -> None:
        if event.get("skip_channel") == self.channel_name:
            return
        only_users = event.get("only_users")
        if only_users is not None and self.user.pk not in only_users:
            return
        await self.send_json(event["payload"])
