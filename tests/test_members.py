"""Members and invitations: owners invite by username or e-mail; invitees accept or decline."""

from __future__ import annotations

import pytest

from annotator.models import Invitation, Membership, Role
from tests.factories import UserFactory


def invite(personas, invitee, role="annotator", as_="owner"):
    return personas.client_for(as_).post(
        f"/api/projects/{personas.project.id}/invitations/",
        {"invitee": invitee, "role": role},
        content_type="application/json",
    )


def test_an_owner_invites_an_existing_user_by_username_and_they_accept_and_become_a_member(personas):
    response = invite(personas, "oscar_outsider", "reviewer")
    assert response.status_code == 201, response.content
    invitation = response.json()
    assert (invitation["username"], invitation["role"], invitation["state"]) == (
        "oscar_outsider",
        "reviewer",
        "pending",
    )
    outsider = personas.client_for("outsider")
    assert [i["id"] for i in outsider.get("/api/invitations/").json()] == [invitation["id"]]
    assert outsider.get(f"/api/projects/{personas.project.id}/").status_code == 404
    accepted = outsider.post(f"/api/invitations/{invitation['id']}/accept/")
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    assert outsider.get(f"/api/projects/{personas.project.id}/").json()["role"] == "reviewer"
    assert outsider.get("/api/invitations/").json() == []


def test_an_invitation_by_e_mail_waits_for_whoever_has_that_address(personas):
    response = invite(personas, "New.Person@Example.org")
    assert response.status_code == 201
    assert response.json()["username"] is None
    newcomer = UserFactory(username="newcomer", email="new.person@example.org")
    from django.test import Client

    client = Client()
    client.force_login(newcomer)
    (pending,) = client.get("/api/invitations/").json()
    assert client.post(f"/api/invitations/{pending['id']}/accept/").status_code == 200
    assert Membership.objects.get(project=personas.project, user=newcomer).role == Role.ANNOTATOR


def test_an_invitee_can_decline(personas):
    invitation = invite(personas, "oscar_outsider").json()
    assert (
        personas.client_for("outsider").post(f"/api/invitations/{invitation['id']}/decline/").status_code
        == 200
    )
    assert not Membership.objects.filter(user=personas.outsider).exists()
    assert Invitation.objects.get().state == "declined"


def test_nobody_else_can_accept_an_invitation_meant_for_someone(personas):
    invitation = invite(personas, "oscar_outsider").json()
    response = personas.client_for("annotator").post(f"/api/invitations/{invitation['id']}/accept/")
    assert response.status_code == 404
    assert Invitation.objects.get().state == "pending"


@pytest.mark.parametrize(
    ("invitee", "status", "message"),
    [
        ("nobody_here", 404, "no user called"),
        ("anna_annotator", 409, "already a member"),
        ("not an address@", 400, "not a valid e-mail"),
    ],
)
def test_bad_invitations_are_refused_with_a_reason(personas, invitee, status, message):
    response = invite(personas, invitee)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]
    assert Invitation.objects.count() == 0


def test_a_second_pending_invitation_for_the_same_person_is_refused(personas):
    assert invite(personas, "oscar_outsider").status_code == 201
    assert invite(personas, "oscar_outsider").status_code == 409


def test_an_unknown_role_is_refused(personas):
    response = invite(personas, "oscar_outsider", role="admin")
    assert response.status_code == 400
    assert "Unknown role" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("persona", "status"),
    [("owner", 201), ("annotator", 403), ("reviewer", 403), ("outsider", 404), ("anonymous", 403)],
)
def test_only_owners_invite(personas, persona, status):
    assert invite(personas, "oscar_outsider", as_=persona).status_code == status


@pytest.mark.parametrize(
    ("persona", "status"),
    [("owner", 200), ("annotator", 200), ("reviewer", 200), ("outsider", 404), ("anonymous", 403)],
)
def test_members_see_the_member_list(personas, persona, status):
    response = personas.client_for(persona).get(f"/api/projects/{personas.project.id}/members/")
    assert response.status_code == status
    if status == 200:
        assert [(m["username"], m["role"]) for m in response.json()] == [
            ("anna_annotator", "annotator"),
            ("olivia_owner", "owner"),
            ("rui_reviewer", "reviewer"),
        ]


@pytest.mark.parametrize(
    ("persona", "status"), [("annotator", 403), ("reviewer", 403), ("outsider", 404), ("anonymous", 403)]
)
def test_only_owners_see_and_revoke_the_projects_invitations(personas, persona, status):
    invitation = invite(personas, "oscar_outsider").json()
    client = personas.client_for(persona)
    assert client.get(f"/api/projects/{personas.project.id}/invitations/").status_code == status
    assert (
        client.delete(f"/api/projects/{personas.project.id}/invitations/{invitation['id']}/").status_code
        == status
    )
    owner = personas.client_for("owner")
    assert (
        owner.delete(f"/api/projects/{personas.project.id}/invitations/{invitation['id']}/").json()["state"]
        == "revoked"
    )
    assert personas.client_for("outsider").get("/api/invitations/").json() == []


def test_an_owner_changes_a_role_and_removes_a_member(personas):
    owner = personas.client_for("owner")
    url = f"/api/projects/{personas.project.id}/members/{personas.annotator.id}/"
    assert (
        owner.patch(url, {"role": "reviewer"}, content_type="application/json").json()["role"] == "reviewer"
    )
    assert owner.delete(url).status_code == 204
    assert personas.client_for("annotator").get(f"/api/projects/{personas.project.id}/").status_code == 404


def test_the_last_owner_cannot_be_demoted_or_removed(personas):
    owner = personas.client_for("owner")
    url = f"/api/projects/{personas.project.id}/members/{personas.owner.id}/"
    response = owner.patch(url, {"role": "annotator"}, content_type="application/json")
    assert response.status_code == 409 and "at least one owner" in response.json()["error"]["message"]
    assert owner.delete(url).status_code == 409
    assert Membership.objects.get(user=personas.owner).role == "owner"


@pytest.mark.parametrize(
    ("persona", "status"), [("annotator", 403), ("reviewer", 403), ("outsider", 404), ("anonymous", 403)]
)
def test_only_owners_change_roles(personas, persona, status):
    url = f"/api/projects/{personas.project.id}/members/{personas.reviewer.id}/"
    client = personas.client_for(persona)
    assert client.patch(url, {"role": "owner"}, content_type="application/json").status_code == status
    assert client.delete(url).status_code == status
    assert Membership.objects.get(user=personas.reviewer).role == "reviewer"
