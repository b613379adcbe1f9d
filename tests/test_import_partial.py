"""An upload with some bad files imports the good ones and lists each refused file with its reason; nothing
stored names an uploaded file (issue 13, probe finding 12: staged imports kept names such as
``Doe_Janet_PHI778899_0.dcm`` in the job payload, and NIfTI and PNG file names became descriptions)."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from unittest import mock

import nibabel as nib
import numpy as np
import pytest
from django.core import serializers

from annotator.actions.imports import run_import_job
from annotator.models import Job, Series, Study
from tests.imaging_data import brain_series, dicom_file, fresh_media, media_files, png_bytes
from tests.test_import import counts, files_of, truncated_dicom, upload, zip_of
from webapp.celery import app as celery_app

PHI = ("Doe_Janet", "PHI778899", "Janet")


@pytest.fixture
def media(settings, tmp_path):
    return fresh_media(settings, tmp_path)


def nifti_bytes() -> bytes:
    return nib.Nifti1Image(np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6), np.eye(4)).to_bytes()


def stored_text() -> str:
    """Every row an import writes, as JSON: jobs (payload, message, result), studies and series."""
    return serializers.serialize("json", [*Job.objects.all(), *Study.objects.all(), *Series.objects.all()])


# -- good files imported, bad ones listed --------------------------------------------------------------


def test_a_batch_with_bad_files_imports_the_good_ones_and_lists_each_refused_file(personas, media):
    files = (
        files_of([dicom_file("CT_small.dcm")])
        + [("notes.txt", b"not an image"), ("broken.nii", b"\x5c\x01" + b"\0" * 400)]
        + [("slice.png", png_bytes(np.full((8, 8), 7, np.uint8)))]
        + [("evil.zip", zip_of({"../../etc/evil.dcm": b"x"}))]
    )
    response = upload(personas.client_for("owner"), personas.project, files)

    assert response.status_code == 201, response.content
    body = response.json()
    assert sorted(s["modality"] for s in body["series"]) == ["CT", "OT"]
    refused = {r["file"]: r["reason"] for r in body["refused"]}
    assert set(refused) == {"notes.txt", "broken.nii", "evil.zip"}
    assert refused["notes.txt"].startswith("unsupported file type")
    assert "NIfTI" in refused["broken.nii"]
    assert "outside the upload folder" in refused["evil.zip"]
    assert body["job"]["message"] == "Imported 2 series; 3 refused."
    assert Series.objects.count() == 2


def test_a_series_one_of_whose_files_is_refused_is_refused_whole_not_imported_with_a_gap(personas, media):
    brain = files_of(brain_series()[:5])
    name, data = brain[2]
    brain[2] = (name, data[: len(data) - 5000])  # its header reads, its pixel data is cut short
    response = upload(
        personas.client_for("owner"), personas.project, brain + files_of([dicom_file("CT_small.dcm")])
    )

    assert response.status_code == 201, response.content
    assert [s["modality"] for s in response.json()["series"]] == ["CT"]
    refused = response.json()["refused"]
    assert refused[0]["file"] == name and "truncated" in refused[0]["reason"]
    assert refused[1]["file"] == f"{brain[0][0]} and 3 more files of its series"
    assert f"because {name} of the same series was refused" in refused[1]["reason"]


def test_an_upload_of_only_bad_files_is_refused_listing_them_and_writes_nothing(personas, media):
    before = counts()
    response = upload(
        personas.client_for("owner"), personas.project, [("a.txt", b"hello"), ("b.dcm", truncated_dicom())]
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"].startswith("None of the 2 files could be imported. a.txt: unsupported file type")
    assert [r["file"] for r in error["details"]["refused"]] == ["a.txt", "b.dcm"]
    assert counts() == before and media_files(media) == []


def test_a_background_import_builds_the_good_series_and_lists_the_one_that_failed(personas, media):
    paths = brain_series()[:10]
    with mock.patch.object(celery_app, "send_task"):
        response = upload(
            personas.client_for("owner"),
            personas.project,
            files_of(paths) + files_of([dicom_file("CT_small.dcm")]),
        )
    assert response.status_code == 202 and response.json()["refused"] == []
    real_decode = __import__("annotator.importing.dicom", fromlist=["_decode"])._decode

    def decode(ds, name):
        if str(ds.get("Modality")) == "CT":
            from annotator.errors import InvalidInput

            raise InvalidInput(f"{name}: the pixel data cannot be decoded (simulated damage).")
        return real_decode(ds, name)

    with mock.patch("annotator.importing.dicom._decode", side_effect=decode):
        job = run_import_job(response.json()["job"]["id"])

    assert job.state == "done", job.error
    assert [Series.objects.get(pk=pk).modality for pk in job.result["series"]] == ["MR"]
    (failed,) = job.result["refused"]
    assert failed["file"].startswith("DICOM series ") and failed["file"].endswith("(1 file)")
    assert "cannot be decoded" in failed["reason"] and "CT_small" not in json.dumps(job.result)
    assert job.message == "Imported 1 series; 1 refused."
    assert not [p for p in media_files(media) if "imports" in p.parts]


def test_the_demo_and_pacs_imports_stay_all_or_nothing(personas, media):
    from annotator.actions.imports import do_import
    from annotator.errors import UnsupportedMedia

    with pytest.raises(UnsupportedMedia):
        do_import(
            personas.owner,
            personas.project,
            [("ct.dcm", dicom_file("CT_small.dcm")), ("notes.txt", io.BytesIO(b"no"))],
            force_sync=True,
        )
    assert counts() == (0, 0, 0)


# -- no uploaded file name is stored -------------------------------------------------------------------


def test_a_staged_import_keeps_no_uploaded_file_name_in_its_job(personas, media):
    files = [(f"Doe_Janet_PHI778899_{i}.dcm", data) for i, (_, data) in enumerate(files_of(brain_series()))]
    with mock.patch.object(celery_app, "send_task"):
        response = upload(personas.client_for("owner"), personas.project, files)
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["job"]["id"])
    assert not [p for p in PHI if p in json.dumps(job.payload)], job.payload["series"][0]["name"]
    assert job.payload["series"][0]["name"] == "DICOM series 1 (20 files)"
    run_import_job(job.id)
    assert not [p for p in PHI if p in stored_text()]


def test_nifti_and_png_file_names_do_not_become_descriptions(personas, media):
    files = [
        ("Doe_Janet_PHI778899.nii.gz", gzip.compress(nifti_bytes())),
        ("Doe_Janet_PHI778899_xray.png", png_bytes(np.full((6, 9), 3, np.uint8))),
    ]
    response = upload(personas.client_for("owner"), personas.project, files)
    assert response.status_code == 201, response.content
    descriptions = sorted(
        (s.description, s.study.description) for s in Series.objects.select_related("study")
    )
    assert descriptions == [
        ("Image 9×6", "Image 9×6"),
        ("NIfTI volume 4×5×6", "NIfTI volume 4×5×6"),
    ]
    assert not [p for p in PHI if p in stored_text()]


def test_errors_of_a_background_import_name_no_server_path(personas, media):
    with mock.patch.object(celery_app, "send_task"):
        response = upload(personas.client_for("owner"), personas.project, files_of(brain_series()[:10]))

    def broken(ds, name):
        from annotator.errors import InvalidInput

        raise InvalidInput(f"{name}: the pixel data cannot be decoded (simulated damage).")

    with mock.patch("annotator.importing.dicom._decode", side_effect=broken):
        job = run_import_job(response.json()["job"]["id"])
    assert job.state == "failed"
    assert job.error.startswith("DICOM series 1 (10 files), file ")
    assert "/" not in job.error.split(":")[0] and "imports" not in job.error


def test_a_zip_entry_name_is_not_stored_either(personas, media):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Doe_Janet_PHI778899/Doe_Janet_PHI778899.nii", nifti_bytes())
    response = upload(personas.client_for("owner"), personas.project, [("Doe_Janet.zip", buffer.getvalue())])
    assert response.status_code == 201, response.content
    assert not [p for p in PHI if p in stored_text()]
