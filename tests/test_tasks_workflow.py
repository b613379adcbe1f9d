"""Tasks and review: assignment to one or several annotators, todo → in progress → submitted → approved or
sent back with a comment, each annotator's queue with 'next case', and progress per label and annotator."""

from __future__ import annotations

import pytest

from annotator.actions.tasks import register_ordering
from annotator.models import Assignment, Task
from tests.factories import LabelFactory, SeriesFactory, StudyFactory, UserFactory


@pytest.fixture
def case(personas):
    study = StudyFactory(project=personas.project)
    liver = LabelFactory(project=personas.project, name="liver", value=1)
    tumour = LabelFactory(project=personas.project, name="tumour", value=2)
    return SeriesFactory(study=study), liver, tumour


def create(personas, series_ids, labels=(), annotators=(), as_="owner", **extra):
    return personas.client_for(as_).post(
        f"/api/projects/{personas.project.id}/tasks/",
        {"series": list(series_ids), "labels": list(labels), "annotators": list(annotators), **extra},
        content_type="application/json",
    )


def act(personas, who, assignment_id, action, comment=""):
    return personas.client_for(who).post(
        f"/api/assignments/{assignment_id}/{action}/", {"comment": comment}, content_type="application/json"
    )


def test_a_case_goes_from_todo_to_approved_through_start_submit_and_review(personas, case):
    series, liver, _ = case
    (task,) = create(personas, [series.id], [liver.id], [personas.annotator.id]).json()
    (assignment,) = task["assignments"]
    assert assignment["state"] == "todo"
    assert act(personas, "annotator", assignment["id"], "start").json()["state"] == "in_progress"
    assert act(personas, "annotator", assignment["id"], "submit").json()["state"] == "submitted"
    reviews = personas.client_for("reviewer").get(f"/api/projects/{personas.project.id}/reviews/").json()
    assert [r["id"] for r in reviews] == [assignment["id"]]
    approved = act(personas, "reviewer", assignment["id"], "approve").json()
    assert (approved["state"], approved["reviewed_by"]) == ("approved", "rui_reviewer")


def test_a_reviewer_sends_a_case_back_with_a_comment_and_the_annotator_fixes_it(personas, case):
    series, liver, _ = case
    (task,) = create(personas, [series.id], [liver.id], [personas.annotator.id]).json()
    assignment_id = task["assignments"][0]["id"]
    act(personas, "annotator", assignment_id, "start")
    act(personas, "annotator", assignment_id, "submit")
    refused = act(personas, "reviewer", assignment_id, "send_back")
    assert refused.status_code == 400 and "what needs fixing" in refused.json()["error"]["message"]
    sent_back = act(
        personas, "reviewer", assignment_id, "send_back", "The margin misses the left lobe."
    ).json()
    assert (sent_back["state"], sent_back["review_comment"]) == (
        "returned",
        "The margin misses the left lobe.",
    )
    queue = personas.client_for("annotator").get(f"/api/projects/{personas.project.id}/queue/").json()
    assert [a["id"] for a in queue["assigned"]] == [assignment_id]
    assert act(personas, "annotator", assignment_id, "start").json()["state"] == "in_progress"
    assert act(personas, "annotator", assignment_id, "submit").json()["state"] == "submitted"


@pytest.mark.parametrize(
    ("state", "action"),
    [
        ("todo", "submit"),
        ("todo", "approve"),
        ("in_progress", "approve"),
        ("approved", "send_back"),
        ("approved", "start"),
    ],
)
def test_a_transition_from_the_wrong_state_is_a_conflict_and_changes_nothing(personas, case, state, action):
    series, _, _ = case
    (task,) = create(personas, [series.id], annotators=[personas.annotator.id]).json()
    assignment = Assignment.objects.get(pk=task["assignments"][0]["id"])
    assignment.state = state
    assignment.save()
    who = "annotator" if action in ("start", "submit") else "reviewer"
    response = act(personas, who, assignment.id, action, "comment")
    assert response.status_code == 409
    assignment.refresh_from_db()
    assert assignment.state == state


@pytest.mark.parametrize(
    ("persona", "action", "status"),
    [
        ("reviewer", "start", 403),
        ("owner", "submit", 403),
        ("annotator", "approve", 403),
        ("outsider", "approve", 404),
        ("anonymous", "approve", 403),
    ],
)
def test_only_the_assignee_works_and_only_reviewers_or_owners_review(personas, case, persona, action, status):
    series, _, _ = case
    (task,) = create(personas, [series.id], annotators=[personas.annotator.id]).json()
    assignment = Assignment.objects.get(pk=task["assignments"][0]["id"])
    assignment.state = "submitted" if action == "approve" else "todo" if action == "start" else "in_progress"
    assignment.save()
    before = assignment.state
    assert act(personas, persona, assignment.id, action).status_code == status
    assignment.refresh_from_db()
    assert assignment.state == before


