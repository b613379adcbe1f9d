"""The whole stack in real processes: Redis, a Celery worker, Daphne; a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import websockets
from celery import Celery

from scripts.livestack import LiveStack, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack():
    live = LiveStack()
    try:
        live.start_redis()
        live.start_web()
        live.start_workers()
        live.create_user("ines", "integration-pass")
        yield live
    finally:
        live.stop_all()


def client_app(stack: LiveStack) -> Celery:
    return Celery("test-client", broker=stack.redis_url, backend=stack.redis_url)


def test_a_task_sent_to_the_interactive_queue_comes_back_from_the_worker(stack):
    token = uuid.uuid4().hex
    result = client_app(stack).send_task("annotator.tasks.ping", args=[token], queue="interactive")
    assert result.get(timeout=60) == {"pong": token}


def test_a_message_sent_by_the_worker_reaches_the_users_websocket(stack):
    jar = stack.login("ines", "integration-pass")
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    note = uuid.uuid4().hex

    async def scenario() -> dict:
        async with websockets.connect(
            stack.ws_url, additional_headers={"Cookie": cookie}, origin=stack.base_url
        ) as socket:
            hello = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert hello["type"] == "hello" and hello["user"] == "ines"
            envelope = {"type": "push", "payload": {"type": "note", "text": note}, "skip_channel": None}
            client_app(stack).send_task(
                "annotator.tasks.notify_group",
                args=[f"user.{hello['user_id']}", envelope],
                queue="interactive",
            )
            return json.loads(await asyncio.wait_for(socket.recv(), 30))

    assert asyncio.run(scenario()) == {"type": "note", "text": note}


def test_a_websocket_from_a_foreign_origin_is_refused(stack):
    jar = stack.login("ines", "integration-pass")
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)

    async def scenario() -> None:
        async with websockets.connect(
            stack.ws_url, additional_headers={"Cookie": cookie}, origin="http://evil.example"
        ) as socket:
            await socket.recv()

    with pytest.raises(websockets.exceptions.InvalidStatus):
        asyncio.run(scenario())


def test_healthz_shows_the_live_worker_and_model_then_503_when_the_worker_stops(stack):
    wait_until(lambda: stack.get_json("/healthz")[0] == 200, "healthy stack", 60)
    status, report = stack.get_json("/healthz")
    assert report["database"]["ok"] and report["redis"]["ok"]
    for queue in ("interactive", "embed", "train"):
        assert report["workers"]["queues"][queue], f"no worker listed for {queue}"
    assert report["model"]["name"] == "lite_medsam"
    assert report["model"]["checkpoint_sha256"] == (
        "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"
    )
    assert report["model"]["device"] == "cpu"

    stack.stop("worker-interactive")
    status, report = stack.get_json("/healthz")
    assert status == 503
    assert report["status"] == "unavailable"
    assert report["workers"]["error"] == "no live worker for queue(s): interactive"
    assert report["workers"]["queues"]["embed"], "the embed worker is still up"
