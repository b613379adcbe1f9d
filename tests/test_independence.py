"""Independent readings: in a project asking for two annotations per case, an annotator reads no colleague's
mask before their own work is approved, through any door (mask reads, revision lists, the series' list,
restores, exports, the socket), and an unknown username is answered exactly like a forbidden one
(probe finding 13 of issue 13)."""

from __future__ import annotations

import numpy as np
import pytest
from channels.testing import WebsocketCommunicator

from annotator import consumers, scheduling
from annotator.actions.masks import SaveRequest, do_save_revision
from annotator.models import Assignment, Role, Task
from tests.factories import UserFactory
from tests.segmentation.conftest import make_series
from tests.test_export import download, export
from webapp.asgi import application


def square(y0: int, x0: int, size: int = 3, shape=(8, 8)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[y0 : y0 + size, x0 : x0 + size] = True
    return mask


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def team(personas, media):
    """Anna and Ben each have a copy of one case on a series (two annotations per case) and a saved mask."""
    project = personas.project
    project.settings = {"annotations_per_task": 2}
    project.save()
    ben = project.memberships.create(user=UserFactory(username="ben"), role=Role.ANNOTATOR).user
    series = make_series(project, np.zeros((4, 8, 8), dtype=np.int16))
    label = project.labels.create(name="liver", value=1, color="#ff0000")
    task = Task.objects.create(project=project, series=series)
    task.labels.set([label])
    anna_case = Assignment.objects.create(task=task, annotator=personas.annotator, state="submitted")
    Assignment.objects.create(task=task, annotator=ben, state="submitted")
    revisions = {}
    for user, where in ((personas.annotator, (1, 1)), (ben, (4, 4))):
        saved = do_save_revision(
            user, series, label, Role.ANNOTATOR, SaveRequest(None, "manual", {2: square(*where)})
        )
        revisions[user.username] = saved
    return project, series, label, ben, anna_case, revisions


def get(personas, who, url, **params):
    return personas.client_for(who).get(url, params)


def mask_url(series, label) -> str:
    return f"/api/series/{series.id}/masks/{label.id}/"


def test_an_annotator_cannot_read_a_colleagues_mask_and_cannot_tell_it_from_an_unknown_name(personas, team):
    _, series, label, _, _, _ = team
    for url in (mask_url(series, label), mask_url(series, label) + "revisions/"):
        colleague = get(personas, "annotator", url, annotator="ben")
        unknown = get(personas, "annotator", url, annotator="nobody_at_all")
        outsider = get(personas, "annotator", url, annotator="oscar_outsider")
        assert colleague.status_code == unknown.status_code == outsider.status_code == 404
        assert colleague.json() == unknown.json() == outsider.json()
        # Her own mask reads as before.
        assert get(personas, "annotator", url).status_code == 200


def test_owners_and_reviewers_read_every_annotators_mask_but_not_unknown_names(personas, team):
    _, series, label, _, _, revisions = team
    for who in ("owner", "reviewer"):
        body = get(personas, who, mask_url(series, label), annotator="ben").json()
        assert body["annotator"] == "ben" and body["revision"]["id"] == revisions["ben"].id
        unknown = get(personas, who, mask_url(series, label), annotator="nobody_at_all")
        outsider = get(personas, who, mask_url(series, label), annotator="oscar_outsider")
        assert unknown.status_code == outsider.status_code == 404
        assert unknown.json() == outsider.json()


def test_the_series_mask_list_shows_an_annotator_only_her_own(personas, team):
    _, series, _, _, _, _ = team
    listed = get(personas, "annotator", f"/api/series/{series.id}/masks/").json()
    assert [m["annotator"] for m in listed] == ["anna_annotator"]
    everyone = get(personas, "reviewer", f"/api/series/{series.id}/masks/").json()
    assert sorted(m["annotator"] for m in everyone) == ["anna_annotator", "ben"]


def test_a_colleagues_revision_id_is_answered_like_a_missing_one(personas, team):
    _, series, label, _, _, revisions = team
    bens = revisions["ben"].id
    by_id = get(personas, "annotator", mask_url(series, label), revision=bens)
    missing = get(personas, "annotator", mask_url(series, label), revision=999_999)
    assert by_id.status_code == missing.status_code == 404 and by_id.json() == missing.json()
    restore = personas.client_for("annotator").post(
        mask_url(series, label) + f"revisions/{bens}/restore/", {}, content_type="application/json"
    )
    restore_missing = personas.client_for("annotator").post(
        mask_url(series, label) + "revisions/999999/restore/", {}, content_type="application/json"
    )
    assert restore.status_code == restore_missing.status_code == 404
    assert restore.json() == restore_missing.json()


def test_once_her_own_case_is_approved_an_annotator_sees_her_colleagues_masks(personas, team):
    _, series, label, _, anna_case, _ = team
    anna_case.state = Assignment.State.APPROVED
    anna_case.save()
    assert get(personas, "annotator", mask_url(series, label), annotator="ben").status_code == 200


def test_with_one_annotation_per_case_annotators_see_each_other_as_before(personas, team):
    project, series, label, _, _, _ = team
    project.settings = {}
    project.save()
    assert get(personas, "annotator", mask_url(series, label), annotator="ben").status_code == 200


def test_an_annotators_export_holds_only_her_own_masks(personas, team, django_capture_on_commit_callbacks):
    project = team[0]
    for who, expected in (("annotator", ["anna_annotator"]), ("owner", ["anna_annotator", "ben"])):
        client = personas.client_for(who)
        job = export(client, project, {"format": "nifti"}, django_capture_on_commit_callbacks)
        assert job.state == "done", job.error
        folders = {
            name.split("/")[1] for name in download(client, job).namelist() if name.startswith("series-")
        }
        assert sorted(folders) == expected, who


# -- the socket ---------------------------------------------------------------------------------------------


@pytest.fixture
def quiet_scheduler(monkeypatch, redis_url):
    monkeypatch.setattr(consumers, "start_embedding_runners", lambda: None)
    monkeypatch.setattr(scheduling, "embeddings_key", lambda name=None: "test-model")


async def subscribed(user, series_id: int) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/", headers=[(b"origin", b"http://localhost")])
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    await communicator.receive_json_from()  # hello
    await communicator.send_json_to({"type": "subscribe", "scope": {"kind": "series", "id": series_id}})
    assert (await communicator.receive_json_from())["type"] == "subscribed"
    return communicator


async def next_of(communicator: WebsocketCommunicator, kind: str, timeout: float = 2.0) -> dict:
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        if message["type"] == kind:
            return message


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_colleagues_save_reaches_the_reviewer_but_not_the_other_annotator(
    personas_async, media, quiet_scheduler
):
    from asgiref.sync import sync_to_async

    personas = personas_async

    def given():
        project = personas.project
        project.settings = {"annotations_per_task": 2}
        project.save()
        ben = project.memberships.create(user=UserFactory(username="ben"), role=Role.ANNOTATOR).user
        series = make_series(project, np.zeros((4, 8, 8), dtype=np.int16))
        label = project.labels.create(name="liver", value=1, color="#ff0000")
        return ben, series, label

    ben, series, label = await sync_to_async(given)()
    anna = await subscribed(personas.annotator, series.id)
    rui = await subscribed(personas.reviewer, series.id)

    def ben_saves():
        do_save_revision(ben, series, label, Role.ANNOTATOR, SaveRequest(None, "manual", {1: square(2, 2)}))

    await sync_to_async(ben_saves)()
    seen = await next_of(rui, "revision.created")
    assert seen["annotator"] == "ben"
    received = []
    while not await anna.receive_nothing(timeout=0.5):
        received.append((await anna.receive_json_from())["type"])
    assert "revision.created" not in received
    await anna.disconnect()
    await rui.disconnect()