def test_nobody_reviews_their_own_work(personas, case):
    series, _, _ = case
    (task,) = create(personas, [series.id], annotators=[personas.owner.id]).json()
    assignment_id = task["assignments"][0]["id"]
    act(personas, "owner", assignment_id, "start")
    act(personas, "owner", assignment_id, "submit")
    response = act(personas, "owner", assignment_id, "approve")
    assert response.status_code == 403 and "own work" in response.json()["error"]["message"]


def test_an_agreement_task_gives_each_annotator_an_independent_copy(personas, case):
    series, liver, _ = case
    second = personas.project.memberships.create(user=UserFactory(username="ben"), role="annotator").user
    (task,) = create(personas, [series.id], [liver.id], [personas.annotator.id, second.id]).json()
    assert sorted(a["username"] for a in task["assignments"]) == ["anna_annotator", "ben"]
    anna = next(a for a in task["assignments"] if a["username"] == "anna_annotator")
    act(personas, "annotator", anna["id"], "start")
    act(personas, "annotator", anna["id"], "submit")
    states = dict(Assignment.objects.values_list("annotator__username", "state"))
    assert states == {"anna_annotator": "submitted", "ben": "todo"}
    # An annotator sees only their own copy of the task.
    seen = personas.client_for("annotator").get(f"/api/tasks/{task['id']}/").json()
    assert [a["username"] for a in seen["assignments"]] == ["anna_annotator"]


def test_tasks_can_only_go_to_annotators_of_the_project(personas, case):
    series, _, _ = case
    for user_id, message in (
        (personas.reviewer.id, "only annotators"),
        (personas.outsider.id, "not a member"),
    ):
        response = create(personas, [series.id], annotators=[user_id])
        assert response.status_code == 400 and message in response.json()["error"]["message"]
    other_series = SeriesFactory()
    assert create(personas, [other_series.id]).status_code == 400
    assert Task.objects.count() == 0


@pytest.mark.parametrize(
    ("persona", "status"),
    [("owner", 201), ("annotator", 403), ("reviewer", 403), ("outsider", 404), ("anonymous", 403)],
)
def test_only_owners_create_tasks(personas, case, persona, status):
    series, _, _ = case
    assert create(personas, [series.id], as_=persona).status_code == status


def test_next_case_starts_assigned_work_first_then_takes_open_tasks_by_priority(personas, case):
    series, liver, _ = case
    study = series.study
    low, high, assigned = (SeriesFactory(study=study) for _ in range(3))
    create(personas, [low.id], [liver.id], priority=1)
    create(personas, [high.id], [liver.id], priority=5)
    (mine,) = create(personas, [assigned.id], [liver.id], [personas.annotator.id]).json()
    client = personas.client_for("annotator")
    url = f"/api/projects/{personas.project.id}/queue/next/"
    first = client.post(url).json()["assignment"]
    assert (first["id"], first["state"]) == (mine["assignments"][0]["id"], "in_progress")
    assert client.post(url).json()["assignment"]["id"] == first["id"]  # still working on it
    act(personas, "annotator", first["id"], "submit")
    taken = client.post(url).json()["assignment"]
    assert (taken["series"], taken["state"]) == (high.id, "in_progress")
    act(personas, "annotator", taken["id"], "submit")
    assert client.post(url).json()["assignment"]["series"] == low.id
    act(personas, "annotator", client.post(url).json()["assignment"]["id"], "submit")
    assert client.post(url).json() == {"assignment": None}


def test_an_open_task_taken_by_one_annotator_leaves_the_others_queue(personas, case):
    series, _, _ = case
    create(personas, [series.id])
    owner_queue = personas.client_for("owner").get(f"/api/projects/{personas.project.id}/queue/").json()
    assert len(owner_queue["open"]) == 1
    personas.client_for("annotator").post(f"/api/projects/{personas.project.id}/queue/next/")
    assert (
        personas.client_for("owner").get(f"/api/projects/{personas.project.id}/queue/").json()["open"] == []
    )
    assert personas.client_for("owner").post(f"/api/projects/{personas.project.id}/queue/next/").json() == {
        "assignment": None
    }


