"""The interaction log over REST (JSON, and sendBeacon's form post with its CSRF token): stored once per
session and sequence number, refused whole when it names what is not the user's, never changed."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.test import Client

from annotator.models import InteractionEvent
from annotator.models.timing import AppendOnlyError
from tests.factories import LabelFactory, ProjectFactory
from tests.segmentation.conftest import make_series
from tests.timing.conftest import events

pytestmark = pytest.mark.django_db
URL = "/api/interactions/"


def post(client: Client, body: dict):
    return client.post(URL, body, content_type="application/json")


def test_a_batch_is_stored_and_sending_it_again_stores_nothing_more(personas, ct, liver):
    anna = personas.client_for("annotator")
    batch = {"session": "session-aaaa", "events": events(ct.id, liver.id, (0, "page.open"), (2, "prompt"))}
    first = post(anna, batch)
    assert first.status_code == 200 and first.json() == {"stored": 2, "duplicates": 0}
    # The socket dropped before the acknowledgement; the same batch and one new event come again
    batch["events"] += events(ct.id, liver.id, (5, "accept"), start_seq=2)
    again = post(anna, batch)
    assert again.json() == {"stored": 1, "duplicates": 2}
    stored = InteractionEvent.objects.filter(user=personas.annotator).order_by("seq")
    assert [(e.seq, e.kind, e.transport) for e in stored] == [
        (0, "page.open", "rest"),
        (1, "prompt", "rest"),
        (2, "accept", "rest"),
    ]
    assert stored[1].client_time.timestamp() == pytest.approx(1.7e9 + 2)


def test_the_beacon_posts_a_form_with_the_csrf_token_and_nothing_without_it(personas, ct, liver):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(personas.annotator)
    browser.get("/")  # the page sets the CSRF cookie, as the viewer's page does
    token = browser.cookies["csrftoken"].value
    payload = json.dumps({"session": "beacon-bbbb", "events": events(ct.id, liver.id, (0, "page.close"))})
    form = "application/x-www-form-urlencoded"  # what sendBeacon sends for URLSearchParams
    refused = browser.post(URL, urlencode({"payload": payload}), content_type=form)
    assert refused.status_code == 403 and not InteractionEvent.objects.exists()
    sent = browser.post(URL, urlencode({"payload": payload, "csrfmiddlewaretoken": token}), content_type=form)
    assert sent.status_code == 200 and sent.json()["stored"] == 1
    assert InteractionEvent.objects.get().transport == "beacon"


@pytest.mark.parametrize(
    "change, status, words",
    [
        (lambda e, other: e.update(series_id=other["series"].id), 404, "No such series"),
        (lambda e, other: e.update(label_id=other["label"].id), 400, "not a label of this series"),
        (lambda e, other: e.update(series_id=None), 400, "names the series"),
        (lambda e, other: e.update(kind="teleport"), 400, "kind"),
        (lambda e, other: e.update(t=-5), 400, "epoch"),
        (lambda e, other: e.update(revision_id=987654), 400, "not one of your masks"),
        (lambda e, other: e.update(assignment_id=987654), 404, "No such assignment"),
        # numbers the database cannot hold: bad input, not a server error
        (lambda e, other: e.update(seq=2**31), 400, "events.2.seq: Input should be less than or equal"),
        (lambda e, other: e.update(slice_index=2**31), 400, "events.2.slice_index: Input should be less"),
        (lambda e, other: e.update(label_id=2**70), 400, "events.2.label_id: Input should be less"),
    ],
)
def test_a_batch_naming_what_is_not_the_users_is_refused_whole(personas, ct, liver, change, status, words):
    elsewhere = ProjectFactory()
    other = {
        "series": make_series(elsewhere, __import__("numpy").zeros((2, 4, 4), dtype="int16")),
        "label": LabelFactory(project=elsewhere),
    }
    batch = events(ct.id, liver.id, (0, "page.open"), (1, "slice"), (2, "prompt"))
    change(batch[2], other)
    response = post(personas.client_for("annotator"), {"session": "session-cccc", "events": batch})
    assert response.status_code == status and words in response.json()["error"]["message"]
    assert not InteractionEvent.objects.exists()


def test_outsiders_and_anonymous_callers_log_nothing(personas, ct, liver):
    batch = {"session": "session-dddd", "events": events(ct.id, liver.id, (0, "page.open"))}
    assert post(personas.client_for("outsider"), batch).status_code == 404
    assert post(personas.client_for("anonymous"), batch).status_code == 403
    assert not InteractionEvent.objects.exists()


def test_the_log_is_append_only(personas, ct, liver):
    post(
        personas.client_for("annotator"),
        {"session": "session-eeee", "events": events(ct.id, liver.id, (0, "tool"))},
    )
    event = InteractionEvent.objects.get()
    event.kind = "undo"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    assert InteractionEvent.objects.get().kind == "tool"


def test_the_series_timing_gives_each_label_its_active_time_with_the_projects_threshold(personas, ct, liver):
    anna = personas.client_for("annotator")
    # 10 s of work, a 40 s pause, 5 s more; 15 s in another tab cut out of the next part
    stream = events(
        ct.id,
        liver.id,
        (0, "page.open"),
        (10, "brush"),
        (50, "brush"),
        (55, "hidden"),
        (70, "visible"),
        (72, "undo"),
    )
    post(anna, {"session": "session-ffff", "events": stream})
    timing = anna.get(f"/api/series/{ct.id}/timing/").json()
    assert timing["idle_threshold_s"] == 30.0
    mine = timing["labels"][str(liver.id)]
    assert mine["active_ms"] == 17_000 and mine["counts"]["brush"] == 2 and mine["model_used"] is False
    # The owner lengthens the threshold to a minute: the pause counts now
    olivia = personas.client_for("owner")
    assert (
        olivia.put(
            f"/api/projects/{personas.project.id}/timing/",
            {"idle_threshold_s": 60},
            content_type="application/json",
        ).status_code
        == 200
    )
    assert anna.get(f"/api/series/{ct.id}/timing/").json()["labels"][str(liver.id)]["active_ms"] == 57_000
    # Annotators cannot change it, and nonsense is refused
    assert (
        anna.put(
            f"/api/projects/{personas.project.id}/timing/",
            {"idle_threshold_s": 90},
            content_type="application/json",
        ).status_code
        == 403
    )
    bad = olivia.put(
        f"/api/projects/{personas.project.id}/timing/",
        {"idle_threshold_s": 1},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "between 5 and 600" in bad.json()["error"]["message"]
    # Nobody else's time shows up in Anna's numbers
    assert olivia.get(f"/api/series/{ct.id}/timing/").json()["labels"] == {}
