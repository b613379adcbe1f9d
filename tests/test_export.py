"""Exporting masks: NIfTI on the source grid, DICOM SEG referencing the source instances, PNG, COCO RLE; a job
with progress, a download for members only."""

from __future__ import annotations

import copy
import gzip
import io
import json
import zipfile
from unittest import mock

import highdicom as hd
import nibabel as nib
import nrrd
import numpy as np
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.files.uploadedfile import SimpleUploadedFile
from pycocotools.coco import COCO
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from annotator import events
from annotator.actions.exports import run_export_job
from annotator.actions.imports import run_import_job
from annotator.actions.masks import SaveRequest, do_save_revision, mask_shape
from annotator.imaging.orientation import RAS_TO_LPS
from annotator.imaging.volumes import load_volume
from annotator.importing import deid
from annotator.models import Job, Label, Role, Series
from tests.imaging_data import fresh_media, media_files, png_bytes, pyradiomics_dir
from tests.segmentation.conftest import make_series
from webapp.celery import app as celery_app

# -- data ----------------------------------------------------------------------------------------------


@pytest.fixture
def media(settings, tmp_path):
    return fresh_media(settings, tmp_path)


@pytest.fixture
def labels(personas):
    liver = Label.objects.create(project=personas.project, name="liver", value=1, color="#ff0000")
    tumour = Label.objects.create(project=personas.project, name="tumour", value=2, color="#00ff00")
    return liver, tumour


def import_files(client, project, files) -> Series:
    """Upload through the import API (small uploads import in the request) and return the one series."""
    payload = {"files": [SimpleUploadedFile(name, data) for name, data in files]}
    with mock.patch.object(celery_app, "send_task"):
        response = client.post(f"/api/projects/{project.id}/imports/", payload)
    assert response.status_code in (201, 202), response.content
    job = Job.objects.get(pk=response.json()["job"]["id"])
    if response.status_code == 202:  # a larger upload: run the worker's function as Celery would
        job = run_import_job(job.id)
    (series_id,) = job.result["series"]
    return Series.objects.get(pk=series_id)


def nifti_bytes(data: np.ndarray, affine_ras: np.ndarray) -> bytes:
    return gzip.compress(nib.Nifti1Image(data, affine_ras).to_bytes())


# A sagittal acquisition stored the way a RAS tool writes it: i runs anterior, j superior, k to the patient's
# left, so the importer permutes and flips every axis to reach the canonical (Z, Y, X).
SAGITTAL_RAS = np.array(
    [[0.0, 0.0, -2.0, 30.0], [0.9, 0.0, 0.0, -20.0], [0.0, 1.1, 0.0, 5.0], [0.0, 0.0, 0.0, 1.0]]
)


def sagittal_volume() -> np.ndarray:
    """(i, j, k) = (9, 7, 5) int16 with an asymmetric bright region that differs on every slice."""
    data = np.full((9, 7, 5), -1000, dtype=np.int16)
    for k in range(5):
        data[1 : 3 + k, 0 : 2 + (k % 3), k] = 300 + 10 * k
    return data


