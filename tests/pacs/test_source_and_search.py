"""A project's DICOMweb source (owner setting, checked against the server before it is saved, the secret never
sent back) and searching it: only patient-independent fields come back, dates shifted as the import shifts
them, an opaque handle per result."""

from __future__ import annotations

import json

import pydicom
import pytest

from annotator.models import DicomWebSource, PacsHandle
from scripts.livestack import free_port
from tests.imaging_data import brain_series
from tests.pacs.conftest import configure, find_series, real_files, series_of, studies

# -- configuring ---------------------------------------------------------------------------------------


def test_the_owner_configures_a_reachable_pacs_and_sees_it_without_any_secret(personas, orthanc_server):
    server = orthanc_server(users={"ris": "s3cret-pass"})
    client = personas.client_for("owner")

    response = configure(
        client, personas.project, server.dicomweb_url, auth="basic", username="ris", secret="s3cret-pass"
    )

    assert response.status_code == 200, response.content
    shown = client.get(f"/api/projects/{personas.project.id}/pacs/")
    for body in (response.json(), shown.json()):
        assert body["configured"] and body["has_secret"] and body["auth"] == "basic"
        assert body["base_url"] == server.dicomweb_url and body["username"] == "ris"
    assert b"s3cret-pass" not in response.content + shown.content
    assert b"s3cret-pass" not in client.get(f"/api/projects/{personas.project.id}/").content
    assert DicomWebSource.objects.get(project=personas.project).secret == "s3cret-pass"  # server-side only
    tested = client.post(f"/api/projects/{personas.project.id}/pacs/test/")
    assert tested.status_code == 200 and tested.json()["ok"]


def test_leaving_the_secret_out_keeps_the_stored_one_and_changing_the_method_needs_a_new_one(
    personas, orthanc_server
):
    server = orthanc_server(users={"ris": "s3cret-pass"})
    client = personas.client_for("owner")
    configure(
        client, personas.project, server.dicomweb_url, auth="basic", username="ris", secret="s3cret-pass"
    )

    kept = configure(client, personas.project, server.dicomweb_url, auth="basic", username="ris")
    switched = configure(client, personas.project, server.dicomweb_url, auth="bearer")

    assert kept.status_code == 200 and kept.json()["has_secret"]
    assert switched.status_code == 400 and "token" in switched.json()["error"]["message"]
    assert DicomWebSource.objects.get(project=personas.project).auth == "basic"


@pytest.mark.parametrize(
    ("case", "reason", "fragment"),
    [
        ("down", "unreachable", "cannot be reached"),
        ("wrong password", "unauthorized", "refused the credentials"),
        ("not the DICOMweb root", "not_found", "/dicom-web"),
    ],
)
def test_a_pacs_that_is_down_or_misconfigured_is_refused_with_the_reason_and_nothing_is_saved(
    personas, orthanc_server, case, reason, fragment
):
    server = orthanc_server(users={"ris": "s3cret-pass"})
    url, extra = server.dicomweb_url, {"auth": "basic", "username": "ris", "secret": "s3cret-pass"}
    if case == "down":
        url = f"http://127.0.0.1:{free_port()}/dicom-web"
    elif case == "wrong password":
        extra["secret"] = "guess"
    else:
        url = f"{server.base_url}/not-dicom-web"

    response = configure(personas.client_for("owner"), personas.project, url, **extra)

    assert response.status_code == 502, response.content
    error = response.json()["error"]
    assert error["code"] == "upstream_failed" and error["details"]["reason"] == reason
    assert fragment in error["message"] and "guess" not in error["message"]
    assert not DicomWebSource.objects.exists()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"base_url": "ftp://pacs/dicom-web"}, "http"),
        ({"base_url": "pacs.example.org"}, "http"),
        ({"base_url": "http://pacs/dicom-web?x=1"}, "query"),
        ({"base_url": "http://pacs/dicom-web", "auth": "basic", "secret": "x"}, "user name"),
        ({"base_url": "http://pacs/dicom-web", "auth": "bearer"}, "token"),
        ({"base_url": "http://pacs/dicom-web", "auth": "kerberos"}, "auth"),
    ],
)
def test_bad_settings_are_refused_before_any_request(personas, body, fragment):
    response = personas.client_for("owner").put(
        f"/api/projects/{personas.project.id}/pacs/", body, content_type="application/json"
    )
    assert response.status_code == 400 and fragment in response.json()["error"]["message"]
    assert not DicomWebSource.objects.exists()


@pytest.mark.parametrize(
    ("persona", "status"), [("annotator", 403), ("reviewer", 403), ("outsider", 404), ("anonymous", 403)]
)
def test_only_owners_see_or_change_the_pacs(personas, persona, status):
    DicomWebSource.objects.create(project=personas.project, base_url="http://pacs/dicom-web", secret="")
    client = personas.client_for(persona)
    base = f"/api/projects/{personas.project.id}/pacs"
    calls = [
        client.get(f"{base}/"),
        client.put(f"{base}/", {"base_url": "http://x/dicom-web"}, content_type="application/json"),
        client.delete(f"{base}/"),
        client.post(f"{base}/test/"),
        client.get(f"{base}/studies/"),
        client.post(f"{base}/imports/", {"series": ["x"]}, content_type="application/json"),
        client.post(f"{base}/exports/", {}, content_type="application/json"),
    ]
    assert [r.status_code for r in calls] == [status] * len(calls)
    assert DicomWebSource.objects.get().base_url == "http://pacs/dicom-web"


