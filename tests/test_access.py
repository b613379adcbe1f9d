"""One access layer: getters that raise the app's NotFound / Forbidden, the label-in-project check, DRF
permission classes on every scoped view, and one cancel rule for the REST API and the socket."""

from __future__ import annotations

import numpy as np
import pytest
from channels.db import database_sync_to_async
from django.urls import URLPattern, get_resolver

from annotator import access
from annotator.api.permissions import CanSeeJob, JobView, ProjectRole, ScopedView
from annotator.errors import Forbidden, NotFound
from annotator.models import Job, Membership
from tests.factories import LabelFactory, ProjectFactory
from tests.segmentation.conftest import make_series
from tests.test_consumer import connected

# -- get_label -----------------------------------------------------------------------------------------


@pytest.fixture
def liver(personas):
    return LabelFactory(project=personas.project, name="liver")


@pytest.fixture
def series(personas):
    return make_series(personas.project, np.zeros((2, 4, 4), dtype=np.int16))


@pytest.mark.parametrize("persona", ["owner", "annotator", "reviewer"])
def test_a_member_gets_a_label_of_their_project_by_project_or_by_id(personas, liver, persona):
    user = getattr(personas, persona)
    assert access.get_label(user, personas.project, liver.id) == liver
    assert access.get_label(user, personas.project.id, liver.id) == liver


def test_a_label_of_another_project_is_not_found_even_for_a_member_of_both(personas, liver):
    # Given a label of a second project the owner also belongs to
    other = ProjectFactory(created_by=personas.owner)
    Membership.objects.create(project=other, user=personas.owner, role="owner")
    foreign = LabelFactory(project=other, name="spleen")
    # When it is asked for as a label of the first project, then it is not there
    with pytest.raises(NotFound, match="No such label in this project."):
        access.get_label(personas.owner, personas.project, foreign.id)


@pytest.mark.parametrize("label_id", ["existing", "missing"])
def test_an_outsider_cannot_tell_whether_a_label_exists(personas, liver, label_id):
    wanted = liver.id if label_id == "existing" else liver.id + 1000
    with pytest.raises(NotFound) as refused:
        access.get_label(personas.outsider, personas.project.id, wanted)
    assert refused.value.message == "No such label in this project."


def test_a_member_with_the_wrong_role_is_forbidden_and_an_outsider_not_found(personas):
    with pytest.raises(Forbidden, match=r"Your role \(reviewer\) does not allow this."):
        access.get_project(personas.reviewer, personas.project.id, roles=access.OWNER_ONLY)
    with pytest.raises(NotFound, match="No such project."):
        access.get_project(personas.outsider, personas.project.id, roles=access.OWNER_ONLY)


def test_a_label_of_another_project_is_refused_by_the_mask_api(personas, liver, series):
    foreign = LabelFactory(project=ProjectFactory(created_by=personas.outsider))
    response = personas.client_for("annotator").get(f"/api/series/{series.id}/masks/{foreign.id}/")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "No such label in this project.",
        "details": {},
    }
    assert (
        personas.client_for("annotator").get(f"/api/series/{series.id}/masks/{liver.id}/").status_code == 200
    )


# -- every scoped REST view is guarded by a permission class --------------------------------------------

OBJECT_KWARGS = {
    "project_id",
    "study_id",
    "series_id",
    "task_id",
    "assignment_id",
    "job_id",
    "label_id",
    "comment_id",
}


def api_views() -> list[tuple[str, type]]:
    views = []
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) != "api/":
            continue
        for inner in pattern.url_patterns:
            assert isinstance(inner, URLPattern)
            views.append((str(inner.pattern), inner.callback.view_class))
    return views


def test_every_api_view_on_an_object_named_in_its_url_is_guarded_by_a_permission_class():
    views = api_views()
    scoped = [(route, view) for route, view in views if any(f":{kwarg}>" in route for kwarg in OBJECT_KWARGS)]
    unguarded = [
        route
        for route, view in scoped
        if not issubclass(view, (ScopedView, JobView))
        or not any(issubclass(rule, (ProjectRole, CanSeeJob)) for rule in view.permission_classes)
    ]
    assert len(scoped) > 20 and unguarded == []


# -- one cancel rule at both edges ----------------------------------------------------------------------


def running_job(personas, creator: str) -> Job:
    return Job.objects.create(
        kind="propagate", created_by=getattr(personas, creator), project=personas.project, state="running"
    )


def leave_project(personas, persona: str) -> None:
    Membership.objects.filter(project=personas.project, user=getattr(personas, persona)).delete()


@pytest.mark.parametrize(
    ("canceller", "status"),
    [
        ("annotator", 200),  # who started it
        ("owner", 200),  # a project owner
        ("reviewer", 403),  # another member
        ("outsider", 404),  # cannot see it
        ("anonymous", 403),
    ],
)
def test_rest_cancel_creator_or_owner_only(personas, canceller, status):
    job = running_job(personas, "annotator")
    response = personas.client_for(canceller).post(f"/api/jobs/{job.id}/cancel/")
    assert response.status_code == status
    job.refresh_from_db()
    assert job.state == ("cancelled" if status == 200 else "running")


def test_the_creator_of_a_job_can_still_cancel_it_over_rest_after_leaving_the_project(personas):
    # Given a job started by the annotator, who then leaves the project
    job = running_job(personas, "annotator")
    leave_project(personas, "annotator")
    # When they cancel it over the REST API
    response = personas.client_for("annotator").post(f"/api/jobs/{job.id}/cancel/")
    # Then it is cancelled
    assert response.status_code == 200 and response.json()["state"] == "cancelled"


async def cancel_over_socket(user, job_id: int) -> dict:
    communicator = await connected(user)
    await communicator.send_json_to({"type": "cancel_job", "request_id": "c", "job_id": job_id})
    reply = await communicator.receive_json_from()
    while reply.get("request_id") != "c":  # the job.progress pushed to the creator's tabs may come first
        reply = await communicator.receive_json_from()
    await communicator.disconnect()
    return reply


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_creator_of_a_job_can_still_cancel_it_over_the_socket_after_leaving_the_project(
    personas_async,
):
    # Given a job started by the annotator, who then leaves the project
    job = await database_sync_to_async(running_job)(personas_async, "annotator")
    await database_sync_to_async(leave_project)(personas_async, "annotator")
    # When they cancel it from their socket
    reply = await cancel_over_socket(personas_async.annotator, job.id)
    # Then it is cancelled, exactly as over REST
    assert reply["type"] == "job.progress" and reply["job"]["state"] == "cancelled"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("canceller", "code"), [("reviewer", "forbidden"), ("outsider", "not_found")])
async def test_over_the_socket_other_members_are_forbidden_and_outsiders_not_found(
    personas_async, canceller, code
):
    job = await database_sync_to_async(running_job)(personas_async, "annotator")
    reply = await cancel_over_socket(getattr(personas_async, canceller), job.id)
    assert reply["type"] == "error" and reply["code"] == code
    await database_sync_to_async(job.refresh_from_db)()
    assert job.state == "running"