def ct_dicom_series(n: int = 5, rows: int = 12, cols: int = 10) -> list[tuple[str, bytes, Dataset]]:
    """A small CT series with an unusual geometry: rows run to the patient's right and slices are stacked
    downwards, so canonicalisation flips x and z. Every slice has a different, asymmetric bright region.
    Returns (file name, bytes, dataset) in a shuffled instance order."""
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    out = []
    for k in range(n):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.PatientName, ds.PatientID = "Doe^Jane", "MRN-0042"
        ds.PatientBirthDate, ds.PatientSex = "19700101", "F"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.StudyDate, ds.StudyTime, ds.Modality = "20240102", "101010", "CT"
        ds.SeriesNumber, ds.InstanceNumber = 3, k + 1
        ds.ImageOrientationPatient = [-1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [5.0, -6.0, 10.0 + 2.5 * k]
        ds.PixelSpacing, ds.SliceThickness = [0.8, 0.7], 2.5
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        pixels = np.zeros((rows, cols), dtype=np.int16)  # -1024 HU: air
        pixels[1 : 4 + k, 0 : 2 + k] = 1424  # 400 HU
        ds.PixelData = pixels.tobytes()
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append((f"ct_{k:02d}.dcm", buffer.getvalue(), ds))
    return [out[i] for i in np.random.default_rng(3).permutation(n)]


def save_masks(user, series, masks: dict) -> None:
    """Save each label's whole canonical (Z, Y, X) mask as one revision by ``user``."""
    membership = series.study.project.memberships.get(user=user)
    for label, volume in masks.items():
        slices = {z: volume[z] for z in range(volume.shape[0])}
        do_save_revision(user, series, label, membership.role, SaveRequest(None, "manual", slices))


def export(client, project, body: dict, django_capture_on_commit_callbacks) -> Job:
    """Start an export through the API and run the worker's function as Celery would. These tests are about
    the formats: they export every latest revision unless the body says otherwise (the default, approved
    masks only, is tested in tests/test_review.py)."""
    body = {"masks": "all", **body}
    with (
        mock.patch.object(celery_app, "send_task") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(f"/api/projects/{project.id}/exports/", body, content_type="application/json")
    assert response.status_code == 202, response.content
    job_id = response.json()["job"]["id"]
    enqueue.assert_called_once_with("annotator.tasks.run_export_job", args=[job_id], queue="embed")
    with django_capture_on_commit_callbacks(execute=True):
        return run_export_job(job_id)


def download(client, job: Job) -> zipfile.ZipFile:
    response = client.get(f"/api/exports/{job.id}/download")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    assert 'attachment; filename="' in response["Content-Disposition"]
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


# -- NIfTI ---------------------------------------------------------------------------------------------


def test_a_nifti_export_lines_up_voxel_for_voxel_with_the_reoriented_nifti_that_was_imported(
    personas, media, labels, django_capture_on_commit_callbacks
):
    liver, _ = labels
    source = sagittal_volume()
    client = personas.client_for("owner")
    series = import_files(client, personas.project, [("sag.nii.gz", nifti_bytes(source, SAGITTAL_RAS))])
    # Sagittal: slices run to the left (k), rows downwards (-j), columns posterior (-i): permuted and flipped.
    assert series.shape == [5, 7, 9] and series.import_notes["plane"] == "sagittal"
    assert not np.array_equal(load_volume(series), np.transpose(source, (2, 1, 0)))
    save_masks(personas.owner, series, {liver: load_volume(series) > 0})

    job = export(client, personas.project, {"format": "nifti"}, django_capture_on_commit_callbacks)

    assert job.state == "done", job.error
    archive = download(client, job)
    exported = nib.Nifti1Image.from_bytes(
        gzip.decompress(archive.read(f"series-{series.id}/olivia_owner/labels.nii.gz"))
    )
    np.testing.assert_allclose(exported.affine, SAGITTAL_RAS, atol=1e-5)
    data = np.asanyarray(exported.dataobj)
    assert data.shape == source.shape
    np.testing.assert_array_equal(data, (source > 0).astype(np.uint8) * liver.value)


def test_a_nifti_export_of_an_nrrd_volume_overlays_the_nrrd_file(
    personas, media, labels, django_capture_on_commit_callbacks
):
    liver, _ = labels
    path = pyradiomics_dir() / "brain1_image.nrrd"
    source, header = nrrd.read(str(path))
    client = personas.client_for("owner")
    series = import_files(client, personas.project, [("brain1_image.nrrd", path.read_bytes())])
    threshold = np.percentile(source, 90)
    save_masks(personas.owner, series, {liver: load_volume(series) > threshold})

    job = export(client, personas.project, {"format": "nifti"}, django_capture_on_commit_callbacks)

    exported = nib.Nifti1Image.from_bytes(
        gzip.decompress(download(client, job).read(f"series-{series.id}/olivia_owner/labels.nii.gz"))
    )
    lps = np.eye(4)
    lps[:3, :3] = np.asarray(header["space directions"], dtype=float).T
    lps[:3, 3] = header["space origin"]
    np.testing.assert_allclose(exported.affine, RAS_TO_LPS @ lps, atol=1e-4)
    np.testing.assert_array_equal(np.asanyarray(exported.dataobj) > 0, source > threshold)


def test_overlapping_labels_write_the_higher_value_and_the_manifest_counts_the_overlap(
    personas, media, labels, django_capture_on_commit_callbacks
):
    liver, tumour = labels
    series = make_series(personas.project, np.zeros((2, 6, 6), dtype=np.int16))
    liver_mask = np.zeros((2, 6, 6), bool)
    liver_mask[:, 1:5, 1:5] = True
    tumour_mask = np.zeros((2, 6, 6), bool)
    tumour_mask[1, 2:4, 2:4] = True
    save_masks(personas.owner, series, {liver: liver_mask, tumour: tumour_mask})

    client = personas.client_for("owner")
    archive = download(
        client, export(client, personas.project, {"format": "nifti"}, django_capture_on_commit_callbacks)
    )

    data = np.asanyarray(
        nib.Nifti1Image.from_bytes(
            gzip.decompress(archive.read(f"series-{series.id}/olivia_owner/labels.nii.gz"))
        ).dataobj
    )
    canonical = np.swapaxes(data, 0, 2)
    assert (canonical == 2).sum() == 4 and (canonical == 1).sum() == liver_mask.sum() - 4
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["series"][0]["overlaps"] == {"olivia_owner": 4}
    assert {lab["name"]: lab["value"] for lab in manifest["labels"]} == {"liver": 1, "tumour": 2}


# -- DICOM SEG -----------------------------------------------------------------------------------------


def test_a_dicom_seg_reads_back_with_highdicom_and_each_frame_points_at_its_source_instance(
    personas, media, labels, django_capture_on_commit_callbacks
):
    liver, tumour = labels
    files = ct_dicom_series()
    client = personas.client_for("owner")
    series = import_files(client, personas.project, [(name, data) for name, data, _ in files])
    volume = load_volume(series)
    tumour_mask = np.zeros(volume.shape, bool)
    tumour_mask[0, -1, -1] = True  # far from the bright region: no overlap
    save_masks(personas.owner, series, {liver: volume > 0, tumour: tumour_mask})

    job = export(client, personas.project, {"format": "dicom-seg"}, django_capture_on_commit_callbacks)

    assert job.state == "done", job.error
    seg = hd.seg.segread(
        io.BytesIO(download(client, job).read(f"series-{series.id}/olivia_owner/segmentation.dcm"))
    )
    descriptions = {n: seg.get_segment_description(n) for n in seg.segment_numbers}
    assert {str(d.segment_label) for d in descriptions.values()} == {"liver", "tumour"}
    colours = {
        str(d.segment_label): hd.color.CIELabColor.from_dicom_value(d.RecommendedDisplayCIELabValue).to_rgb()
        for d in descriptions.values()
    }
    assert colours["liver"] == pytest.approx((255, 0, 0), abs=2)
    assert colours["tumour"] == pytest.approx((0, 255, 0), abs=2)
    liver_number = next(n for n, d in descriptions.items() if str(d.segment_label) == "liver")
    # The original files, de-identified as the import did: the SEG must name their (pseudonymous) UIDs.
    expected = {}
    for _, _, original in files:
        ds = copy.deepcopy(original)
        deid.deidentify(ds, personas.project.id)
        pixels = original.pixel_array.astype(np.int32) - 1024
        expected[str(ds.SOPInstanceUID)] = (pixels > 0, str(ds.SeriesInstanceUID), str(ds.StudyInstanceUID))
    referenced = seg.get_source_image_uids()
    assert {sop for _, _, sop in referenced} == set(expected)
    assert {(study, ser) for study, ser, _ in referenced} == {(v[2], v[1]) for v in expected.values()}
    assert str(seg.PatientID) == series.study.patient_pseudonym != "MRN-0042"
    for uid, (bright, _, _) in expected.items():
        frame = seg.get_pixels_by_source_instance(
            [uid], segment_numbers=[liver_number], assert_missing_frames_are_empty=True
        )[0, :, :, 0]
        np.testing.assert_array_equal(frame > 0, bright)


def test_dicom_seg_is_refused_up_front_when_no_series_came_from_dicom(
    personas, media, labels, django_capture_on_commit_callbacks
):
    make_series(personas.project, np.zeros((2, 4, 4), dtype=np.int16))
    response = personas.client_for("owner").post(
        f"/api/projects/{personas.project.id}/exports/",
        {"format": "dicom-seg"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "DICOM" in response.json()["error"]["message"]
    assert not Job.objects.filter(kind="export").exists()


# -- PNG and COCO --------------------------------------------------------------------------------------


def test_a_png_export_of_a_png_image_has_the_image_pixel_grid_and_label_values_as_grey_levels(
    personas, media, labels, django_capture_on_commit_callbacks
):
    liver, tumour = labels
    image = (np.arange(48 * 64) % 251).astype(np.uint8).reshape(48, 64)
    client = personas.client_for("owner")
    series = import_files(client, personas.project, [("photo.png", png_bytes(image))])
    save_masks(personas.owner, series, {liver: (image > 200)[None], tumour: (image < 10)[None]})

    archive = download(
        client, export(client, personas.project, {"format": "png"}, django_capture_on_commit_callbacks)
    )

    from PIL import Image

    written = np.asarray(
        Image.open(io.BytesIO(archive.read(f"series-{series.id}/olivia_owner/slice-0000.png")))
    )
    np.testing.assert_array_equal(written, np.where(image > 200, 1, np.where(image < 10, 2, 0)))


def test_a_png_export_writes_only_slices_with_a_label(
    personas, media, labels, django_capture_on_commit_callbacks
):
    liver, _ = labels
    series = make_series(personas.project, np.zeros((5, 6, 6), dtype=np.int16))
    mask = np.zeros((5, 6, 6), bool)
    mask[1, 2, 2] = mask[3, 0, 5] = True
    save_masks(personas.owner, series, {liver: mask})

    client = personas.client_for("owner")
    archive = download(
        client, export(client, personas.project, {"format": "png"}, django_capture_on_commit_callbacks)
    )

    assert sorted(n for n in archive.namelist() if n.endswith(".png") and "/colour/" not in n) == [
        f"series-{series.id}/olivia_owner/slice-0001.png",
        f"series-{series.id}/olivia_owner/slice-0003.png",
    ]


def test_a_coco_export_loads_in_pycocotools_and_every_annotation_decodes_to_its_mask(
    personas, media, labels, django_capture_on_commit_callbacks, tmp_path
):
    liver, tumour = labels
    rng = np.random.default_rng(7)
    first = make_series(personas.project, np.zeros((3, 10, 7), dtype=np.int16))
    second = make_series(personas.project, np.zeros((2, 5, 9), dtype=np.int16))
    masks = {
        (first.id, "olivia_owner", liver): rng.random((3, 10, 7)) < 0.3,
        (first.id, "anna_annotator", liver): rng.random((3, 10, 7)) < 0.3,
        (second.id, "olivia_owner", tumour): rng.random((2, 5, 9)) < 0.5,
    }
    users = {"olivia_owner": personas.owner, "anna_annotator": personas.annotator}
    for (series_id, user, label), mask in masks.items():
        save_masks(users[user], Series.objects.get(pk=series_id), {label: mask})

    client = personas.client_for("reviewer")
    archive = download(
        client, export(client, personas.project, {"format": "coco"}, django_capture_on_commit_callbacks)
    )

    path = tmp_path / "annotations.json"
    path.write_bytes(archive.read("annotations.json"))
    api = COCO(str(path))
    assert {c["name"]: c["id"] for c in api.loadCats(api.getCatIds())} == {"liver": 1, "tumour": 2}
    assert len(api.getImgIds()) == 3 + 2
    found = {}
    for annotation in api.loadAnns(api.getAnnIds()):
        image = api.loadImgs(annotation["image_id"])[0]
        label = liver if annotation["category_id"] == 1 else tumour
        key = (image["series_id"], annotation["annotator"], label)
        found.setdefault(key, {})[image["slice_index"]] = api.annToMask(annotation).astype(bool)
    assert set(found) == set(masks)
    for key, mask in masks.items():
        for z in range(mask.shape[0]):
            np.testing.assert_array_equal(found[key].get(z, np.zeros(mask.shape[1:], bool)), mask[z])


# -- which masks ---------------------------------------------------------------------------------------


def two_annotators(personas, labels):
    liver, _ = labels
    series = make_series(personas.project, np.zeros((2, 4, 4), dtype=np.int16))
    a = np.zeros((2, 4, 4), bool)
    a[0, 0, 0] = True
    b = np.zeros((2, 4, 4), bool)
    b[1, 3, 3] = True
    save_masks(personas.owner, series, {liver: a})
    save_masks(personas.annotator, series, {liver: b})
    return series, a, b


def test_every_annotator_gets_their_own_files_unless_one_is_chosen(
    personas, media, labels, django_capture_on_commit_callbacks
):
    series, _, b = two_annotators(personas, labels)
    client = personas.client_for("owner")

    everyone = download(
        client, export(client, personas.project, {"format": "nifti"}, django_capture_on_commit_callbacks)
    )
    chosen = download(
        client,
        export(
            client,
            personas.project,
            {"format": "nifti", "annotator": "anna_annotator"},
            django_capture_on_commit_callbacks,
        ),
    )

    folder = f"series-{series.id}"
    assert {n for n in everyone.namelist() if n.endswith(".nii.gz")} == {
        f"{folder}/olivia_owner/labels.nii.gz",
        f"{folder}/anna_annotator/labels.nii.gz",
    }
    assert [n for n in chosen.namelist() if n.endswith(".nii.gz")] == [
        f"{folder}/anna_annotator/labels.nii.gz"
    ]
    data = np.asanyarray(
        nib.Nifti1Image.from_bytes(
            gzip.decompress(chosen.read(f"{folder}/anna_annotator/labels.nii.gz"))
        ).dataobj
    )
    np.testing.assert_array_equal(np.swapaxes(data, 0, 2) > 0, b)


def test_the_head_revision_is_exported(personas, media, labels, django_capture_on_commit_callbacks):
    liver, _ = labels
    series = make_series(personas.project, np.zeros((1, 4, 4), dtype=np.int16))
    old, new = np.zeros((1, 4, 4), bool), np.zeros((1, 4, 4), bool)
    old[0, 0, 0], new[0, 2, 2] = True, True
    save_masks(personas.owner, series, {liver: old})
    head = series.mask_tracks.get().head
    do_save_revision(
        personas.owner, series, liver, Role.OWNER, SaveRequest(head.id, "corrected", {0: new[0]})
    )

    client = personas.client_for("owner")
    archive = download(
        client, export(client, personas.project, {"format": "png"}, django_capture_on_commit_callbacks)
    )

    from PIL import Image

    plane = np.asarray(
        Image.open(io.BytesIO(archive.read(f"series-{series.id}/olivia_owner/slice-0000.png")))
    )
    np.testing.assert_array_equal(plane > 0, new[0])


def test_only_the_chosen_series_are_exported(personas, media, labels, django_capture_on_commit_callbacks):
    series, _, _ = two_annotators(personas, labels)
    other = make_series(personas.project, np.zeros((1, 4, 4), dtype=np.int16))
    client = personas.client_for("owner")
    job = export(
        client, personas.project, {"format": "coco", "series": [other.id]}, django_capture_on_commit_callbacks
    )
    manifest = json.loads(download(client, job).read("manifest.json"))
    assert [s["id"] for s in manifest["series"]] == [other.id] != [series.id]


# -- the job -------------------------------------------------------------------------------------------


def received(layer, channel) -> list[dict]:
    import asyncio

    async def drain():
        messages = []
        while True:
            try:
                messages.append(await asyncio.wait_for(layer.receive(channel), timeout=0.2))
            except TimeoutError:
                return messages

    return async_to_sync(drain)()


def test_the_export_job_reports_progress_to_its_creator_over_the_channel_layer(
    personas, media, labels, django_capture_on_commit_callbacks
):
    two_annotators(personas, labels)
    make_series(personas.project, np.zeros((1, 4, 4), dtype=np.int16))
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.user_group(personas.annotator.id), channel)

    job = export(
        personas.client_for("annotator"),
        personas.project,
        {"format": "png"},
        django_capture_on_commit_callbacks,
    )

    messages = [m["payload"] for m in received(layer, channel)]
    assert all(m["type"] == "job.progress" and m["job"]["id"] == job.id for m in messages)
    states = [m["job"]["state"] for m in messages]
    assert states[0] == "pending" and states[-1] == "done" and "running" in states
    progress = [m["job"]["progress"] for m in messages if m["job"]["state"] == "running"]
    assert progress == sorted(progress) and len(set(progress)) >= 2
    assert messages[-1]["job"]["result"]["download_url"] == f"/api/exports/{job.id}/download"


def test_a_cancelled_export_stops_and_leaves_no_file(
    personas, media, labels, django_capture_on_commit_callbacks
):
    two_annotators(personas, labels)
    client = personas.client_for("owner")
    with mock.patch.object(celery_app, "send_task"), django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/projects/{personas.project.id}/exports/",
            {"format": "nifti"},
            content_type="application/json",
        )
    job_id = response.json()["job"]["id"]
    assert client.post(f"/api/jobs/{job_id}/cancel/").status_code == 200

    job = run_export_job(job_id)

    assert job.state == "cancelled"
    assert not [p for p in media_files(media) if "exports" in p.parts]
    assert client.get(f"/api/exports/{job_id}/download").status_code == 409


def test_a_job_cancelled_while_running_stops_before_the_next_series(
    personas, media, labels, django_capture_on_commit_callbacks
):
    two_annotators(personas, labels)
    make_series(personas.project, np.zeros((1, 4, 4), dtype=np.int16))
    client = personas.client_for("owner")
    with mock.patch.object(celery_app, "send_task"):
        response = client.post(
            f"/api/projects/{personas.project.id}/exports/",
            {"format": "nifti"},
            content_type="application/json",
        )
    job_id = response.json()["job"]["id"]
    from annotator.actions import exports as export_actions

    real = export_actions.selected_masks

    def cancel_after_first(series, annotator, **options):
        Job.objects.get(pk=job_id).cancel()
        return real(series, annotator, **options)

    with mock.patch.object(export_actions, "selected_masks", side_effect=cancel_after_first) as spy:
        job = run_export_job(job_id)

    assert job.state == "cancelled" and spy.call_count == 1
    assert not [p for p in media_files(media) if "exports" in p.parts]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"format": "tiff"}, "format"),
        ({"format": "nifti", "series": []}, "series"),
        ({"format": "nifti", "annotator": "oscar_outsider"}, "not a member"),
        ({"format": "nifti", "annotator": "nobody"}, "not a member"),
    ],
)
def test_bad_export_requests_are_refused_and_start_nothing(personas, media, labels, body, fragment):
    make_series(personas.project, np.zeros((1, 4, 4), dtype=np.int16))
    with mock.patch.object(celery_app, "send_task") as enqueue:
        response = personas.client_for("owner").post(
            f"/api/projects/{personas.project.id}/exports/", body, content_type="application/json"
        )
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]
    assert not Job.objects.exists() and not enqueue.called


