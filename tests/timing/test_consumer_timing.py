"""The socket side of issue 12 (communicator tests against the real ASGI app): interaction events are
stored and acknowledged once per sequence number, and a manual-condition study task gets no model."""

from __future__ import annotations

import numpy as np
import pytest
from channels.db import database_sync_to_async

from annotator.actions import user_studies
from annotator.models import Assignment, InteractionEvent, Job, Label, Membership, Role, StudyTask
from tests.factories import UserFactory
from tests.segmentation.conftest import make_series
from tests.segmentation.test_consumer_prompts import connect
from tests.timing.conftest import events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def study(personas):
    """Anna and Ben in a two-case study: each does one case manually and the other with the model."""
    project = personas.project
    ben = UserFactory(username="ben_annotator")
    Membership.objects.create(project=project, user=ben, role=Role.ANNOTATOR)
    label = Label.objects.create(project=project, name="liver", value=1, color="#ff0000")
    series = [make_series(project, np.zeros((5, 32, 48), dtype=np.int16)) for _ in range(2)]
    created = user_studies.do_create_study(
        personas.owner,
        project,
        user_studies.StudyRequest(
            name="Liver timing",
            cases=[(s.id, label.id) for s in series],
            participants=[personas.annotator.id, ben.id],
            seed=5,
        ),
    )
    runs = {t.condition: t for t in StudyTask.objects.filter(study=created, participant=personas.annotator)}
    return {"label": label, "manual": runs["manual"], "assisted": runs["assisted"]}


async def subscribe(communicator, series_id: int, assignment_id: int | None = None) -> dict:
    message = {"type": "subscribe", "request_id": "s", "scope": {"kind": "series", "id": series_id}}
    if assignment_id is not None:
        message["assignment_id"] = assignment_id
    await communicator.send_json_to(message)
    reply = await communicator.receive_json_from()
    assert reply["type"] == "subscribed", reply
    assert (await communicator.receive_json_from())["type"] == "presence"
    return reply


def box(series_id: int, request_id: str) -> dict:
    return {
        "type": "prompt",
        "request_id": request_id,
        "series_id": series_id,
        "slice_index": 2,
        "box": [4, 5, 20, 25],
    }


@database_sync_to_async
def series_of(run: StudyTask) -> int:
    return run.case.series_id


async def test_the_manual_condition_refuses_prompts_and_propagation_over_the_socket(
    personas_async, study, sent
):
    manual_series = await series_of(study["manual"])
    anna = await connect(personas_async.annotator)
    await subscribe(anna, manual_series, study["manual"].assignment_id)
    await anna.send_json_to(box(manual_series, "p1"))
    error = await anna.receive_json_from()
    assert error["type"] == "error" and error["code"] == "model_disabled" and error["request_id"] == "p1"
    assert "manual task of the timing study “Liver timing”" in error["message"]
    await anna.send_json_to(
        {
            "type": "propagate",
            "request_id": "g1",
            "series_id": manual_series,
            "slice_index": 2,
            "box": [4, 5, 20, 25],
        }
    )
    assert (await anna.receive_json_from())["code"] == "model_disabled"
    assert sent == [] and await database_sync_to_async(Job.objects.count)() == 0
    await anna.disconnect()
    # Opening the same series without the task's link does not get the model either
    anna = await connect(personas_async.annotator)
    await subscribe(anna, manual_series)
    await anna.send_json_to(box(manual_series, "p2"))
    assert (await anna.receive_json_from())["code"] == "model_disabled" and sent == []
    await anna.disconnect()


async def test_the_assisted_condition_and_the_finished_manual_task_get_the_model(personas_async, study, sent):
    assisted_series = await series_of(study["assisted"])
    anna = await connect(personas_async.annotator)
    await subscribe(anna, assisted_series, study["assisted"].assignment_id)
    await anna.send_json_to(box(assisted_series, "p3"))
    assert await anna.receive_nothing(timeout=0.2)
    assert [r["request_id"] for r in sent] == ["p3"]
    await anna.disconnect()
    # Once the manual task is submitted, the series is an ordinary one again for Anna
    await database_sync_to_async(Assignment.objects.filter(pk=study["manual"].assignment_id).update)(
        state=Assignment.State.SUBMITTED
    )
    manual_series = await series_of(study["manual"])
    anna = await connect(personas_async.annotator)
    await subscribe(anna, manual_series)
    await anna.send_json_to(box(manual_series, "p4"))
    assert await anna.receive_nothing(timeout=0.2)
    assert [r["request_id"] for r in sent] == ["p3", "p4"]
    await anna.disconnect()


async def test_events_sent_over_the_socket_are_acknowledged_and_stored_once(personas_async, study, sent):
    run = study["manual"]
    series_id = await series_of(run)
    anna = await connect(personas_async.annotator)
    await subscribe(anna, series_id, run.assignment_id)
    batch = events(series_id, study["label"].id, (0, "page.open"), (3, "brush", {"duration_ms": 2000}))
    await anna.send_json_to(
        {"type": "log", "request_id": "l1", "session": "socket-session-1", "events": batch}
    )
    assert await anna.receive_json_from() == {
        "type": "log.ack",
        "request_id": "l1",
        "stored": 2,
        "duplicates": 0,
    }
    # After a reconnect the unacknowledged batch is sent again, with a new event
    await anna.disconnect()
    anna = await connect(personas_async.annotator)
    await subscribe(anna, series_id, run.assignment_id)
    batch += events(series_id, study["label"].id, (5, "undo"), start_seq=2)
    await anna.send_json_to(
        {"type": "log", "request_id": "l2", "session": "socket-session-1", "events": batch}
    )
    assert await anna.receive_json_from() == {
        "type": "log.ack",
        "request_id": "l2",
        "stored": 1,
        "duplicates": 2,
    }
    stored = await database_sync_to_async(
        lambda: list(
            InteractionEvent.objects.order_by("seq").values_list("seq", "assignment_id", "transport")
        )
    )()
    # the subscription's task assignment is given to events that do not name one
    assert stored == [
        (0, run.assignment_id, "socket"),
        (1, run.assignment_id, "socket"),
        (2, run.assignment_id, "socket"),
    ]
    # A malformed batch is an error and the socket stays usable
    await anna.send_json_to({"type": "log", "request_id": "l3", "session": "x", "events": batch})
    error = await anna.receive_json_from()
    assert error["code"] == "invalid_message" and "session" in error["message"]
    await anna.disconnect()
