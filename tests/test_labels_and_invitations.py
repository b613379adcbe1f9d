"""Labels edited after a project exists (add, rename, recolour, reorder; removing one with masks asks first
and keeps its masks in exports until confirmed), and invitations by e-mail whose link lets a new person set
a username and a password and join, until it expires."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from annotator.actions.masks import SaveRequest, do_save_revision
from annotator.models import Invitation, Label, MaskTrack, Membership, Role
from tests.segmentation.conftest import make_series
from tests.test_export import download, export


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def labels(personas):
    liver = Label.objects.create(project=personas.project, name="liver", value=1, color="#ff0000", position=1)
    spleen = Label.objects.create(
        project=personas.project, name="spleen", value=2, color="#00ff00", position=2
    )
    return liver, spleen


def owner_call(personas, method: str, path: str, body=None, who="owner"):
    client = personas.client_for(who)
    return getattr(client, method)(
        f"/api/projects/{personas.project.id}/labels/{path}", body or {}, content_type="application/json"
    )


def project_labels(personas) -> list[tuple[str, int, str]]:
    body = personas.client_for("annotator").get(f"/api/projects/{personas.project.id}/").json()
    return [(label["name"], label["value"], label["color"]) for label in body["labels"]]


def test_the_owner_adds_renames_recolours_and_reorders_labels_and_values_never_change(personas, labels):
    liver, spleen = labels
    added = owner_call(
        personas, "post", "", {"name": "kidney", "color": "#0000FF", "window_preset": "soft_tissue"}
    )
    assert added.status_code == 201 and added.json()["value"] == 3
    owner_call(personas, "patch", f"{liver.id}/", {"name": "Liver", "color": "#123456"})
    reordered = owner_call(personas, "post", "order/", {"labels": [added.json()["id"], spleen.id, liver.id]})
    assert reordered.status_code == 200
    assert project_labels(personas) == [
        ("kidney", 3, "#0000ff"),
        ("spleen", 2, "#00ff00"),
        ("Liver", 1, "#123456"),
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "fragment"),
    [
        ("post", "", {"name": "spleen"}, "already a label"),
        ("post", "", {"name": "  "}, "needs a name"),
        ("post", "", {"name": "x", "color": "red"}, "#ff8800"),
        ("post", "", {"name": "x", "window_preset": "brain-ish"}, "Unknown model window"),
        ("post", "order/", {"labels": [1]}, "every label"),
    ],
)
def test_bad_label_edits_are_refused_and_change_nothing(personas, labels, method, path, body, fragment):
    before = project_labels(personas)
    response = owner_call(personas, method, path, body)
    assert response.status_code == 400 and fragment in response.json()["error"]["message"]
    assert project_labels(personas) == before


@pytest.mark.parametrize(("persona", "status"), [("annotator", 403), ("reviewer", 403), ("outsider", 404)])
def test_only_owners_edit_labels(personas, labels, persona, status):
    liver, _ = labels
    assert owner_call(personas, "post", "", {"name": "kidney"}, who=persona).status_code == status
    assert owner_call(personas, "patch", f"{liver.id}/", {"name": "x"}, who=persona).status_code == status
    assert owner_call(personas, "delete", f"{liver.id}/", who=persona).status_code == status
    assert Label.objects.count() == 2


def test_a_label_without_masks_is_deleted_at_once(personas, labels):
    _, spleen = labels
    assert owner_call(personas, "delete", f"{spleen.id}/").json() == {"outcome": "deleted"}
    assert not Label.all_objects.filter(pk=spleen.pk).exists()


def test_removing_a_label_with_masks_asks_and_keeps_them_in_exports_until_confirmed(
    personas, labels, media, django_capture_on_commit_callbacks
):
    liver, _ = labels
    series = make_series(personas.project, np.zeros((2, 4, 4), dtype=np.int16))
    do_save_revision(
        personas.annotator,
        series,
        liver,
        Role.ANNOTATOR,
        SaveRequest(None, "manual", {0: np.ones((4, 4), bool)}),
    )
    client = personas.client_for("owner")

    def exported_labels() -> list[str]:
        job = export(client, personas.project, {"format": "nifti"}, django_capture_on_commit_callbacks)
        return [label["name"] for label in json.loads(download(client, job).read("manifest.json"))["labels"]]

    asked = owner_call(personas, "delete", f"{liver.id}/")
    assert asked.status_code == 409 and asked.json()["error"]["details"] == {
        "masks": 1,
        "needs_confirmation": True,
    }
    assert "liver" in exported_labels()
    assert owner_call(personas, "delete", f"{liver.id}/", {"confirm": True}).json() == {"outcome": "removed"}
    assert "liver" not in exported_labels()
    assert [name for name, _, _ in project_labels(personas)] == ["spleen"]
    # The masks are still there, and the name can be used again (with a new value).
    assert MaskTrack.objects.filter(label_id=liver.id).count() == 1
    again = owner_call(personas, "post", "", {"name": "liver"}).json()
    assert again["value"] == 3


# -- invitations by e-mail ----------------------------------------------------------------------------------


def invite(personas, invitee: str, role: str = "annotator"):
    return personas.client_for("owner").post(
        f"/api/projects/{personas.project.id}/invitations/",
        {"invitee": invitee, "role": role},
        content_type="application/json",
    )


def link_path(link: str) -> str:
    return re.sub(r"^https?://[^/]+", "", link)


def test_an_email_invitation_mails_a_link_shown_to_the_owner_that_lets_a_new_person_join(
    personas, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(personas, "Nora@Example.org")
    assert response.status_code == 201
    link = response.json()["link"]
    assert link and "/invite/" in link and response.json()["expires_at"]
    (sent,) = mail.outbox
    assert sent.to == ["nora@example.org"] and link in sent.body
    listed = personas.client_for("owner").get(f"/api/projects/{personas.project.id}/invitations/").json()
    assert listed[0]["link"] == link

    newcomer = Client()
    page = newcomer.get(link_path(link))
    assert page.status_code == 200 and b"Join Liver CT" in page.content
    joined = newcomer.post(
        link_path(link),
        {"username": "nora", "password": "a long passphrase", "password_again": "a long passphrase"},
    )
    assert joined.status_code == 302 and joined["Location"] == f"/projects/{personas.project.id}/"
    nora = get_user_model().objects.get(username="nora")
    assert nora.email == "nora@example.org" and nora.check_password("a long passphrase")
    assert Membership.objects.get(project=personas.project, user=nora).role == "annotator"
    assert newcomer.get(f"/api/projects/{personas.project.id}/").status_code == 200
    # The link works once.
    assert Client().get(link_path(link)).status_code == 404


def test_an_expired_link_says_so_and_creates_nobody(personas):
    link = invite(personas, "late@example.org").json()["link"]
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    page = Client().get(link_path(link))
    assert page.status_code == 410 and b"expired" in page.content
    posted = Client().post(
        link_path(link),
        {"username": "late", "password": "a long passphrase", "password_again": "a long passphrase"},
    )
    assert posted.status_code == 410
    assert not get_user_model().objects.filter(username="late").exists()


def test_an_invitation_expires_after_the_configured_time(personas, settings):
    settings.INVITATION_TTL_HOURS = 2
    before = timezone.now()
    invite(personas, "soon@example.org")
    expires = Invitation.objects.get().expires_at
    assert timedelta(hours=2) <= expires - before < timedelta(hours=2, seconds=30)


@pytest.mark.parametrize(
    ("form", "fragment"),
    [
        (
            {
                "username": "anna_annotator",
                "password": "a long passphrase",
                "password_again": "a long passphrase",
            },
            b"taken",
        ),
        (
            {"username": "bad name!", "password": "a long passphrase", "password_again": "a long passphrase"},
            b"another username",
        ),
        ({"username": "nora", "password": "a long passphrase", "password_again": "different"}, b"differ"),
        ({"username": "nora", "password": "short", "password_again": "short"}, b"too short"),
    ],
)
def test_a_bad_join_form_is_refused_with_its_reason_and_the_link_still_works(personas, form, fragment):
    link = invite(personas, "nora@example.org").json()["link"]
    response = Client().post(link_path(link), form)
    assert response.status_code == 400 and fragment in response.content
    assert not get_user_model().objects.filter(username="nora").exists()
    assert Client().get(link_path(link)).status_code == 200


def test_a_username_invitation_works_as_before_without_a_link_or_expiry(personas):
    outsider = personas.outsider
    body = invite(personas, outsider.username).json()
    assert body["link"] is None and body["expires_at"] is None
    client = personas.client_for("outsider")
    (mine,) = client.get("/api/invitations/").json()
    assert client.post(f"/api/invitations/{mine['id']}/accept/").status_code == 200


def test_an_expired_email_invitation_cannot_be_accepted_from_the_project_list_either(personas):
    invite(personas, "oscar_outsider@example.org")  # his account's address: an account invitation
    invite(personas, "someone@example.org")
    Invitation.objects.filter(email="someone@example.org").update(
        expires_at=timezone.now() - timedelta(hours=1)
    )
    someone = get_user_model().objects.create_user("someone", "someone@example.org", "a long passphrase")
    client = Client()
    client.force_login(someone)
    assert client.get("/api/invitations/").json() == []
