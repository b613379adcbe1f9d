"""A socket's permissions after subscribe (probe finding 6): re-checked on every message through the user's
access epoch, open sockets closed when their user is removed, a demoted member's role applied at once, and
the login session's end (expiry, logout) ending its sockets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from annotator import consumers, scheduling, segmentation, socket_access
from annotator.actions import jobs
from annotator.models import Job, Label
from tests.segmentation.conftest import make_series
from webapp.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture
def sent(monkeypatch, redis_url, settings, tmp_path) -> list[dict[str, Any]]:
    """Prompts handed to the workers and jobs queued (the sends replaced; everything before them is real)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(segmentation, "send_decode", lambda req: calls.append(req.model_dump(mode="json")))
    monkeypatch.setattr(consumers, "start_embedding_runners", lambda: None)
    monkeypatch.setattr(scheduling, "embeddings_key", lambda name=None: "test-model")

    class Queue:
        def send_task(self, name: str, **kwargs: Any) -> None:
            calls.append({"task": name})

    monkeypatch.setattr(jobs, "celery_app", Queue())
    return calls


@pytest.fixture
def series(personas):
    return make_series(personas.project, np.zeros((4, 16, 16), dtype=np.int16))


@pytest.fixture
def liver(personas):
    return Label.objects.create(project=personas.project, name="liver", value=1, color="#ff0000")


async def socket_of(user=None, session_key: str | None = None) -> WebsocketCommunicator:
    """A socket as the browser opens it: with the login session's cookie, or given a user directly."""
    headers = [ORIGIN] + ([(b"cookie", f"sessionid={session_key}".encode())] if session_key else [])
    communicator = WebsocketCommunicator(application, "/ws/", headers=headers)
    if user is not None:
        communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"
    return communicator


async def subscribed(communicator: WebsocketCommunicator, series_id: int) -> None:
    await communicator.send_json_to(
        {"type": "subscribe", "request_id": "s", "scope": {"kind": "series", "id": series_id}}
    )
    assert (await communicator.receive_json_from())["type"] == "subscribed"
    assert (await communicator.receive_json_from())["type"] == "presence"


async def closing(communicator: WebsocketCommunicator) -> tuple[dict[str, Any], int]:
    """The error the server sent before it closed the socket, and the close code."""
    error = await communicator.receive_json_from()
    closed = await communicator.receive_output()
    assert closed["type"] == "websocket.close"
    return error, closed["code"]


def prompt(series_id: int, request_id: str = "p") -> dict[str, Any]:
    return {
        "type": "prompt",
        "request_id": request_id,
        "series_id": series_id,
        "slice_index": 1,
        "box": [1, 1, 9, 9],
    }


def as_owner(personas, method: str, path: str, body: dict | None = None) -> int:
    import json

    client = personas.client_for("owner")
    response = client.generic(method, path, json.dumps(body or {}), "application/json")
    return response.status_code


async def test_a_removed_members_open_socket_is_closed_and_their_new_subscription_refused(
    personas_async, series, sent
):
    # Given the annotator working on a series of the project
    communicator = await socket_of(personas_async.annotator)
    await subscribed(communicator, series.id)
    # When the owner removes them from the project
    path = f"/api/projects/{personas_async.project.id}/members/{personas_async.annotator.id}/"
    assert await database_sync_to_async(as_owner)(personas_async, "DELETE", path) == 204
    # Then their socket is told and closed at once
    error, code = await closing(communicator)
    assert error["code"] == "access_revoked" and code == socket_access.CLOSE_ACCESS_REVOKED
    # and the socket the browser opens again cannot subscribe to the series
    again = await socket_of(personas_async.annotator)
    await again.send_json_to(
        {"type": "subscribe", "request_id": "s", "scope": {"kind": "series", "id": series.id}}
    )
    assert (await again.receive_json_from())["code"] == "not_found"
    await again.disconnect()


async def test_when_the_close_is_lost_the_removed_members_next_message_is_refused(
    personas_async, series, sent, monkeypatch
):
    # Given the annotator subscribed, and the message that would close their socket lost on the way
    monkeypatch.setattr(socket_access, "_send_close", lambda *args: None)
    communicator = await socket_of(personas_async.annotator)
    await subscribed(communicator, series.id)
    path = f"/api/projects/{personas_async.project.id}/members/{personas_async.annotator.id}/"
    assert await database_sync_to_async(as_owner)(personas_async, "DELETE", path) == 204
    # When they prompt on the series
    await communicator.send_json_to(prompt(series.id))
    # Then the prompt is refused, never reaches a worker, and the socket is closed
    error, code = await closing(communicator)
    assert error["code"] == "not_found" and error["request_id"] == "p"
    assert code == socket_access.CLOSE_ACCESS_REVOKED and sent == []


