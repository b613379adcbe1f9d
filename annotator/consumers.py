"""The one WebSocket endpoint. It authenticates, validates each message's shape, checks permission at
subscribe time, and routes: the work happens in actions (annotator/) and on the workers (ml_worker/)."""

from __future__ import annotations

import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404
from pydantic import BaseModel, ValidationError

from annotator import access, events
from annotator import segmentation as seg
from annotator.actions import masks as mask_actions
from annotator.actions import propagation
from annotator.errors import DomainError

CLOSE_UNAUTHENTICATED = 4401


class ClientMessage(BaseModel):
    type: str
    request_id: str | None = None


class MessageError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def parse(schema: type[BaseModel], content: dict) -> Any:
    try:
        return schema.model_validate(content)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MessageError("invalid_message", f"{where + ': ' if where else ''}{first['msg']}") from exc


class AnnotatorConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.groups_joined: set[str] = set()
        # series id → {"shape": (Z, Y, X), "preset": str, "project_id": int}
        self.series: dict[int, dict] = {}
        self.bucket = seg.TokenBucket()
        await self.accept()
        await self._join(events.user_group(user.id))
        await self.send_json(
            {"type": "hello", "user": user.username, "user_id": user.id, "socket_id": self.channel_name}
        )

    async def disconnect(self, code: int) -> None:
        for series_id in list(getattr(self, "series", {})):
            await self._leave_series(series_id)
        for group in list(getattr(self, "groups_joined", ())):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.add(group)

    # Routing -----------------------------------------------------------------------------------------
    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        try:
            message = ClientMessage.model_validate(content)
        except ValidationError as exc:
            await self.send_error(None, "invalid_message", f"Malformed message: {exc.errors()[0]['msg']}")
            return
        handler = getattr(self, f"on_{message.type.replace('.', '_')}", None)
        if handler is None:
            await self.send_error(
                message.request_id, "unknown_type", f"Unknown message type {message.type!r}."
            )
            return
        try:
            await handler(content, message.request_id)
        except MessageError as exc:
            await self.send_error(message.request_id, exc.code, exc.message)
        except DomainError as exc:
            await self.send_error(message.request_id, exc.code, exc.message)
        except Http404:
            await self.send_error(message.request_id, "not_found", "No such series.")

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except ValueError:  # not JSON at all
            await self.send_error(None, "invalid_message", "Messages must be JSON objects.")

    async def send_error(self, request_id: str | None, code: str, message: str) -> None:
        await self.send_json({"type": "error", "request_id": request_id, "code": code, "message": message})

    # Handlers ----------------------------------------------------------------------------------------
    async def on_ping(self, content: dict, request_id: str | None) -> None:
        await self.send_json({"type": "pong", "request_id": request_id})

    async def on_subscribe(self, content: dict, request_id: str | None) -> None:
        message = parse(seg.SubscribeMessage, content)
        info = await database_sync_to_async(self._series_info)(
            message.scope.id, message.label_id, message.preset
        )
        series_id = message.scope.id
        self.series[series_id] = info
        await self._join(mask_actions.series_group(series_id))
        start = info["shape"][0] // 2
        ready = await database_sync_to_async(self._view)(series_id, start)
        await self.send_json(
            {
                "type": "subscribed",
                "request_id": request_id,
                "scope": {"kind": "series", "id": series_id},
                "series": {"id": series_id, "shape": info["shape"], "preset": info["preset"]},
                "embeddings": {"preset": info["preset"], "ready": sorted(ready), "total": info["shape"][0]},
                "presence": await self._presence(series_id),
            }
        )
        await self._broadcast_presence(series_id)

    async def on_unsubscribe(self, content: dict, request_id: str | None) -> None:
        message = parse(seg.SubscribeMessage, content)
        await self._leave_series(message.scope.id)
        await self.send_json(
            {"type": "unsubscribed", "request_id": request_id, "scope": content.get("scope")}
        )

    async def on_view(self, content: dict, request_id: str | None) -> None:
        message = parse(seg.ViewMessage, content)
        info = self._subscribed(message.series_id)
        if message.slice_index >= info["shape"][0]:
            raise MessageError("invalid_message", f"Slice {message.slice_index} is outside the series.")
        await database_sync_to_async(self._view)(message.series_id, message.slice_index)
        await self._broadcast_presence(message.series_id)

    async def on_prompt(self, content: dict, request_id: str | None) -> None:
        message = parse(seg.PromptMessage, content)
        info = self._subscribed(message.series_id)
        if not self.bucket.take():
            raise MessageError("rate_limited", "Too many prompts at once; wait a moment.")
        depth, height, width = info["shape"]
        if message.slice_index >= depth:
            raise MessageError(
                "invalid_message", f"Slice {message.slice_index} is outside the series (0–{depth - 1})."
            )
        if message.box is not None:
            x0, y0, x1, y1 = message.box
            if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
                raise MessageError("invalid_prompt", f"The box lies outside the {width}×{height} image.")
        for x, y in message.points or []:
            if not (0 <= x <= width and 0 <= y <= height):
                raise MessageError(
                    "invalid_prompt", f"The point ({x:g}, {y:g}) lies outside the {width}×{height} image."
                )
        request = {
            **message.model_dump(),
            "request_id": request_id or uuid.uuid4().hex,
            "user_id": self.user.id,
            "reply_channel": self.channel_name,
            "preset": message.preset or info["preset"],
            "image_shape": [height, width],
        }
        await database_sync_to_async(seg.send_decode)(request)

    async def on_propagate(self, content: dict, request_id: str | None) -> None:
        message = parse(seg.PropagateMessage, content)
        info = self._subscribed(message.series_id)
        job = await database_sync_to_async(propagation.do_start_propagation)(
            self.user, message, info, reply_channel=self.channel_name
        )
        await self.send_json({"type": "job.created", "request_id": request_id, "job": job.as_event()})

    async def on_cancel_job(self, content: dict, request_id: str | None) -> None:
        message = parse(seg.CancelJobMessage, content)
        job = await database_sync_to_async(propagation.do_cancel_job)(self.user, message.job_id)
        await self.send_json({"type": "job.progress", "request_id": request_id, "job": job.as_event()})

    # Helpers -----------------------------------------------------------------------------------------
    def _subscribed(self, series_id: int) -> dict:
        info = self.series.get(series_id)
        if info is None:
            raise MessageError("not_subscribed", f"Subscribe to series {series_id} first.")
        return info

    def _series_info(self, series_id: int, label_id: int | None, preset: str | None) -> dict:
        series, membership = access.series_with_membership(self.user, series_id)
        label = None if label_id is None else access.get_label(self.user, membership.project_id, label_id)
        return {
            "shape": list(mask_actions.mask_shape(series)),
            "preset": seg.model_preset(series, label, requested=preset),
            "project_id": series.study.project_id,
            "role": membership.role,
        }

    def _view(self, series_id: int, index: int) -> set[int]:
        info = self.series[series_id]
        info["slice_index"] = index
        sched = seg.scheduler()
        sched.view(series_id, info["preset"], index, info["shape"][0], self.channel_name, self.user.username)
        seg.start_embedding_runners()
        return sched.ready(series_id, info["preset"])

    async def _leave_series(self, series_id: int) -> None:
        if self.series.pop(series_id, None) is None:
            return
        group = mask_actions.series_group(series_id)
        await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined.discard(group)
        await database_sync_to_async(seg.scheduler().leave)(series_id, self.channel_name)
        await self._broadcast_presence(series_id)

    async def _presence(self, series_id: int) -> list[dict]:
        viewers = await database_sync_to_async(seg.scheduler().viewers)(series_id)
        return [{"username": v["username"], "slice_index": v["slice_index"]} for v in viewers]

    async def _broadcast_presence(self, series_id: int) -> None:
        payload = {"type": "presence", "series_id": series_id, "users": await self._presence(series_id)}
        await self.channel_layer.group_send(
            mask_actions.series_group(series_id), events.push_message(payload)
        )

    # Channel-layer handlers --------------------------------------------------------------------------
    async def push(self, event: dict[str, Any]) -> None:
        if event.get("skip_channel") == self.channel_name:
            return
        await self.send_json(event["payload"])