def test_the_queue_ordering_is_pluggable_per_project(personas, case):
    series, _, _ = case
    first, second = SeriesFactory(study=series.study), SeriesFactory(study=series.study)
    create(personas, [first.id], priority=9)
    create(personas, [second.id], priority=0)

    @register_ordering("test-reverse-priority")
    def reverse(tasks, user, project):
        return tasks.order_by("priority", "id")

    personas.project.settings = {"queue_ordering": "test-reverse-priority"}
    personas.project.save()
    taken = personas.client_for("annotator").post(f"/api/projects/{personas.project.id}/queue/next/").json()
    assert taken["assignment"]["series"] == second.id


def test_reviewers_cannot_take_cases(personas, case):
    series, _, _ = case
    create(personas, [series.id])
    response = personas.client_for("reviewer").post(f"/api/projects/{personas.project.id}/queue/next/")
    assert response.status_code == 403
    assert Assignment.objects.count() == 0


def test_progress_counts_assignments_per_state_per_annotator_and_per_label(personas, case):
    series, liver, tumour = case
    other = SeriesFactory(study=series.study)
    (a,) = create(personas, [series.id], [liver.id, tumour.id], [personas.annotator.id]).json()
    (b,) = create(personas, [other.id], [liver.id], [personas.annotator.id, personas.owner.id]).json()
    create(personas, [SeriesFactory(study=series.study).id], [tumour.id])  # open
    first = a["assignments"][0]["id"]
    act(personas, "annotator", first, "start")
    act(personas, "annotator", first, "submit")
    act(personas, "reviewer", first, "approve")
    response = personas.client_for("reviewer").get(f"/api/projects/{personas.project.id}/progress/")
    assert response.status_code == 200
    body = response.json()
    assert (body["tasks"], body["open_tasks"]) == (3, 1)
    assert body["assignments"]["approved"] == 1 and body["assignments"]["todo"] == 2
    annotators = {e["username"]: e for e in body["per_annotator"]}
    assert (annotators["anna_annotator"]["approved"], annotators["anna_annotator"]["todo"]) == (1, 1)
    assert annotators["anna_annotator"]["fraction_approved"] == 0.5
    assert annotators["olivia_owner"]["todo"] == 1
    labels = {e["name"]: e for e in body["per_label"]}
    assert (labels["liver"]["tasks"], labels["liver"]["approved"], labels["liver"]["todo"]) == (2, 1, 2)
    assert (labels["tumour"]["tasks"], labels["tumour"]["approved"], labels["tumour"]["total"]) == (2, 1, 1)


@pytest.mark.parametrize(
    ("persona", "status"),
    [("owner", 200), ("annotator", 200), ("reviewer", 200), ("outsider", 404), ("anonymous", 403)],
)
def test_members_read_tasks_queue_and_progress_and_outsiders_get_404(personas, case, persona, status):
    series, _, _ = case
    (task,) = create(personas, [series.id]).json()
    client = personas.client_for(persona)
    base = f"/api/projects/{personas.project.id}"
    for url in (f"{base}/tasks/", f"{base}/queue/", f"{base}/progress/", f"/api/tasks/{task['id']}/"):
        assert client.get(url).status_code == status, url


@pytest.mark.parametrize(
    ("persona", "status"),
    [("owner", 200), ("annotator", 403), ("reviewer", 200), ("outsider", 404), ("anonymous", 403)],
)
def test_the_review_list_is_for_reviewers_and_owners(personas, case, persona, status):
    assert (
        personas.client_for(persona).get(f"/api/projects/{personas.project.id}/reviews/").status_code
        == status
    )


@pytest.mark.parametrize(
    ("persona", "status"),
    [("owner", 204), ("annotator", 403), ("reviewer", 403), ("outsider", 404), ("anonymous", 403)],
)
def test_only_owners_delete_tasks(personas, case, persona, status):
    series, _, _ = case
    (task,) = create(personas, [series.id]).json()
    assert personas.client_for(persona).delete(f"/api/tasks/{task['id']}/").status_code == status
    assert Task.objects.filter(pk=task["id"]).exists() == (status != 204)


def test_an_owner_adds_annotators_to_an_existing_task(personas, case):
    series, _, _ = case
    (task,) = create(personas, [series.id]).json()
    response = personas.client_for("owner").post(
        f"/api/tasks/{task['id']}/assignments/",
        {"annotators": [personas.annotator.id]},
        content_type="application/json",
    )
    assert [a["username"] for a in response.json()] == ["anna_annotator"]
    assert (
        personas.client_for("annotator")
        .post(
            f"/api/tasks/{task['id']}/assignments/",
            {"annotators": [personas.annotator.id]},
            content_type="application/json",
        )
        .status_code
        == 403
    )
