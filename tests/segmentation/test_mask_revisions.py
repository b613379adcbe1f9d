"""Saving masks as revisions over REST: never an overwrite, never a lost update."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.storage import default_storage

from annotator import rle
from annotator.actions.masks import read_first_predictions
from annotator.models import Label, MaskRevision, Project
from tests.segmentation.conftest import make_series


def square(y0: int, x0: int, size: int = 3, shape=(8, 8)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[y0 : y0 + size, x0 : x0 + size] = True
    return mask


def save(client, series, label, base, slices, **extra):
    body = {
        "base_revision": base,
        "source": "manual",
        "slices": {z: rle.encode(m) for z, m in slices.items()},
    }
    body.update(extra)
    return client.post(
        f"/api/series/{series.id}/masks/{label.id}/revisions/", body, content_type="application/json"
    )


def load(client, series, label, **params):
    return client.get(f"/api/series/{series.id}/masks/{label.id}/", params).json()


def test_a_saved_slice_is_read_back_and_each_save_is_a_new_revision(personas, series, label):
    client = personas.client_for("annotator")
    first = save(client, series, label, None, {1: square(1, 1)})
    assert first.status_code == 201, first.content
    second = save(client, series, label, first.json()["revision"]["id"], {2: square(4, 4)})
    assert second.status_code == 201, second.content
    assert second.json()["revision"]["number"] == 2

    body = load(client, series, label)
    assert body["revision"]["number"] == 2
    assert sorted(body["slices"]) == ["1", "2"]
    assert np.array_equal(rle.decode(body["slices"]["1"]), square(1, 1))
    assert np.array_equal(rle.decode(body["slices"]["2"]), square(4, 4))
    # The first revision is still there, unchanged.
    old = load(client, series, label, revision=first.json()["revision"]["id"])
    assert sorted(old["slices"]) == ["1"]


def test_saving_on_a_stale_base_is_refused_and_names_who_saved_in_between(personas, series, label):
    client = personas.client_for("annotator")
    base = save(client, series, label, None, {0: square(0, 0)}).json()["revision"]["id"]
    save(client, series, label, base, {1: square(2, 2)})  # the same user in another tab
    stale = save(client, series, label, base, {3: square(5, 5)})
    assert stale.status_code == 409
    assert "anna_annotator saved revision 2" in stale.json()["error"]["message"]
    assert MaskRevision.objects.count() == 2
    assert "3" not in load(client, series, label)["slices"]


def test_the_models_first_prediction_is_kept_beside_the_final_mask(personas, series, label):
    client = personas.client_for("annotator")
    predicted, final = square(1, 1, size=4), square(1, 1, size=3)
    response = save(
        client,
        series,
        label,
        None,
        {2: final},
        source="corrected",
        model_version="lite_medsam@79d8c9dc",
        first_predictions={2: rle.encode(predicted)},
        predicted_iou={2: 0.91},
    )
    assert response.status_code == 201, response.content
    revision = MaskRevision.objects.get()
    assert revision.source == "corrected" and revision.model_version == "lite_medsam@79d8c9dc"
    assert revision.predicted_iou == {"2": 0.91}
    assert np.array_equal(read_first_predictions(revision)[2], predicted)


def test_restoring_an_old_revision_creates_a_new_head_with_its_content(personas, series, label):
    client = personas.client_for("annotator")
    first = save(client, series, label, None, {0: square(0, 0)}).json()["revision"]
    second = save(client, series, label, first["id"], {0: square(4, 4)}).json()["revision"]
    response = client.post(
        f"/api/series/{series.id}/masks/{label.id}/revisions/{first['id']}/restore/",
        {"base_revision": second["id"]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    restored = response.json()["revision"]
    assert (
        restored["number"] == 3
        and restored["source"] == "restored"
        and restored["restored_from"] == first["id"]
    )
    assert np.array_equal(rle.decode(load(client, series, label)["slices"]["0"]), square(0, 0))
    assert MaskRevision.objects.count() == 3


@pytest.mark.parametrize(
    "slices, message",
    [
        ({9: {"size": [8, 8], "counts": [64]}}, "Slice 9 is outside"),
        ({0: {"size": [4, 4], "counts": [16]}}, "4×4 but the image is 8×8"),
        ({0: {"size": [8, 8], "counts": [3]}}, "cover 3 pixels"),
        ({}, "slices"),
    ],
)
def test_malformed_saves_are_refused_and_write_nothing(personas, series, label, slices, message):
    client = personas.client_for("annotator")
    before = set(default_storage.listdir("masks")[0]) if default_storage.exists("masks") else set()
    response = client.post(
        f"/api/series/{series.id}/masks/{label.id}/revisions/",
        {"base_revision": None, "source": "manual", "slices": slices},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert MaskRevision.objects.count() == 0
    after = set(default_storage.listdir("masks")[0]) if default_storage.exists("masks") else set()
    assert after == before


def test_a_label_from_another_project_cannot_be_used(personas, series):
    foreign = Label.objects.create(
        project=Project.objects.create(name="Other", created_by=personas.outsider),
        name="x",
        value=1,
        color="#000000",
    )
    response = save(personas.client_for("annotator"), series, foreign, None, {0: square(0, 0)})
    assert response.status_code == 404
    assert MaskRevision.objects.count() == 0


def test_reviewers_may_read_but_not_save_and_outsiders_see_nothing(personas, series, label):
    save(personas.client_for("annotator"), series, label, None, {0: square(0, 0)})
    reviewer = personas.client_for("reviewer")
    assert load(reviewer, series, label, annotator="anna_annotator")["revision"]["number"] == 1
    assert save(reviewer, series, label, None, {0: square(0, 0)}).status_code == 403
    outsider = personas.client_for("outsider")
    assert outsider.get(f"/api/series/{series.id}/masks/").status_code == 404
    assert save(outsider, series, label, None, {0: square(0, 0)}).status_code == 404
    assert personas.client_for("anonymous").get(f"/api/series/{series.id}/masks/").status_code in (401, 403)
    assert MaskRevision.objects.count() == 1


def test_a_mask_of_a_2d_image_has_one_slice(personas, label):
    image = make_series(personas.project, np.zeros((1, 6, 5, 3), np.uint8), modality="OT", kind="image")
    mask = np.zeros((6, 5), bool)
    mask[1:3, 1:4] = True
    response = save(personas.client_for("owner"), image, label, None, {0: mask})
    assert response.status_code == 201, response.content
    assert load(personas.client_for("owner"), image, label)["shape"] == [1, 6, 5]


def test_a_narrow_grey_image_is_not_mistaken_for_a_colour_one(personas, label):
    narrow = make_series(personas.project, np.zeros((1, 6, 3), np.int16), modality="OT", kind="image")
    mask = np.zeros((6, 3), bool)
    mask[2:4, 1] = True
    response = save(personas.client_for("owner"), narrow, label, None, {0: mask})
    assert response.status_code == 201, response.content
    assert load(personas.client_for("owner"), narrow, label)["shape"] == [1, 6, 3]


def test_a_forged_mask_whose_runs_wrap_around_int64_is_refused_and_saves_nothing(personas, label):
    # Given a 256 x 256 slice and the probe's RLE whose int64 sum wraps to exactly 256 * 256
    series = make_series(personas.project, np.zeros((2, 256, 256), dtype=np.int16))
    client = personas.client_for("annotator")
    forged = {"size": [256, 256], "counts": [2**63 - 1, 2**63 - 1, 65538]}
    response = client.post(
        f"/api/series/{series.id}/masks/{label.id}/revisions/",
        {"base_revision": None, "source": "manual", "slices": {"0": forged}},
        content_type="application/json",
    )
    # Then the server answers 400 with the reason (it used to segfault) and nothing is stored
    assert response.status_code == 400, response.content
    assert "counts must be integers from 0 to 65536" in response.json()["error"]["message"]
    assert MaskRevision.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_save_whose_broadcast_fails_after_the_commit_is_acknowledged_and_kept(
    personas, series, label, monkeypatch
):
    from annotator import events
    from annotator.actions.masks import read_volume

    # Given the channel layer is unreachable (Redis restarting) when the save's broadcast goes out
    def unreachable(*args, **kwargs):
        raise ConnectionResetError("Redis went away")

    monkeypatch.setattr(events, "send_to_group", unreachable)
    client = personas.client_for("annotator")
    # When the annotator saves
    response = save(client, series, label, None, {1: square(1, 1)})
    # Then the save is acknowledged (it is committed: a 500 would make the browser think it was lost)
    assert response.status_code == 201, response.content
    (stored,) = MaskRevision.objects.all()
    assert response.json()["revision"]["id"] == stored.id
    # And the committed revision and its file are intact, and the next save builds on it
    assert read_volume(stored, (4, 8, 8))[1].sum() == 9
    monkeypatch.undo()
    response = save(client, series, label, stored.id, {2: square(2, 2)})
    assert response.status_code == 201, response.content


def test_a_save_on_a_base_revision_that_a_new_mask_never_had_is_a_conflict_not_a_crash(
    personas, series, label
):
    # Given a label nobody has saved yet, and a base revision taken from another mask
    client = personas.client_for("annotator")
    other = Label.objects.create(project=personas.project, name="other", value=9, color="#00ff00")
    elsewhere = save(client, series, other, None, {0: square(0, 0)}).json()["revision"]["id"]
    # When a save names that revision as its base
    response = save(client, series, label, elsewhere, {1: square(1, 1)})
    # Then it is refused with a readable conflict and nothing is stored on the new mask
    assert response.status_code == 409, response.content
    assert "no saved revision yet" in response.json()["error"]["message"]
    assert not MaskRevision.objects.filter(track__label=label).exists()