def test_removing_the_pacs_forgets_its_secret(personas, orthanc_server):
    server = orthanc_server()
    client = personas.client_for("owner")
    configure(client, personas.project, server.dicomweb_url)
    assert client.delete(f"/api/projects/{personas.project.id}/pacs/").status_code == 204
    assert client.get(f"/api/projects/{personas.project.id}/pacs/").json() == {"configured": False}
    search = client.get(f"/api/projects/{personas.project.id}/pacs/studies/")
    assert search.status_code == 400 and "no PACS" in search.json()["error"]["message"]


# -- searching -----------------------------------------------------------------------------------------


def identifying_values() -> set[str]:
    """What the test files hold that must never reach the browser: identities, free text, UIDs."""
    values = set()
    for path in real_files():
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        for keyword in (
            "PatientName",
            "PatientID",
            "PatientBirthDate",
            "AccessionNumber",
            "StudyID",
            "StudyDescription",
            "SeriesDescription",
            "InstitutionName",
            "ReferringPhysicianName",
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "SOPInstanceUID",
            "StudyDate",
        ):
            value = str(ds.get(keyword, "") or "").strip()
            if len(value) >= 4:
                values.add(value)
    return values


def test_a_search_shows_only_patient_independent_fields_and_opaque_handles(personas, pacs):
    client = personas.client_for("owner")
    configure(client, personas.project, pacs.dicomweb_url)

    found = studies(client, personas.project)
    series = [s for study in found for s in series_of(client, personas.project, study)]

    assert len(found) == 3
    assert all(set(s) == {"handle", "date", "modalities", "series_count", "instance_count"} for s in found)
    mr_study = next(s for s in found if s["modalities"] == ["MR"])
    assert mr_study["series_count"] == 1 and mr_study["instance_count"] == 20
    assert {s["modality"] for s in series} == {"MR", "CT"}
    mr = next(s for s in series if s["modality"] == "MR")
    assert mr["instance_count"] == 20 and mr["importable"] and mr["imported_series"] is None
    text = json.dumps([found, series])
    leaked = [value for value in identifying_values() if value in text]
    assert leaked == []
    handles = [s["handle"] for s in found + series]
    assert len(set(handles)) == len(handles) and all(len(h) == 32 for h in handles)
    assert PacsHandle.objects.filter(project=personas.project).count() == len(handles)


def test_search_filters_reach_the_pacs(personas, pacs):
    client = personas.client_for("owner")
    configure(client, personas.project, pacs.dicomweb_url)
    brain_date = pydicom.dcmread(brain_series()[0], stop_before_pixels=True).StudyDate  # 20010316

    by_modality = studies(client, personas.project, modality="MR")
    by_date = studies(
        client, personas.project, date_from=f"{brain_date[:4]}-{brain_date[4:6]}-{brain_date[6:]}", date_to=""
    )
    refused = client.get(f"/api/projects/{personas.project.id}/pacs/studies/", {"date_from": "yesterday"})

    assert [s["modalities"] for s in by_modality] == [["MR"]]
    assert ["MR"] in [s["modalities"] for s in by_date]
    assert refused.status_code == 400 and "date_from" in refused.json()["error"]["message"]


def test_the_date_a_search_shows_is_the_date_the_import_stores(
    personas, pacs, media, django_capture_on_commit_callbacks
):
    from tests.pacs.conftest import import_series

    client = personas.client_for("owner")
    configure(client, personas.project, pacs.dicomweb_url)
    mr = find_series(client, personas.project, "MR")

    job = import_series(client, personas.project, [mr["handle"]], django_capture_on_commit_callbacks)

    assert job.state == "done", job.error
    (study,) = client.get(f"/api/projects/{personas.project.id}/studies/").json()
    assert study["study_date"] == mr["date"] != "2001-03-16"


def test_an_unknown_handle_is_not_found(personas, pacs):
    client = personas.client_for("owner")
    configure(client, personas.project, pacs.dicomweb_url)
    response = client.get(f"/api/projects/{personas.project.id}/pacs/studies/{'0' * 32}/series/")
    assert response.status_code == 404 and "search again" in response.json()["error"]["message"]


def test_a_seg_series_on_the_pacs_is_listed_but_cannot_be_imported(personas, orthanc_server):
    from tests.imaging_data import dicom_file

    server = orthanc_server(dicom_file("liver.dcm"))  # pydicom-data's real DICOM SEG
    client = personas.client_for("owner")
    configure(client, personas.project, server.dicomweb_url)

    seg = find_series(client, personas.project, "SEG")

    assert not seg["importable"] and "SEG objects hold no images" in seg["reason"]
