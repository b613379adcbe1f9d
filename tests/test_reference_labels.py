"""Importing existing masks as a series' reference labels: exports round-trip, foreign geometry is refused
with a clear message and writes nothing."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator.exporting.common import LabelInfo, label_map
from annotator.imaging.volumes import load_reference_labels, load_volume
from annotator.models import Label, Series
from tests.imaging_data import fresh_media, media_files, png_bytes
from tests.segmentation.conftest import make_series
from tests.test_export import (
    SAGITTAL_RAS,
    ct_dicom_series,
    download,
    export,
    import_files,
    nifti_bytes,
    sagittal_volume,
    save_masks,
)


@pytest.fixture
def media(settings, tmp_path):
    return fresh_media(settings, tmp_path)


@pytest.fixture
def labels(personas):
    liver = Label.objects.create(project=personas.project, name="liver", value=1, color="#ff0000")
    tumour = Label.objects.create(project=personas.project, name="tumour", value=2, color="#00ff00")
    return liver, tumour


def post_reference(client, series, name: str, data: bytes):
    return client.post(f"/api/series/{series.id}/reference-labels/", {"file": SimpleUploadedFile(name, data)})


def expected_map(masks: dict) -> np.ndarray:
    infos = [LabelInfo(lab.id, lab.name, lab.value, lab.color) for lab in masks]
    shape = next(iter(masks.values())).shape
    return label_map({lab.id: m for lab, m in masks.items()}, infos, shape)[0]


def exported_file(client, project, fmt: str, name: str, capture) -> bytes:
    return download(client, export(client, project, {"format": fmt}, capture)).read(name)


# -- round trips ---------------------------------------------------------------------------------------


def test_a_nifti_export_imported_back_gives_the_same_label_map(
    personas, media, labels, django_capture_on_commit_callbacks
):
    liver, tumour = labels
    client = personas.client_for("owner")
    series = import_files(
        client, personas.project, [("sag.nii.gz", nifti_bytes(sagittal_volume(), SAGITTAL_RAS))]
    )
    volume = load_volume(series)
    tumour_mask = np.zeros(volume.shape, bool)
    tumour_mask[2, 0, :3] = True
    masks = {liver: volume > 0, tumour: tumour_mask & ~(volume > 0)}
    save_masks(personas.owner, series, masks)
    data = exported_file(
        client,
        personas.project,
        "nifti",
        f"series-{series.id}/olivia_owner/labels.nii.gz",
        django_capture_on_commit_callbacks,
    )

    response = post_reference(client, series, "labels.nii.gz", data)

    assert response.status_code == 201, response.content
    assert response.json()["series"]["has_reference_labels"] is True
    series.refresh_from_db()
    np.testing.assert_array_equal(load_reference_labels(series), expected_map(masks))
    assert response.json()["labels"] == {"1": int(masks[liver].sum()), "2": int(masks[tumour].sum())}


def test_a_dicom_seg_export_imported_back_gives_the_same_label_map(
    personas, media, labels, django_capture_on_commit_callbacks
):
    liver, tumour = labels
    client = personas.client_for("owner")
    series = import_files(client, personas.project, [(n, d) for n, d, _ in ct_dicom_series()])
    volume = load_volume(series)
    tumour_mask = np.zeros(volume.shape, bool)
    tumour_mask[4, -2:, -3:] = True
    masks = {liver: volume > 0, tumour: tumour_mask}
    save_masks(personas.owner, series, masks)
    data = exported_file(
        client,
        personas.project,
        "dicom-seg",
        f"series-{series.id}/olivia_owner/segmentation.dcm",
        django_capture_on_commit_callbacks,
    )

    response = post_reference(client, series, "segmentation.dcm", data)

    assert response.status_code == 201, response.content
    series.refresh_from_db()
    np.testing.assert_array_equal(load_reference_labels(series), expected_map(masks))


def test_a_png_export_of_a_volume_imported_back_as_a_zip_gives_the_same_label_map(
    personas, media, labels, django_capture_on_commit_callbacks
):
    liver, tumour = labels
    rng = np.random.default_rng(5)
    series = make_series(personas.project, np.zeros((4, 9, 11), dtype=np.int16))
    liver_mask = rng.random((4, 9, 11)) < 0.3
    liver_mask[2] = False  # an empty slice has no PNG
    masks = {liver: liver_mask, tumour: (rng.random((4, 9, 11)) < 0.2) & ~liver_mask}
    save_masks(personas.annotator, series, masks)
    client = personas.client_for("owner")
    archive = download(
        client, export(client, personas.project, {"format": "png"}, django_capture_on_commit_callbacks)
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as pngs:
        for name in archive.namelist():
            # the label maps, not their colour previews (colour/ beside them)
            if name.startswith(f"series-{series.id}/anna_annotator/") and "/colour/" not in name:
                pngs.writestr(name.rsplit("/", 1)[-1], archive.read(name))

    response = post_reference(client, series, "masks.zip", buffer.getvalue())

    assert response.status_code == 201, response.content
    series.refresh_from_db()
    np.testing.assert_array_equal(load_reference_labels(series), expected_map(masks))


def test_a_single_png_becomes_the_reference_of_a_2d_image(personas, media, labels):
    image = (np.arange(30 * 40) % 200).astype(np.uint8).reshape(30, 40)
    client = personas.client_for("owner")
    series = import_files(client, personas.project, [("photo.png", png_bytes(image))])
    mask = np.where(image > 150, 2, 0).astype(np.uint8)

    response = post_reference(client, series, "mask.png", png_bytes(mask))

    assert response.status_code == 201, response.content
    series.refresh_from_db()
    np.testing.assert_array_equal(load_reference_labels(series), mask[None])


def test_a_new_reference_replaces_the_old_one_and_its_file(
    personas, media, labels, django_capture_on_commit_callbacks
):
    series = make_series(personas.project, np.zeros((1, 5, 6), dtype=np.int16), kind="image")
    client = personas.client_for("owner")
    first, second = np.eye(5, 6, dtype=np.uint8), np.eye(5, 6, dtype=np.uint8)[::-1] * 3
    assert post_reference(client, series, "a.png", png_bytes(first)).status_code == 201
    series.refresh_from_db()
    old = media / series.reference_labels.name
    assert old.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = post_reference(client, series, "b.png", png_bytes(second))

    assert response.status_code == 201
    series.refresh_from_db()
    assert not old.exists() and (media / series.reference_labels.name).exists()
    np.testing.assert_array_equal(load_reference_labels(series), second[None])


# -- refusals write nothing ----------------------------------------------------------------------------


def shifted(affine: np.ndarray, mm: float) -> np.ndarray:
    out = affine.copy()
    out[0, 3] += mm
    return out


def other_dicom_seg(personas, labels, capture) -> bytes:
    """A SEG exported from another DICOM series of the same project."""
    liver, _ = labels
    client = personas.client_for("owner")
    other = import_files(client, personas.project, [(n, d) for n, d, _ in ct_dicom_series()])
    save_masks(personas.owner, other, {liver: load_volume(other) > 0})
    job = export(client, personas.project, {"format": "dicom-seg", "series": [other.id]}, capture)
    return download(client, job).read(f"series-{other.id}/olivia_owner/segmentation.dcm")


CASES = {
    "wrong grid": (
        "labels.nii.gz",
        lambda *_: nifti_bytes(np.ones((9, 7, 4), np.uint8), SAGITTAL_RAS),
        400,
        "does not match the series",
    ),
    "same grid, moved": (
        "labels.nii.gz",
        lambda *_: nifti_bytes(np.ones((9, 7, 5), np.uint8), shifted(SAGITTAL_RAS, 3.0)),
        400,
        "would not line up",
    ),
    "same grid, flipped": (
        "labels.nii.gz",
        lambda *_: nifti_bytes(np.ones((9, 7, 5), np.uint8), SAGITTAL_RAS @ np.diag([-1.0, 1, 1, 1])),
        400,
        "would not line up",
    ),
    "not whole numbers": (
        "labels.nii.gz",
        lambda *_: nifti_bytes(np.full((9, 7, 5), 0.5, np.float32), SAGITTAL_RAS),
        400,
        "whole numbers",
    ),
    "empty": (
        "labels.nii.gz",
        lambda *_: nifti_bytes(np.zeros((9, 7, 5), np.uint8), SAGITTAL_RAS),
        400,
        "empty",
    ),
    "a SEG of another series": ("seg.dcm", other_dicom_seg, 400, "references other images"),
    "one PNG for a volume": ("mask.png", lambda *_: png_bytes(np.ones((7, 9), np.uint8)), 400, "zip"),
    "PNG slices of another size": (
        "m.zip",
        lambda *_: zip_of({"slice-0001.png": png_bytes(np.ones((5, 5), np.uint8))}),
        400,
        "pixels",
    ),
    "PNG slice outside the series": (
        "m.zip",
        lambda *_: zip_of({"slice-0009.png": png_bytes(np.ones((7, 9), np.uint8))}),
        400,
        "outside",
    ),
    "colour PNG": (
        "m.zip",
        lambda *_: zip_of({"slice-0001.png": png_bytes(np.ones((7, 9, 3), np.uint8))}),
        400,
        "greyscale",
    ),
    "garbage": ("notes.txt", lambda *_: b"hello, these are not masks" * 30, 415, "not a mask file"),
    "truncated NIfTI": (
        "labels.nii.gz",
        lambda *_: truncated(
            nifti_bytes(np.arange(9 * 7 * 5, dtype=np.uint8).reshape(9, 7, 5), SAGITTAL_RAS)
        ),
        400,
        "labels.nii.gz",
    ),
}


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("case", list(CASES))
def test_a_mask_that_does_not_fit_the_series_is_refused_and_nothing_is_written(
    personas, media, labels, case, django_capture_on_commit_callbacks
):
    name, make, status, fragment = CASES[case]
    client = personas.client_for("owner")
    if name.endswith(".nii.gz"):  # the NIfTI cases are written for this sagittal geometry
        series = import_files(
            client, personas.project, [("sag.nii.gz", nifti_bytes(sagittal_volume(), SAGITTAL_RAS))]
        )
    elif name.endswith(".dcm"):
        series = import_files(client, personas.project, [(n, d) for n, d, _ in ct_dicom_series()])
    else:
        series = make_series(personas.project, np.zeros((5, 7, 9), dtype=np.int16))
    data = make(personas, labels, django_capture_on_commit_callbacks)
    before = sorted(media_files(media))

    response = post_reference(client, series, name, data)

    assert response.status_code == status, response.content
    assert fragment in response.json()["error"]["message"]
    assert not Series.objects.get(pk=series.pk).reference_labels
    assert sorted(media_files(media)) == before


def test_an_upload_without_a_file_is_refused(personas, media):
    series = make_series(personas.project, np.zeros((1, 4, 4), dtype=np.int16), kind="image")
    response = personas.client_for("owner").post(f"/api/series/{series.id}/reference-labels/", {})
    assert response.status_code == 400 and "file" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("persona", "status"),
    [("owner", 201), ("annotator", 403), ("reviewer", 403), ("outsider", 404), ("anonymous", 403)],
)
def test_only_the_owner_can_set_reference_labels(personas, media, persona, status):
    series = make_series(personas.project, np.zeros((1, 5, 6), dtype=np.int16), kind="image")
    response = post_reference(
        personas.client_for(persona), series, "m.png", png_bytes(np.eye(5, 6, dtype=np.uint8))
    )
    assert response.status_code == status
    assert bool(Series.objects.get(pk=series.pk).reference_labels) == (status == 201)
