"""Prompts over the WebSocket, at the consumer: permission at subscribe, validation, rate limits."""

from __future__ import annotations

import numpy as np
import pytest
from channels.testing import WebsocketCommunicator

from annotator import consumers, scheduling, segmentation
from tests.segmentation.conftest import make_series
from webapp.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def sent(monkeypatch, redis_url):
    """Prompts handed to the workers (the Celery send is replaced; everything before it is real)."""
    calls: list[dict] = []

    def decoded_at_once(request) -> None:  # a worker that is done at once (nothing stays in flight)
        calls.append(request.model_dump(mode="json"))
        segmentation.prompt_done(request)

    monkeypatch.setattr(segmentation, "send_decode", decoded_at_once)
    monkeypatch.setattr(consumers, "start_embedding_runners", lambda: None)
    monkeypatch.setattr(scheduling, "embeddings_key", lambda name=None: "test-model")
    return calls


@pytest.fixture
def ct(personas):
    return make_series(personas.project, np.zeros((5, 32, 48), dtype=np.int16))


async def connect(user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/", headers=[(b"origin", b"http://localhost")])
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"
    return communicator


async def subscribe(communicator, series_id: int) -> dict:
    await communicator.send_json_to(
        {"type": "subscribe", "request_id": "s", "scope": {"kind": "series", "id": series_id}}
    )
    reply = await communicator.receive_json_from()
    if reply["type"] == "subscribed":  # then everyone on the series, this socket too, hears who is there
        assert (await communicator.receive_json_from())["type"] == "presence"
    return reply


async def test_a_member_subscribes_and_gets_the_series_shape_and_presence(personas_async, ct, sent):
    communicator = await connect(personas_async.annotator)
    reply = await subscribe(communicator, ct.id)
    assert reply["type"] == "subscribed" and reply["request_id"] == "s"
    assert reply["series"]["shape"] == [5, 32, 48]
    assert reply["embeddings"] == {"preset": "soft_tissue", "ready": [], "total": 5}
    assert [u["username"] for u in reply["presence"]] == ["anna_annotator"]
    await communicator.disconnect()


async def test_an_outsider_cannot_subscribe_or_prompt(personas_async, ct, sent):
    communicator = await connect(personas_async.outsider)
    reply = await subscribe(communicator, ct.id)
    assert reply["type"] == "error" and reply["code"] == "not_found"
    await communicator.send_json_to(
        {"type": "prompt", "request_id": "p", "series_id": ct.id, "slice_index": 0, "box": [1, 1, 9, 9]}
    )
    error = await communicator.receive_json_from()
    assert error["code"] == "not_subscribed"
    assert sent == []
    await communicator.disconnect()


async def test_a_valid_box_prompt_is_handed_to_the_interactive_workers(personas_async, ct, sent):
    communicator = await connect(personas_async.annotator)
    await subscribe(communicator, ct.id)
    await communicator.send_json_to(
        {"type": "prompt", "request_id": "p1", "series_id": ct.id, "slice_index": 2, "box": [4, 5, 20, 25]}
    )
    assert await communicator.receive_nothing(timeout=0.2)
    (request,) = sent
    assert request["request_id"] == "p1" and request["box"] == [4, 5, 20, 25]
    assert request["image_shape"] == [32, 48] and request["preset"] == "soft_tissue"
    assert request["user_id"] == personas_async.annotator.id
    await communicator.disconnect()


@pytest.mark.parametrize(
    "prompt, code, words",
    [
        ({"box": [10, 10, 5, 20]}, "invalid_message", "x0 < x1"),
        ({"box": [1, 2, 3]}, "invalid_message", "box"),
        ({"box": ["NaN", 1, 5, 5]}, "invalid_message", "finite"),
        ({"points": [[3, 4]]}, "invalid_message", "label"),
        ({}, "invalid_message", "box or at least one point"),
        ({"box": [100, 100, 200, 200]}, "invalid_prompt", "outside the 48×32 image"),
        ({"points": [[60, 4]], "point_labels": [1]}, "invalid_prompt", "outside"),
        ({"box": [1, 1, 5, 5], "slice_index": 7}, "invalid_message", "outside the series"),
    ],
)
async def test_malformed_prompts_get_an_error_and_the_socket_stays_usable(
    personas_async, ct, sent, prompt, code, words
):
    communicator = await connect(personas_async.annotator)
    await subscribe(communicator, ct.id)
    await communicator.send_json_to(
        {"type": "prompt", "request_id": "bad", "series_id": ct.id, "slice_index": 0, **prompt}
    )
    error = await communicator.receive_json_from()
    assert error["type"] == "error" and error["code"] == code and error["request_id"] == "bad"
    assert words in error["message"]
    await communicator.send_json_to({"type": "ping", "request_id": "alive"})
    assert (await communicator.receive_json_from())["type"] == "pong"
    assert sent == []
    await communicator.disconnect()


async def test_a_flood_of_prompts_is_rate_limited(personas_async, ct, sent):
    communicator = await connect(personas_async.annotator)
    await subscribe(communicator, ct.id)
    for n in range(segmentation.PROMPT_BURST + 10):
        await communicator.send_json_to(
            {
                "type": "prompt",
                "request_id": f"f{n}",
                "series_id": ct.id,
                "slice_index": 0,
                "box": [1, 1, 9, 9],
            }
        )
    errors = []
    while not await communicator.receive_nothing(timeout=0.3):
        errors.append(await communicator.receive_json_from())
    assert errors and all(e["code"] == "rate_limited" for e in errors)
    assert segmentation.PROMPT_BURST <= len(sent) < segmentation.PROMPT_BURST + 10
    await communicator.disconnect()


async def test_presence_shows_who_else_is_viewing_the_series(personas_async, ct, sent):
    anna = await connect(personas_async.annotator)
    await subscribe(anna, ct.id)
    olivia = await connect(personas_async.owner)
    await subscribe(olivia, ct.id)
    presence = await anna.receive_json_from()
    assert presence["type"] == "presence"
    assert sorted(u["username"] for u in presence["users"]) == ["anna_annotator", "olivia_owner"]
    await olivia.disconnect()
    presence = await anna.receive_json_from()
    assert [u["username"] for u in presence["users"]] == ["anna_annotator"]
    await anna.disconnect()


async def test_a_job_is_cancelled_from_the_socket_by_its_creator_only(personas_async, ct, sent):
    from channels.db import database_sync_to_async

    from annotator.models import Job

    job = await database_sync_to_async(Job.objects.create)(
        kind="propagate", created_by=personas_async.annotator, project=personas_async.project, state="running"
    )
    outsider = await connect(personas_async.outsider)
    await outsider.send_json_to({"type": "cancel_job", "request_id": "c0", "job_id": job.id})
    assert (await outsider.receive_json_from())["code"] == "not_found"
    await outsider.disconnect()
    annotator = await connect(personas_async.annotator)
    await annotator.send_json_to({"type": "cancel_job", "request_id": "c1", "job_id": job.id})
    replies = [await annotator.receive_json_from(), await annotator.receive_json_from()]
    mine = next(r for r in replies if r.get("request_id") == "c1")
    assert mine["type"] == "job.progress" and mine["job"]["state"] == "cancelled"
    await annotator.disconnect()


async def test_a_propagation_from_a_forged_mask_is_refused_and_starts_no_job(
    personas_async, ct, sent, monkeypatch
):
    from channels.db import database_sync_to_async

    from annotator.models import Job
    from webapp.celery import app as celery_app

    queued: list = []
    monkeypatch.setattr(celery_app, "send_task", lambda *a, **k: queued.append((a, k)))
    communicator = await connect(personas_async.annotator)
    await subscribe(communicator, ct.id)
    # Given run lengths that wrap around int64 to exactly 32 * 48 (the probe's crash, as a propagate mask)
    forged = {"size": [32, 48], "counts": [2**63 - 1, 2**63 - 1, 32 * 48 + 2]}
    await communicator.send_json_to(
        {"type": "propagate", "request_id": "pr", "series_id": ct.id, "slice_index": 1, "mask": forged}
    )
    error = await communicator.receive_json_from()
    assert error["type"] == "error" and error["request_id"] == "pr" and error["code"] == "invalid_input"
    assert "counts must be integers" in error["message"]
    assert await database_sync_to_async(Job.objects.count)() == 0 and queued == []
    await communicator.send_json_to({"type": "ping", "request_id": "alive"})
    assert (await communicator.receive_json_from())["type"] == "pong"
    await communicator.disconnect()


async def subscribe_to_assignment(communicator, series_id: int, assignment_id: int) -> dict:
    await communicator.send_json_to(
        {
            "type": "subscribe",
            "request_id": "sa",
            "scope": {"kind": "series", "id": series_id},
            "assignment_id": assignment_id,
        }
    )
    return await communicator.receive_json_from()


async def test_a_subscription_names_the_assignment_its_annotator_works_on_or_a_reviewer_reviews(
    personas_async, ct, sent
):
    from channels.db import database_sync_to_async

    from annotator.models import Assignment, Task

    @database_sync_to_async
    def make_assignments():
        other_series = make_series(personas_async.project, np.zeros((2, 4, 4), dtype=np.int16))
        task = Task.objects.create(project=personas_async.project, series=ct)
        elsewhere = Task.objects.create(project=personas_async.project, series=other_series)
        annas = Assignment.objects.create(task=task, annotator=personas_async.annotator)
        olivias = Assignment.objects.create(task=task, annotator=personas_async.owner)
        other = Assignment.objects.create(task=elsewhere, annotator=personas_async.annotator)
        return annas, olivias, other

    annas, olivias, other = await make_assignments()
    anna = await connect(personas_async.annotator)
    # Given Anna's own assignment on the series, she subscribes with it
    reply = await subscribe_to_assignment(anna, ct.id, annas.id)
    assert reply["type"] == "subscribed"
    # but not with a colleague's assignment, nor with her assignment on another series
    for foreign in (olivias.id, other.id):
        reply = await subscribe_to_assignment(anna, ct.id, foreign)
        while reply["type"] == "presence":
            reply = await anna.receive_json_from()
        assert reply["type"] == "error" and reply["code"] == "not_found", reply
    await anna.disconnect()
    # A reviewer opens Anna's assignment to review it
    rita = await connect(personas_async.reviewer)
    reply = await subscribe_to_assignment(rita, ct.id, annas.id)
    assert reply["type"] == "subscribed"
    await rita.disconnect()


# Planes (issue 15): the series is 5 slices of 2 mm with 1 mm pixels, so coronal slices are 32 of 10 × 48.
async def test_a_box_on_a_coronal_slice_is_checked_against_the_resampled_plane(personas_async, ct, sent):
    communicator = await connect(personas_async.annotator)
    await subscribe(communicator, ct.id)
    prompt = {"type": "prompt", "series_id": ct.id, "plane": "coronal", "box": [4, 1, 20, 9]}
    await communicator.send_json_to({**prompt, "request_id": "c1", "slice_index": 31})
    assert await communicator.receive_nothing(timeout=0.2)
    (request,) = sent
    assert request["plane"] == "coronal" and request["image_shape"] == [10, 48]
    await communicator.send_json_to({**prompt, "request_id": "c2", "slice_index": 32})
    error = await communicator.receive_json_from()
    assert error["code"] == "invalid_message" and "outside the coronal plane (0–31)" in error["message"]
    await communicator.send_json_to({**prompt, "request_id": "c3", "slice_index": 0, "box": [1, 11, 5, 20]})
    assert "outside the 48×10 image" in (await communicator.receive_json_from())["message"]
    await communicator.disconnect()


async def test_viewing_another_plane_answers_which_of_its_slices_are_embedded(personas_async, ct, sent):
    scheduling.scheduler().mark_ready(ct.id, "soft_tissue", 40, "sagittal")
    communicator = await connect(personas_async.annotator)
    await subscribe(communicator, ct.id)
    await communicator.send_json_to(
        {"type": "view", "series_id": ct.id, "slice_index": 41, "plane": "sagittal"}
    )
    state = await communicator.receive_json_from()
    assert state == {
        "type": "embeddings.state",
        "series_id": ct.id,
        "plane": "sagittal",
        "preset": "soft_tissue",
        "ready": [40],
        "total": 48,
    }
    presence = await communicator.receive_json_from()
    assert presence["users"] == [{"username": "anna_annotator", "slice_index": 41, "plane": "sagittal"}]
    # Scrolling on in the same plane needs no new answer; only presence follows.
    await communicator.send_json_to(
        {"type": "view", "series_id": ct.id, "slice_index": 42, "plane": "sagittal"}
    )
    assert (await communicator.receive_json_from())["type"] == "presence"
    await communicator.send_json_to(
        {"type": "view", "series_id": ct.id, "slice_index": 48, "plane": "sagittal"}
    )
    assert (await communicator.receive_json_from())["code"] == "invalid_message"
    await communicator.disconnect()
