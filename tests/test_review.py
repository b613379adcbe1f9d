"""Review: approvals fix the revision that exports and the active-learning loop use, comments pinned to a
slice and a position (who writes and reads them, what a pin must be), requesting changes, agreement numbers
and consensus masks on known masks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.utils import timezone

from annotator import rle
from annotator.actions.masks import SaveRequest, do_save_revision
from annotator.actions.review import approved_masks
from annotator.models import Assignment, MaskTrack, ReviewComment, Role, Task
from tests.factories import UserFactory
from tests.segmentation.conftest import make_series
from tests.test_export import download, export


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def box(z: int, y0: int, x0: int, size: int, shape=(4, 8, 8)) -> np.ndarray:
    volume = np.zeros(shape, dtype=bool)
    volume[z, y0 : y0 + size, x0 : x0 + size] = True
    return volume


def save(user, series, label, volume: np.ndarray, base=None):
    slices = {z: volume[z] for z in range(volume.shape[0]) if volume[z].any()} or {0: volume[0]}
    return do_save_revision(user, series, label, Role.ANNOTATOR, SaveRequest(base, "manual", slices))


@pytest.fixture
def case(personas, media):
    """A case given to Anna and Ben, both submitted with a mask of the liver."""
    project = personas.project
    ben = project.memberships.create(user=UserFactory(username="ben"), role=Role.ANNOTATOR).user
    series = make_series(project, np.zeros((4, 8, 8), dtype=np.int16))
    liver = project.labels.create(name="liver", value=1, color="#ff0000")
    task = Task.objects.create(project=project, series=series)
    task.labels.set([liver])
    anna = Assignment.objects.create(task=task, annotator=personas.annotator, state="submitted")
    bens = Assignment.objects.create(task=task, annotator=ben, state="submitted")
    save(personas.annotator, series, liver, box(2, 1, 1, 4))
    save(ben, series, liver, box(2, 2, 2, 4))
    return task, series, liver, anna, bens, ben


def act(personas, who, assignment, action, **body):
    return personas.client_for(who).post(
        f"/api/assignments/{assignment.id}/{action}/", body, content_type="application/json"
    )


def exported_folders(client, job) -> dict[str, list[str]]:
    archive = download(client, job)
    manifest = json.loads(archive.read("manifest.json"))
    return {str(entry["id"]): sorted(entry["annotators"]) for entry in manifest["series"]}


# -- approvals and what exports take ----------------------------------------------------------------------


def test_an_export_takes_only_approved_masks_by_default_and_every_head_on_request(
    personas, case, django_capture_on_commit_callbacks
):
    task, series, liver, anna, _, _ = case
    client = personas.client_for("owner")
    body = {"format": "nifti", "masks": "approved"}
    nothing = export(client, personas.project, body, django_capture_on_commit_callbacks)
    assert exported_folders(client, nothing) == {str(series.id): []}
    assert "No mask is approved yet" in nothing.message

    assert act(personas, "reviewer", anna, "approve").status_code == 200
    approved = export(client, personas.project, body, django_capture_on_commit_callbacks)
    assert exported_folders(client, approved) == {str(series.id): ["anna_annotator"]}
    everything = export(
        client, personas.project, {"format": "nifti", "masks": "all"}, django_capture_on_commit_callbacks
    )
    assert exported_folders(client, everything) == {str(series.id): ["anna_annotator", "ben"]}


def test_the_default_export_request_is_approved_only(personas, case):
    from annotator.actions.exports import ExportRequest

    assert ExportRequest(format="png").masks == "approved"


def test_an_approval_keeps_the_revision_approved_even_when_the_annotator_saves_again(personas, case):
    task, series, liver, anna, _, _ = case
    approved_head = MaskTrack.objects.get(series=series, label=liver, annotator=personas.annotator).head
    act(personas, "reviewer", anna, "approve")
    save(personas.annotator, series, liver, box(0, 0, 0, 2), base=approved_head.id)
    found = list(approved_masks(personas.project))
    assert [(s.id, lab.id, user.username, rev.id) for s, lab, user, rev in found] == [
        (series.id, liver.id, "anna_annotator", approved_head.id)
    ]


def test_approved_masks_include_the_consensus_without_an_annotator_and_leave_removed_labels_out(
    personas, case
):
    task, series, liver, anna, bens, _ = case
    act(personas, "reviewer", anna, "approve")
    response = personas.client_for("reviewer").post(
        f"/api/tasks/{task.id}/consensus/",
        {"label": liver.id, "method": "majority"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    found = [
        (user.username if user else None, rev.source) for _, _, user, rev in approved_masks(personas.project)
    ]
    assert found == [("anna_annotator", "manual"), (None, "consensus")]
    liver.removed_at = timezone.now()
    liver.save()
    assert list(approved_masks(personas.project)) == []


# -- comments ---------------------------------------------------------------------------------------------


def comment(personas, who, assignment, **body):
    return personas.client_for(who).post(
        f"/api/assignments/{assignment.id}/comments/", body, content_type="application/json"
    )


def test_a_reviewer_requests_changes_with_a_pinned_comment_and_the_case_returns_to_its_annotator(
    personas, case
):
    _, series, liver, anna, _, _ = case
    response = act(
        personas,
        "reviewer",
        anna,
        "request_changes",
        text="Include the left lobe.",
        slice_index=2,
        x=3.5,
        y=4.0,
        label=liver.id,
    )
    assert response.status_code == 200, response.content
    assert response.json()["assignment"]["state"] == "returned"
    assert response.json()["assignment"]["state_label"] == "Changes requested"
    pinned = response.json()["comment"]
    assert (pinned["slice_index"], pinned["x"], pinned["y"], pinned["requests_changes"]) == (
        2,
        3.5,
        4.0,
        True,
    )
    # Anna reads it with her case; she answers, then marks it resolved.
    case_body = personas.client_for("annotator").get(f"/api/assignments/{anna.id}/case/").json()
    assert [c["text"] for c in case_body["comments"]] == ["Include the left lobe."]
    assert comment(personas, "annotator", anna, text="Done, see slice 3.").status_code == 201
    resolved = personas.client_for("annotator").patch(
        f"/api/comments/{pinned['id']}/", {"resolved": True}, content_type="application/json"
    )
    assert resolved.json()["resolved"] is True and resolved.json()["resolved_by"] == "anna_annotator"


def test_a_colleague_cannot_read_or_write_comments_of_another_annotators_case(personas, case):
    _, _, _, anna, _, ben = case
    comment(personas, "reviewer", anna, text="Check slice 2.")
    other = personas.client_for("annotator")
    other.force_login(ben)
    missing = other.get("/api/assignments/999999/comments/")
    for response in (
        other.get(f"/api/assignments/{anna.id}/comments/"),
        other.get(f"/api/assignments/{anna.id}/case/"),
        other.post(f"/api/assignments/{anna.id}/comments/", {"text": "hi"}, content_type="application/json"),
    ):
        assert response.status_code == 404 and response.json() == missing.json()
    assert ReviewComment.objects.count() == 1
    assert personas.client_for("outsider").get(f"/api/assignments/{anna.id}/comments/").status_code == 404


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"text": "   "}, "needs some text"),
        ({"text": "x" * 2001}, "at most 2000"),
        ({"text": "here", "slice_index": 1}, "slice and both coordinates"),
        ({"text": "here", "slice_index": 4, "x": 1, "y": 1}, "outside the series"),
        ({"text": "here", "slice_index": 1, "x": 9, "y": 1}, "outside the image"),
        ({"text": "here", "slice_index": 1, "x": 1, "y": -1}, "outside the image"),
    ],
)
def test_bad_comments_are_refused_and_nothing_is_written(personas, case, body, fragment):
    anna = case[3]
    response = comment(personas, "reviewer", anna, **body)
    assert response.status_code == 400 and fragment in response.json()["error"]["message"]
    assert not ReviewComment.objects.exists()


def test_requesting_changes_needs_a_submitted_case_and_a_reviewer(personas, case):
    _, _, _, anna, _, _ = case
    assert act(personas, "annotator", anna, "request_changes", text="self-review").status_code == 403
    anna.state = Assignment.State.IN_PROGRESS
    anna.save()
    refused = act(personas, "reviewer", anna, "request_changes", text="too early")
    assert refused.status_code == 409
    assert not ReviewComment.objects.exists()


def test_sending_back_through_the_workflow_action_also_leaves_the_comment_for_the_viewer(personas, case):
    anna = case[3]
    assert (
        act(personas, "reviewer", anna, "send_back", comment="Redo the margin.").json()["state"] == "returned"
    )
    assert list(ReviewComment.objects.values_list("text", "requests_changes")) == [("Redo the margin.", True)]


# -- agreement and consensus ------------------------------------------------------------------------------


def test_agreement_gives_pairwise_dice_over_the_volume_and_per_slice(personas, case):
    task = case[0]
    body = personas.client_for("reviewer").get(f"/api/tasks/{task.id}/agreement/").json()
    (label,) = body["labels"]
    assert label["annotators"] == ["anna_annotator", "ben"]
    (pair,) = label["pairs"]
    # Two 4×4 squares on slice 2, shifted by one pixel each way: 9 shared voxels of 16 + 16.
    assert (pair["a"], pair["b"], pair["dice"], pair["slices"]) == (
        "anna_annotator",
        "ben",
        0.5625,
        {"2": 0.5625},
    )


@pytest.mark.parametrize(("persona", "status"), [("annotator", 403), ("outsider", 404), ("owner", 200)])
def test_agreement_and_consensus_are_for_reviewers_and_owners(personas, case, persona, status):
    task, _, liver, _, _, _ = case
    client = personas.client_for(persona)
    assert client.get(f"/api/tasks/{task.id}/agreement/").status_code == status
    built = client.post(
        f"/api/tasks/{task.id}/consensus/", {"label": liver.id}, content_type="application/json"
    )
    assert built.status_code == (201 if status == 200 else status)


def test_a_majority_consensus_of_two_is_their_intersection_saved_as_its_own_revision(personas, case):
    task, series, liver, _, _, _ = case
    client = personas.client_for("reviewer")
    response = client.post(
        f"/api/tasks/{task.id}/consensus/",
        {"label": liver.id, "method": "majority"},
        content_type="application/json",
    )
    revision = response.json()["revision"]
    assert (revision["source"], revision["author"], revision["number"]) == ("consensus", "rui_reviewer", 1)
    assert set(revision["inputs"]["revisions"]) == {"anna_annotator", "ben"}
    body = client.get(f"/api/series/{series.id}/masks/{liver.id}/", {"track": "consensus"}).json()
    assert body["track"] == "consensus" and body["annotator"] is None
    assert np.array_equal(rle.decode(body["slices"]["2"]), box(2, 2, 2, 3)[2])
    # The annotators' own masks are untouched.
    assert MaskTrack.objects.filter(kind="annotation", head__number=1).count() == 2


def test_a_staple_consensus_of_three_follows_the_two_that_agree(personas, case):
    task, series, liver, _, _, _ = case
    cleo = personas.project.memberships.create(user=UserFactory(username="cleo"), role=Role.ANNOTATOR).user
    Assignment.objects.create(task=task, annotator=cleo, state="submitted")
    save(cleo, series, liver, box(2, 1, 1, 4))  # agrees with Anna
    client = personas.client_for("reviewer")
    response = client.post(
        f"/api/tasks/{task.id}/consensus/",
        {"label": liver.id, "method": "staple"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    inputs = response.json()["revision"]["inputs"]
    assert inputs["method"] == "staple" and inputs["sensitivity"]["cleo"] == pytest.approx(1.0, abs=1e-3)
    body = client.get(f"/api/series/{series.id}/masks/{liver.id}/", {"track": "consensus"}).json()
    assert np.array_equal(rle.decode(body["slices"]["2"]), box(2, 1, 1, 4)[2])


def test_a_consensus_needs_two_annotators_masks_of_a_label_of_the_task(personas, case):
    task, _, liver, _, _, _ = case
    other = personas.project.labels.create(name="spleen", value=2, color="#00ff00")
    client = personas.client_for("reviewer")
    url = f"/api/tasks/{task.id}/consensus/"
    assert (
        "not part of this task"
        in client.post(url, {"label": other.id}, content_type="application/json").json()["error"]["message"]
    )
    task.labels.add(other)
    refused = client.post(url, {"label": other.id}, content_type="application/json")
    assert refused.status_code == 400 and "at least two annotators" in refused.json()["error"]["message"]
    assert not MaskTrack.objects.filter(kind="consensus").exists()


def test_under_independence_an_annotator_cannot_read_the_consensus(personas, case):
    task, series, liver, _, _, _ = case
    personas.project.settings = {"annotations_per_task": 2}
    personas.project.save()
    personas.client_for("reviewer").post(
        f"/api/tasks/{task.id}/consensus/", {"label": liver.id}, content_type="application/json"
    )
    url = f"/api/series/{series.id}/masks/{liver.id}/"
    hidden = personas.client_for("annotator").get(url, {"track": "consensus"})
    unknown = personas.client_for("annotator").get(url, {"annotator": "nobody_at_all"})
    assert hidden.status_code == 404 and hidden.json() == unknown.json()


def test_the_review_view_lists_each_annotators_head_with_a_colour(personas, case):
    task, _, liver, anna, bens, _ = case
    body = personas.client_for("reviewer").get(f"/api/tasks/{task.id}/review/").json()
    rows = {a["username"]: a for a in body["assignments"]}
    assert set(rows) == {"anna_annotator", "ben"}
    assert rows["anna_annotator"]["color"] != rows["ben"]["color"]
    assert rows["ben"]["masks"][str(liver.id)]["author"] == "ben"
    assert body["consensus"]["masks"][str(liver.id)] is None
    assert personas.client_for("annotator").get(f"/api/tasks/{task.id}/review/").status_code == 403


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_comment_reaches_the_cases_annotator_live_and_not_a_colleague(
    personas_async, media, redis_url, monkeypatch
):
    from asgiref.sync import sync_to_async

    from annotator import consumers, scheduling
    from tests.test_independence import subscribed

    monkeypatch.setattr(consumers, "start_embedding_runners", lambda: None)
    monkeypatch.setattr(scheduling, "embeddings_key", lambda name=None: "test-model")
    personas = personas_async

    def given():
        ben = personas.project.memberships.create(user=UserFactory(username="ben"), role=Role.ANNOTATOR).user
        series = make_series(personas.project, np.zeros((4, 8, 8), dtype=np.int16))
        task = Task.objects.create(project=personas.project, series=series)
        anna = Assignment.objects.create(task=task, annotator=personas.annotator, state="submitted")
        return ben, series, anna

    ben, series, anna_case = await sync_to_async(given)()
    anna = await subscribed(personas.annotator, series.id)
    bens = await subscribed(ben, series.id)

    def reviewer_comments():
        client = personas.client_for("reviewer")
        return client.post(
            f"/api/assignments/{anna_case.id}/request_changes/",
            {"text": "Missed the tip.", "slice_index": 1, "x": 2, "y": 3},
            content_type="application/json",
        )

    assert (await sync_to_async(reviewer_comments)()).status_code == 200
    while (message := await anna.receive_json_from(timeout=2))["type"] != "comment.created":
        pass
    assert (message["comment"]["text"], message["comment"]["slice_index"]) == ("Missed the tip.", 1)
    received = []
    while not await bens.receive_nothing(timeout=0.5):
        received.append((await bens.receive_json_from())["type"])
    assert "comment.created" not in received
    await anna.disconnect()
    await bens.disconnect()
