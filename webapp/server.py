"""The ASGI server: Daphne, with request bodies streamed to the application from disk (finding 2 of issue 13).

Run as ``python -m webapp.server`` with Daphne's own arguments (webapp/processes.py ``web_args``).

Two things in Daphne 4.2 / Twisted held every upload in memory, measured on a 256 MiB multipart upload
(tests/integration/test_upload_memory.py): the server's peak RSS grew by 3.1 GB.
- Twisted parses every ``multipart/form-data`` POST body into ``request.args`` with the email parser once it
  has arrived (about 11 bytes of memory per byte uploaded); Daphne never reads ``request.args``. Switched off
  with Twisted's own ``parsePOSTFormSubmission`` switch.
- Daphne then reads the whole body (which Twisted spooled to a temporary file) into the application's queue
  at once, in 8 KiB messages: the body's size in memory. Here the application reads the body from that file,
  a chunk at a time, as it asks for it; Django spools it to its own temporary file past
  FILE_UPLOAD_MAX_MEMORY_SIZE.
"""

from __future__ import annotations

import asyncio
import io
from functools import partial
from typing import Any, BinaryIO

from daphne.cli import CommandLineInterface  # type: ignore[import-untyped]
from daphne.server import Server  # type: ignore[import-untyped]
from twisted.web import http

# The body is handed to the application in chunks of this size (Django's multipart parser reads 64 KiB).
CHUNK = 64 * 1024


class StreamedBody(asyncio.Queue):
    """The input queue of one HTTP request: its body comes from Twisted's buffer file as the application asks
    for it; other events (``http.disconnect``) queue as usual."""

    def __init__(self, body: BinaryIO) -> None:
        super().__init__()
        self.body: BinaryIO | None = body

    def put_nowait(self, message: dict[str, Any]) -> None:
        if message.get("type") == "http.request":
            return  # Daphne's copy of the body: empty, since its request's content was swapped out
        super().put_nowait(message)

    async def get(self) -> dict[str, Any]:
        if self.body is None:
            return await super().get()
        chunk = self.body.read(CHUNK)
        more = len(chunk) == CHUNK
        if not more:
            self.body.close()
            self.body = None
        return {"type": "http.request", "body": chunk, "more_body": more}


class StreamingServer(Server):  # type: ignore[misc]  # Daphne has no type information
    def protocol_connected(self, protocol: Any) -> None:
        if isinstance(protocol, http.Request):
            # Before the body arrives: Twisted parses form bodies only after it has all of it.
            protocol._parsePOSTFormSubmission = False
        super().protocol_connected(protocol)

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> asyncio.Queue | None:
        """Daphne's, with a StreamedBody as the input queue of an HTTP request."""
        body = protocol.content if isinstance(protocol, http.Request) else None
        if scope["type"] != "http" or body is None:
            return super().create_application(protocol, scope)
        assert "application_instance" not in self.connections[protocol]
        protocol.content = io.BytesIO()
        input_queue = StreamedBody(body)
        scope.setdefault("asgi", {"version": "3.0"})
        instance = self.application(
            scope=scope, receive=input_queue.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in self.connections:
            body.close()
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            instance, loop=asyncio.get_event_loop()
        )
        return input_queue


class StreamingCommandLine(CommandLineInterface):  # type: ignore[misc]
    server_class = StreamingServer


if __name__ == "__main__":
    StreamingCommandLine.entrypoint()
