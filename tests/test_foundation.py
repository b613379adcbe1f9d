"""Settings, pages, the project API and the health endpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from unittest import mock

import pytest
from django.test import override_settings

from annotator.models import Label, Project
from ml_worker.windows import WINDOW_PRESETS
from scripts.livestack import ROOT, free_port


def test_the_server_refuses_to_start_without_a_secret_key_when_debug_is_off():
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": "", "DJANGO_SETTINGS_MODULE": "webapp.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_malformed_boolean_setting_is_reported_by_name():
    env = {**os.environ, "DEBUG": "maybe", "DJANGO_SETTINGS_MODULE": "webapp.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_anonymous_visitors_are_sent_to_the_login_page(personas):
    response = personas.client_for("anonymous").get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_members_see_their_project_and_outsiders_do_not(personas):
    for name in ("owner", "annotator", "reviewer"):
        assert "Liver CT" in personas.client_for(name).get("/").content.decode()
    assert "Liver CT" not in personas.client_for("outsider").get("/").content.decode()


def test_an_outsider_gets_404_for_a_project_it_is_not_in(personas):
    response = personas.client_for("outsider").get(f"/api/projects/{personas.project.id}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert (
        personas.client_for("reviewer").get(f"/api/projects/{personas.project.id}/").json()["role"]
        == "reviewer"
    )


def test_creating_a_project_makes_the_creator_its_owner_with_its_labels(personas):
    client = personas.client_for("outsider")
    response = client.post(
        "/api/projects/",
        {"name": "Lung nodules", "labels": [{"name": "nodule", "color": "#00ff00"}, {"name": "lung"}]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["role"] == "owner"
    assert [(label["name"], label["value"]) for label in body["labels"]] == [("nodule", 1), ("lung", 2)]


def test_a_project_with_a_bad_label_colour_is_refused_and_nothing_is_written(personas):
    before = (Project.objects.count(), Label.objects.count())
    response = personas.client_for("owner").post(
        "/api/projects/",
        {"name": "Broken", "labels": [{"name": "x", "color": "red"}]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "colour 'red'" in response.json()["error"]["message"]
    assert (Project.objects.count(), Label.objects.count()) == before


@pytest.mark.django_db
def test_healthz_is_503_and_names_redis_when_redis_is_down(client):
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"):
        response = client.get("/healthz")
    assert response.status_code == 503
    report = response.json()
    assert report["database"]["ok"] is True
    assert report["redis"]["ok"] is False
    assert report["status"] == "unavailable"


@pytest.mark.django_db
def test_healthz_reports_the_servers_own_channel_layer_delivering_a_message(client):
    # Given the test settings' in-memory channel layer, which works
    report = client.get("/healthz").json()
    assert report["channel_layer"] == {"ok": True}


@pytest.mark.django_db
def test_healthz_is_503_naming_the_channel_layer_when_it_cannot_deliver_though_redis_answers(client):
    # Given a channel layer whose messages never arrive (a Redis that answers PING but not the layer)
    from channels.layers import InMemoryChannelLayer

    async def lost(self, channel: str, message: dict) -> None:
        return None

    with (
        mock.patch.object(InMemoryChannelLayer, "send", lost),
        mock.patch("annotator.health.redis_status", return_value={"ok": True}),
    ):
        response = client.get("/healthz")
    # Then healthz does not call the server healthy, and says why
    assert response.status_code == 503
    report = response.json()
    assert report["redis"]["ok"] is True
    assert report["channel_layer"]["ok"] is False
    assert "no answer within 2 s" in report["channel_layer"]["error"]


def test_an_outsider_gets_a_readable_404_page(personas):
    response = personas.client_for("outsider").get(f"/projects/{personas.project.id}/")
    assert response.status_code == 404
    assert "belongs to a project you are not a member of" in response.content.decode()


def test_the_browser_gets_the_models_ct_windows_from_the_api(personas):
    # The one definition (ml_worker.windows) reaches the browser: no copy in the frontend is needed.
    expected = [
        {"name": name, "level": float(p.level), "width": float(p.width)} for name, p in WINDOW_PRESETS.items()
    ]
    client = personas.client_for("annotator")
    presets = client.get("/api/window-presets/").json()
    assert presets == {"presets": expected, "default": "soft_tissue"}
    project = client.get(f"/api/projects/{personas.project.id}/").json()
    assert project["window_presets"] == expected and project["model_window"] == "soft_tissue"
    assert personas.client_for("anonymous").get("/api/window-presets/").status_code in (401, 403)
