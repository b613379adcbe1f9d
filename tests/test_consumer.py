"""The WebSocket consumer against the real ASGI application, with Channels' communicator."""

from __future__ import annotations

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from annotator import events
from annotator.messages import QueueChanged
from webapp.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = [(b"origin", b"http://localhost")]


def communicator_for(user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/", headers=ORIGIN)
    communicator.scope["user"] = user
    return communicator


async def connected(user) -> WebsocketCommunicator:
    communicator = communicator_for(user)
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from()
    assert hello["type"] == "hello"
    return communicator


async def test_an_anonymous_socket_is_closed_with_4401():
    communicator = communicator_for(AnonymousUser())
    connected, code = await communicator.connect()
    assert not connected and code == 4401


async def test_ping_is_answered_with_the_clients_request_id(personas_async):
    communicator = await connected(personas_async.annotator)
    await communicator.send_json_to({"type": "ping", "request_id": "r-17"})
    assert await communicator.receive_json_from() == {"type": "pong", "request_id": "r-17"}
    await communicator.disconnect()


async def test_malformed_and_unknown_messages_get_errors_and_the_socket_stays_usable(personas_async):
    communicator = await connected(personas_async.annotator)
    await communicator.send_to(text_data="{not json")
    assert (await communicator.receive_json_from())["code"] == "invalid_message"
    await communicator.send_json_to({"no_type": 1})
    assert (await communicator.receive_json_from())["code"] == "invalid_message"
    await communicator.send_json_to({"type": "launch_missiles", "request_id": "x"})
    error = await communicator.receive_json_from()
    assert error["code"] == "unknown_type" and error["request_id"] == "x"
    await communicator.send_json_to({"type": "ping", "request_id": "still-here"})
    assert (await communicator.receive_json_from())["type"] == "pong"
    await communicator.disconnect()


async def test_a_group_message_reaches_the_user_but_not_the_socket_that_caused_it(personas_async):
    first = await connected(personas_async.annotator)
    second = await connected(personas_async.annotator)
    layer = get_channel_layer()
    group = events.user_group(personas_async.annotator.id)
    await layer.group_send(group, events.push_message(QueueChanged(project=7, added=1)))
    assert await first.receive_json_from() == {"type": "queue.changed", "project": 7, "added": 1}
    assert await second.receive_json_from() == {"type": "queue.changed", "project": 7, "added": 1}
    channels = list(layer.groups[group].keys())
    assert len(channels) == 2
    for n, channel in enumerate(channels):
        await layer.group_send(group, events.push_message(QueueChanged(project=n), skip_channel=channel))
    # Each socket receives exactly the message that did not skip it.
    got_first = await first.receive_json_from()
    got_second = await second.receive_json_from()
    assert got_first["project"] != got_second["project"]
    assert await first.receive_nothing() and await second.receive_nothing()
    await first.disconnect()
    await second.disconnect()


async def test_a_deeply_nested_message_is_refused_and_the_socket_stays_open(personas_async):
    communicator = await connected(personas_async.annotator)
    # When a client sends JSON nested deeper than the parser's stack (it closed the socket with 1011)
    await communicator.send_to(text_data="[" * 100_000 + "]" * 100_000)
    # Then it gets an error, and the socket still answers
    error = await communicator.receive_json_from()
    assert (error["type"], error["code"]) == ("error", "invalid_message")
    await communicator.send_to(text_data='{"type": "prompt", "box": ' + "[" * 600 + "]" * 600 + "}")
    assert (await communicator.receive_json_from())["code"] == "invalid_message"
    await communicator.send_json_to({"type": "ping", "request_id": "after"})
    assert await communicator.receive_json_from() == {"type": "pong", "request_id": "after"}
    await communicator.disconnect()


async def test_an_oversized_message_is_refused_before_parsing(personas_async):
    from annotator.consumers import MAX_MESSAGE_CHARS

    communicator = await connected(personas_async.annotator)
    await communicator.send_to(text_data='{"type": "ping", "pad": "' + "x" * MAX_MESSAGE_CHARS + '"}')
    assert (await communicator.receive_json_from())["code"] == "too_large"
    await communicator.send_json_to({"type": "ping", "request_id": "after"})
    assert (await communicator.receive_json_from())["type"] == "pong"
    await communicator.disconnect()
