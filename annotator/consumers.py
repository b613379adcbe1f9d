"""The one WebSocket endpoint. It authenticates, validates each message's shape, and routes."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from pydantic import BaseModel, ValidationError

from annotator import events

CLOSE_UNAUTHENTICATED = 4401


class ClientMessage(BaseModel):
    type: str
    request_id: str | None = None


class AnnotatorConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.groups_joined: set[str] = set()
        await self.accept()
        await self._join(events.user_group(user.id))
        await self.send_json({"type": "hello", "user": user.username, "user_id": user.id, "socket_id": self.channel_name})

    async def disconnect(self, code: int) -> None:
        for group in list(getattr(self, "groups_joined", ())):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.add(group)

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
        await handler(content, message.request_id)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except ValueError:  # not JSON at all
            await self.send_error(None, "invalid_message", "Messages must be JSON objects.")

    async def on_ping(self, content: dict, request_id: str | None) -> None:
        await self.send_json({"type": "pong", "request_id": request_id})

    async def send_error(self, request_id: str | None, code: str, message: str) -> None:
        await self.send_json({"type": "error", "request_id": request_id, "code": code, "message": message})

    # Channel-layer handlers
    async def push(self, event: dict[str, Any]) -> None:
        if event.get("skip_channel") == self.channel_name:
            return
        await self.send_json(event["payload"])