def test_series_of_another_project_cannot_be_exported(personas, media, labels):
    from tests.factories import ProjectFactory

    foreign = make_series(ProjectFactory(created_by=personas.outsider), np.zeros((1, 4, 4), dtype=np.int16))
    response = personas.client_for("owner").post(
        f"/api/projects/{personas.project.id}/exports/",
        {"format": "nifti", "series": [foreign.id]},
        content_type="application/json",
    )
    assert response.status_code == 400 and str(foreign.id) in response.json()["error"]["message"]
    assert not Job.objects.exists()


# -- who may export and download -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "status"),
    [("owner", 202), ("annotator", 202), ("reviewer", 202), ("outsider", 404), ("anonymous", 403)],
)
def test_members_may_export_and_others_cannot_see_the_project(personas, media, labels, persona, status):
    make_series(personas.project, np.zeros((1, 4, 4), dtype=np.int16))
    with mock.patch.object(celery_app, "send_task"):
        response = personas.client_for(persona).post(
            f"/api/projects/{personas.project.id}/exports/",
            {"format": "png"},
            content_type="application/json",
        )
    assert response.status_code == status
    assert Job.objects.filter(kind="export").count() == (1 if status == 202 else 0)


@pytest.mark.parametrize(
    ("persona", "status"),
    [("owner", 200), ("annotator", 200), ("reviewer", 200), ("outsider", 404), ("anonymous", 403)],
)
def test_only_members_can_download_an_export(
    personas, media, labels, persona, status, django_capture_on_commit_callbacks
):
    two_annotators(personas, labels)
    job = export(
        personas.client_for("annotator"),
        personas.project,
        {"format": "png"},
        django_capture_on_commit_callbacks,
    )
    response = personas.client_for(persona).get(f"/api/exports/{job.id}/download")
    assert response.status_code == status
    if status == 200:
        assert zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).testzip() is None