async def test_an_annotator_demoted_to_reviewer_cannot_propagate_from_the_socket_they_had_open(
    personas_async, series, liver, sent
):
    # Given the annotator subscribed to a series
    communicator = await socket_of(personas_async.annotator)
    await subscribed(communicator, series.id)
    # When the owner makes them a reviewer, and they start a propagation on the same socket
    path = f"/api/projects/{personas_async.project.id}/members/{personas_async.annotator.id}/"
    assert await database_sync_to_async(as_owner)(personas_async, "PATCH", path, {"role": "reviewer"}) == 200
    await communicator.send_json_to(
        {
            "type": "propagate",
            "request_id": "g",
            "series_id": series.id,
            "slice_index": 1,
            "box": [1, 1, 9, 9],
            "label_id": liver.id,
        }
    )
    # Then it is refused as for any reviewer, and no job exists
    reply = await communicator.receive_json_from()
    assert reply["type"] == "error" and reply["code"] == "forbidden" and reply["request_id"] == "g"
    assert await database_sync_to_async(Job.objects.filter(kind="propagate").count)() == 0
    # while prompting (allowed to reviewers) still works on that socket
    await communicator.send_json_to(prompt(series.id, "after"))
    assert await communicator.receive_nothing(timeout=0.2)
    assert [call["request_id"] for call in sent] == ["after"]
    await communicator.disconnect()


def login_session(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def test_a_socket_whose_session_expired_has_its_next_message_refused_and_is_closed(
    personas_async, series, sent, monkeypatch
):
    # Given a browser socket opened with the annotator's login session
    key = await database_sync_to_async(login_session)(personas_async.annotator)
    communicator = await socket_of(session_key=key)
    await subscribed(communicator, series.id)
    # When the session's time runs out (the store and the socket's clock both past its expiry)
    row = await database_sync_to_async(Session.objects.get)(pk=key)
    later = row.expire_date + timedelta(seconds=1)
    await database_sync_to_async(Session.objects.filter(pk=key).update)(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    monkeypatch.setattr(socket_access.timezone, "now", lambda: later)
    await communicator.send_json_to(prompt(series.id))
    # Then the prompt is refused and the socket closed as unauthenticated (the browser asks to sign in)
    error, code = await closing(communicator)
    assert error["code"] == "session_ended" and code == consumers.CLOSE_UNAUTHENTICATED
    assert sent == []


async def test_signing_out_closes_the_sockets_of_that_session_only(personas_async, series, sent):
    # Given the annotator signed in twice (two browsers), a socket open in each
    client = Client()
    await database_sync_to_async(client.force_login)(personas_async.annotator)
    first = await socket_of(session_key=client.cookies["sessionid"].value)
    other_key = await database_sync_to_async(login_session)(personas_async.annotator)
    second = await socket_of(session_key=other_key)
    # When they sign out in the first browser
    response = await database_sync_to_async(client.post)("/logout/")
    assert response.status_code == 302
    # Then its socket closes at once, and the other browser's stays open
    error, code = await closing(first)
    assert error["code"] == "session_ended" and code == consumers.CLOSE_UNAUTHENTICATED
    await second.send_json_to({"type": "ping", "request_id": "alive"})
    assert (await second.receive_json_from())["type"] == "pong"
    await second.disconnect()


async def test_the_recheck_reads_no_database_row_while_nothing_changed(personas_async, redis_url):
    # Given a socket's access state after connect
    key = await database_sync_to_async(login_session)(personas_async.annotator)
    state = socket_access.SocketAccess(personas_async.annotator, key)
    await database_sync_to_async(state.start)()

    def recheck_without_queries() -> tuple[bool, str | None]:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            result = (state.session_due(), state.epoch_moved())
        assert len(queries) == 0
        return result

    # When nothing changed, the re-check is a clock comparison and one Redis read
    assert await database_sync_to_async(recheck_without_queries)() == (False, None)
    # and a role change moves the epoch
    await database_sync_to_async(socket_access._bump)(personas_async.annotator.id)
    assert (await database_sync_to_async(recheck_without_queries)())[1] is not None
