"""Per-user limits (probe finding 15): one prompt budget for all of a user's sockets, a bound on each user's
prompts in flight on the shared interactive queue, and an upload rate per user."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from annotator import consumers, scheduling, segmentation, tasks
from annotator.messages import DecodeRequest
from annotator.models import Series
from tests.segmentation.conftest import make_series
from webapp.asgi import application


@pytest.fixture
def queue(monkeypatch, redis_url) -> list[DecodeRequest]:
    """The interactive queue: prompts handed to the workers stay there until ``finish`` (everything before
    the Celery send is real)."""
    queued: list[DecodeRequest] = []
    monkeypatch.setattr(segmentation, "send_decode", queued.append)
    monkeypatch.setattr(consumers, "start_embedding_runners", lambda: None)
    monkeypatch.setattr(scheduling, "embeddings_key", lambda name=None: "test-model")
    return queued


def finish(request: DecodeRequest) -> None:
    """What the worker does when a prompt is decoded (or superseded, or failed)."""
    segmentation.prompt_done(request)


@pytest.fixture
def ct(personas, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return make_series(personas.project, np.zeros((3, 16, 16), dtype=np.int16))


async def socket_on(user: Any, series_id: int) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/", headers=[(b"origin", b"http://localhost")])
    communicator.scope["user"] = user
    assert (await communicator.connect())[0]
    assert (await communicator.receive_json_from())["type"] == "hello"
    await communicator.send_json_to({"type": "subscribe", "scope": {"kind": "series", "id": series_id}})
    while (await communicator.receive_json_from())["type"] != "presence":
        pass
    return communicator


async def prompts(communicator: WebsocketCommunicator, series_id: int, count: int, tag: str) -> list[str]:
    """Send ``count`` prompts; the codes of the errors they got."""
    for n in range(count):
        await communicator.send_json_to(
            {
                "type": "prompt",
                "request_id": f"{tag}{n}",
                "series_id": series_id,
                "slice_index": 0,
                "box": [1, 1, 9, 9],
            }
        )
    codes = []
    while not await communicator.receive_nothing(timeout=0.3):
        reply = await communicator.receive_json_from()
        if reply["type"] == "error":
            codes.append(reply["code"])
    return codes


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_user_with_many_sockets_has_one_prompt_budget_and_another_user_is_served(
    personas_async, ct, queue, monkeypatch
):
    # Given workers that finish each prompt at once (only the rate counts here), and a budget of a burst
    # of 10 that refills too slowly to matter during the test
    monkeypatch.setattr(segmentation, "send_decode", lambda request: (queue.append(request), finish(request)))
    monkeypatch.setattr(segmentation, "PROMPT_BURST", 10)
    monkeypatch.setattr(segmentation, "PROMPT_RATE_PER_S", 0.001)
    # When the annotator floods from five sockets, 6 prompts each
    sockets = [await socket_on(personas_async.annotator, ct.id) for _ in range(5)]
    refused = [code for n, s in enumerate(sockets) for code in await prompts(s, ct.id, 6, f"a{n}-")]
    # Then one burst is handed on in all (a socket each used to have its own), the rest refused
    flood = [r for r in queue if r.user_id == personas_async.annotator.id]
    assert len(flood) == 10 and refused == ["rate_limited"] * 20
    # and the owner, on the same series, is served at once
    owner = await socket_on(personas_async.owner, ct.id)
    assert await prompts(owner, ct.id, 3, "o") == []
    assert [r.request_id for r in queue if r.user_id == personas_async.owner.id] == ["o0", "o1", "o2"]
    for communicator in [*sockets, owner]:
        await communicator.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_each_user_has_a_bounded_number_of_prompts_in_flight_on_the_shared_queue(
    personas_async, ct, queue
):
    # Given a slow interactive queue: the annotator's prompts wait, undecoded, from two sockets
    first = await socket_on(personas_async.annotator, ct.id)
    second = await socket_on(personas_async.annotator, ct.id)
    cap = segmentation.PROMPTS_IN_FLIGHT.cap
    assert await prompts(first, ct.id, cap // 2, "f") == []
    assert await prompts(second, ct.id, cap - cap // 2, "s") == []
    # When they send one more, from either socket
    assert await prompts(second, ct.id, 1, "over") == ["rate_limited"]
    # Then it is refused, while the owner's prompt joins the queue right behind theirs
    owner = await socket_on(personas_async.owner, ct.id)
    assert await prompts(owner, ct.id, 1, "o") == []
    assert len(queue) == cap + 1 and queue[-1].user_id == personas_async.owner.id
    # and once a worker is done with one of the annotator's, they can prompt again
    await database_sync_to_async(finish)(queue[0])
    assert await prompts(first, ct.id, 1, "next") == []
    for communicator in (first, second, owner):
        await communicator.disconnect()


def test_the_worker_releases_a_prompt_even_when_decoding_fails(personas, ct, redis_url, monkeypatch):
    # Given a prompt counted in flight
    request = DecodeRequest(
        request_id="r1",
        user_id=personas.annotator.id,
        reply_channel="x",
        series_id=ct.id,
        slice_index=0,
        preset="soft_tissue",
        image_shape=(16, 16),
        box=[1, 1, 9, 9],
    )
    assert segmentation.PROMPTS_IN_FLIGHT.claim(request.user_id, request.request_id)
    from annotator import inference

    def broken(decode: DecodeRequest) -> None:
        raise RuntimeError("the model fell over")

    monkeypatch.setattr(inference, "decode_prompt", broken)
    # When the worker's task fails on it
    with pytest.raises(RuntimeError):
        tasks.decode_prompt(request.model_dump(mode="json"))
    # Then it no longer counts against the user
    key = segmentation.PROMPTS_IN_FLIGHT.key(request.user_id)
    assert scheduling.redis_client().zcard(key) == 0


def png_upload() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16)).save(buffer, format="PNG")
    return SimpleUploadedFile("image.png", buffer.getvalue(), content_type="image/png")


def test_uploads_are_limited_per_user_with_a_clear_429_and_nothing_imported(
    personas, settings, tmp_path, redis_url
):
    # Given a burst of two uploads a user
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.UPLOAD_BURST, settings.UPLOAD_RATE_PER_MINUTE = 2, 1
    owner = personas.client_for("owner")
    url = f"/api/projects/{personas.project.id}/imports/"
    # When the owner uploads three images in a row
    statuses = [owner.post(url, {"files": png_upload()}).status_code for _ in range(2)]
    refused = owner.post(url, {"files": png_upload()})
    # Then the third is refused with when to try again, and only two were imported
    assert statuses == [201, 201] and refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    assert Series.objects.filter(study__project=personas.project).count() == 2
    # and another owner's upload (to their own project) is not held back by it
    from annotator.models import Membership

    Membership.objects.create(project=personas.project, user=personas.outsider, role="owner")
    other = personas.client_for("outsider").post(url, {"files": png_upload()})
    assert other.status_code == 201
