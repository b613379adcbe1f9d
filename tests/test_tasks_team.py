"""Tasks for a team: N annotations per case from the pool or spread over chosen annotators, reassigning,
progress per case (masks and slices done, a column for active time) and per series (the project's tiles),
and the project setting itself."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.actions.masks import SaveRequest, do_save_revision
from annotator.models import Assignment, Role, Task
from tests.factories import UserFactory
from tests.segmentation.conftest import make_series


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def team(personas, media):
    project = personas.project
    ben = project.memberships.create(user=UserFactory(username="ben"), role=Role.ANNOTATOR).user
    cleo = project.memberships.create(user=UserFactory(username="cleo"), role=Role.ANNOTATOR).user
    series = [make_series(project, np.zeros((4, 8, 8), dtype=np.int16)) for _ in range(3)]
    liver = project.labels.create(name="liver", value=1, color="#ff0000")
    return project, [personas.annotator, ben, cleo], series, liver


def set_per_task(personas, n: int):
    return personas.client_for("owner").patch(
        f"/api/projects/{personas.project.id}/", {"annotations_per_task": n}, content_type="application/json"
    )


def create(personas, body: dict):
    return personas.client_for("owner").post(
        f"/api/projects/{personas.project.id}/tasks/", body, content_type="application/json"
    )


def test_the_owner_sets_annotations_per_case_and_others_cannot(personas, team):
    assert set_per_task(personas, 2).json()["settings"]["annotations_per_task"] == 2
    for bad in (0, 11, "two", True):
        response = set_per_task(personas, bad)
        assert response.status_code == 400 and "1 to 10" in response.json()["error"]["message"]
    for persona, status in (("annotator", 403), ("reviewer", 403), ("outsider", 404)):
        assert (
            personas.client_for(persona)
            .patch(
                f"/api/projects/{personas.project.id}/",
                {"annotations_per_task": 3},
                content_type="application/json",
            )
            .status_code
            == status
        )
    personas.project.refresh_from_db()
    assert personas.project.settings["annotations_per_task"] == 2


def test_with_two_per_case_a_pool_task_is_taken_by_two_different_annotators_then_closes(personas, team):
    project, (anna, ben, cleo), series, liver = team
    set_per_task(personas, 2)
    (task,) = create(personas, {"series": [series[0].id], "labels": [liver.id]}).json()
    assert task["open_slots"] == 2
    url = f"/api/projects/{project.id}/queue/next/"
    clients = {}
    for user in (anna, ben, cleo):
        clients[user.username] = personas.client_for("annotator")
        clients[user.username].force_login(user)
    first = clients["anna_annotator"].post(url).json()["assignment"]
    clients["anna_annotator"].post(f"/api/assignments/{first['id']}/submit/")
    # Anna never gets a second copy of the same case.
    assert clients["anna_annotator"].post(url).json() == {"assignment": None}
    second = clients["ben"].post(url).json()["assignment"]
    assert (first["task"], second["task"]) == (task["id"], task["id"])
    assert clients["cleo"].post(url).json() == {"assignment": None}
    assert sorted(Assignment.objects.values_list("annotator__username", flat=True)) == [
        "anna_annotator",
        "ben",
    ]


def test_spreading_gives_each_case_n_of_the_chosen_annotators_in_turn(personas, team):
    project, people, series, liver = team
    set_per_task(personas, 2)
    created = create(
        personas,
        {
            "series": [s.id for s in series],
            "labels": [liver.id],
            "annotators": [u.id for u in people],
            "spread": True,
        },
    ).json()
    given = [sorted(a["username"] for a in t["assignments"]) for t in created]
    assert given == [["anna_annotator", "ben"], ["anna_annotator", "cleo"], ["ben", "cleo"]]
    assert [t["open_slots"] for t in created] == [0, 0, 0]
    # Without spreading, every case goes to each chosen annotator (as before).
    (each,) = create(personas, {"series": [series[0].id], "annotators": [people[0].id]}).json()
    assert [a["username"] for a in each["assignments"]] == ["anna_annotator"] and each["open_slots"] == 1


def test_the_owner_reassigns_an_unfinished_case_or_puts_it_back_in_the_pool(personas, team):
    project, (anna, ben, _), series, liver = team
    (task,) = create(personas, {"series": [series[0].id], "annotators": [anna.id]}).json()
    assignment_id = task["assignments"][0]["id"]
    Assignment.objects.filter(pk=assignment_id).update(state="in_progress")
    client = personas.client_for("owner")
    url = f"/api/assignments/{assignment_id}/"
    moved = client.patch(url, {"annotator": ben.id}, content_type="application/json").json()["assignment"]
    assert (moved["username"], moved["state"]) == ("ben", "todo")
    assert (
        personas.client_for("annotator")
        .patch(url, {"annotator": anna.id}, content_type="application/json")
        .status_code
        == 403
    )
    assert (
        client.patch(url, {"annotator": personas.reviewer.id}, content_type="application/json").status_code
        == 400
    )
    assert client.patch(url, {"annotator": None}, content_type="application/json").json() == {
        "assignment": None
    }
    assert not Assignment.objects.exists()
    queue = personas.client_for("annotator").get(f"/api/projects/{project.id}/queue/").json()
    assert [t["id"] for t in queue["open"]] == [task["id"]]


def test_a_submitted_case_is_reviewed_before_it_can_be_reassigned(personas, team):
    _, (anna, ben, _), series, _ = team
    (task,) = create(personas, {"series": [series[0].id], "annotators": [anna.id]}).json()
    assignment_id = task["assignments"][0]["id"]
    Assignment.objects.filter(pk=assignment_id).update(state="submitted")
    response = personas.client_for("owner").patch(
        f"/api/assignments/{assignment_id}/", {"annotator": ben.id}, content_type="application/json"
    )
    assert response.status_code == 409 and "review it" in response.json()["error"]["message"]
    assert Assignment.objects.get(pk=assignment_id).annotator == anna


def test_the_task_list_shows_masks_and_slices_done_and_no_active_time_while_nothing_is_logged(personas, team):
    project, (anna, _, _), series, liver = team
    spleen = project.labels.create(name="spleen", value=2, color="#00ff00")
    (task,) = create(personas, {"series": [series[0].id], "annotators": [anna.id]}).json()
    slices = {1: np.ones((8, 8), bool), 3: np.ones((8, 8), bool)}
    do_save_revision(anna, series[0], liver, Role.ANNOTATOR, SaveRequest(None, "manual", slices))
    listed = personas.client_for("owner").get(f"/api/projects/{project.id}/tasks/").json()
    (assignment,) = listed[0]["assignments"]
    assert assignment["progress"] == {"labels": 2, "masks": 1, "slices": 2, "active_seconds": None}
    assert assignment["state_label"] == "Not started"
    assert spleen.id in listed[0]["labels"]


def test_series_tiles_show_annotated_slices_and_the_callers_case(personas, team):
    project, (anna, ben, _), series, liver = team
    create(personas, {"series": [series[0].id], "annotators": [anna.id]})
    do_save_revision(
        anna, series[0], liver, Role.ANNOTATOR, SaveRequest(None, "manual", {0: np.ones((8, 8), bool)})
    )
    do_save_revision(
        ben, series[0], liver, Role.ANNOTATOR, SaveRequest(None, "manual", {2: np.ones((8, 8), bool)})
    )

    def tile(who):
        studies = personas.client_for(who).get(f"/api/projects/{project.id}/studies/").json()
        return next(s for study in studies for s in study["series"] if s["id"] == series[0].id)["progress"]

    assert tile("annotator") == {"annotated_slices": 2, "total": 4, "state": "todo", "cases": {"todo": 1}}
    assert tile("owner")["annotated_slices"] == 2 and tile("owner")["state"] is None
    # Under independence, Anna's tile counts only her own slices.
    set_per_task(personas, 2)
    assert tile("annotator")["annotated_slices"] == 1
    assert tile("reviewer")["annotated_slices"] == 2


def test_an_annotator_does_not_see_a_colleagues_copy_in_the_task_list(personas, team):
    project, (anna, ben, _), series, _ = team
    set_per_task(personas, 2)
    create(personas, {"series": [series[0].id], "annotators": [ben.id]})
    (task,) = personas.client_for("annotator").get(f"/api/projects/{project.id}/tasks/").json()
    assert task["assignments"] == [] and task["open_slots"] == 1
    assert Task.objects.count() == 1