def test_a_former_member_can_no_longer_download_their_export(
    personas, media, labels, django_capture_on_commit_callbacks
):
    two_annotators(personas, labels)
    client = personas.client_for("annotator")
    job = export(client, personas.project, {"format": "png"}, django_capture_on_commit_callbacks)
    personas.project.memberships.filter(user=personas.annotator).delete()
    assert client.get(f"/api/exports/{job.id}/download").status_code == 404


def test_a_job_that_is_no_export_cannot_be_downloaded(personas, media):
    job = Job.objects.create(kind="import", project=personas.project, created_by=personas.owner, state="done")
    assert personas.client_for("owner").get(f"/api/exports/{job.id}/download").status_code == 404


def test_mask_shape_helper_matches_the_stored_grid(personas, media):
    # Guards the assumption every writer makes: a 2D colour image has a (1, Y, X) label grid.
    series = make_series(personas.project, np.zeros((1, 5, 7, 3), dtype=np.uint8), kind="image")
    assert mask_shape(series) == (1, 5, 7)


def test_series_a_dicom_seg_cannot_reference_are_skipped_with_the_reason_in_the_manifest(
    personas, media, labels, django_capture_on_commit_callbacks
):
    liver, _ = labels
    client = personas.client_for("owner")
    ct = import_files(client, personas.project, [(n, d) for n, d, _ in ct_dicom_series()])
    plain = make_series(personas.project, np.zeros((2, 4, 4), dtype=np.int16))
    save_masks(personas.owner, ct, {liver: load_volume(ct) > 0})
    save_masks(personas.owner, plain, {liver: np.ones((2, 4, 4), bool)})

    job = export(client, personas.project, {"format": "dicom-seg"}, django_capture_on_commit_callbacks)

    assert job.state == "done" and job.result["skipped"] == 1 and "skipped" in job.message
    manifest = {s["id"]: s for s in json.loads(download(client, job).read("manifest.json"))["series"]}
    assert manifest[ct.id]["files"] == [f"series-{ct.id}/olivia_owner/segmentation.dcm"]
    assert manifest[plain.id]["files"] == []
    assert manifest[plain.id]["skipped"] == [
        {"annotator": "olivia_owner", "reason": "DICOM SEG needs a series imported from DICOM"}
    ]


def test_the_export_task_runs_on_the_embed_queue_and_calls_the_plain_function(
    personas, media, labels, django_capture_on_commit_callbacks
):
    import annotator.tasks  # noqa: F401 - registers the app's tasks, as the worker's autodiscovery does
    from annotator.actions.jobs import start_job

    with (
        mock.patch.object(celery_app, "send_task") as send_task,
        django_capture_on_commit_callbacks(execute=True),
    ):
        job = start_job("export", project=personas.project, user=personas.owner, payload={})
    send_task.assert_called_once_with("annotator.tasks.run_export_job", args=[job.id], queue="embed")
    with mock.patch("annotator.actions.exports.run_export_job", return_value=job) as plain:
        assert celery_app.tasks["annotator.tasks.run_export_job"](job.id) == "pending"
    plain.assert_called_once_with(job.id)
