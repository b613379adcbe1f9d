"""Exports a person can look at: a PNG export writes each label map's slices in the labels' colours beside
the raw values, and a COCO export holds the slice images its ``file_name`` points at (unless asked not to).
Bodies say ``"masks": "all"``: every saved mask, whichever masks an export takes by default."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from annotator.imaging.volumes import load_reference_labels
from annotator.models import Label
from tests.imaging_data import fresh_media, png_bytes
from tests.segmentation.conftest import make_series
from tests.test_export import download, export, import_files, save_masks


@pytest.fixture
def media(settings, tmp_path):
    return fresh_media(settings, tmp_path)


@pytest.fixture
def labels(personas):
    liver = Label.objects.create(project=personas.project, name="liver", value=1, color="#ff0000")
    tumour = Label.objects.create(project=personas.project, name="tumour", value=2, color="#00ff00")
    return liver, tumour


def read_png(archive, name: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(archive.read(name))))


def test_a_png_export_writes_each_slice_in_the_label_colours_beside_its_label_values(
    personas, media, labels, django_capture_on_commit_callbacks
):
    liver, tumour = labels
    series = make_series(personas.project, np.zeros((3, 6, 8), dtype=np.int16))
    liver_mask = np.zeros((3, 6, 8), bool)
    liver_mask[1, 1:3, 1:4] = True
    tumour_mask = np.zeros((3, 6, 8), bool)
    tumour_mask[1, 4, 6] = True
    save_masks(personas.owner, series, {liver: liver_mask, tumour: tumour_mask})
    client = personas.client_for("owner")

    archive = download(
        client,
        export(
            client, personas.project, {"format": "png", "masks": "all"}, django_capture_on_commit_callbacks
        ),
    )

    folder = f"series-{series.id}/olivia_owner"
    raw = read_png(archive, f"{folder}/slice-0001.png")
    assert raw.max() == 2  # the label map: values 1 and 2, black to the eye
    seen = read_png(archive, f"{folder}/colour/slice-0001.png")
    assert seen.shape == (6, 8, 3)
    assert (seen[liver_mask[1]] == [255, 0, 0]).all() and (seen[tumour_mask[1]] == [0, 255, 0]).all()
    assert (seen[~(liver_mask[1] | tumour_mask[1])] == 0).all()
    assert f"{folder}/colour/slice-0000.png" not in archive.namelist()  # only slices with a label
    assert "colour/slice-<z>.png" in archive.read("README.txt").decode()

    # The annotator's folder, zipped as it is, still imports back as reference labels (colour/ skipped).
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as again:
        for name in archive.namelist():
            if name.startswith(folder):
                again.writestr(name[len(folder) + 1 :], archive.read(name))
    response = client.post(
        f"/api/series/{series.id}/reference-labels/",
        {"file": SimpleUploadedFile("masks.zip", buffer.getvalue())},
    )
    assert response.status_code == 201, response.content
    series.refresh_from_db()
    np.testing.assert_array_equal(load_reference_labels(series)[1], raw)


def test_a_coco_export_holds_the_slice_images_its_file_names_point_at(
    personas, media, labels, django_capture_on_commit_callbacks
):
    liver, _ = labels
    image = (np.arange(12 * 16) % 200).astype(np.uint8).reshape(12, 16)
    client = personas.client_for("owner")
    series = import_files(client, personas.project, [("photo.png", png_bytes(image))])
    save_masks(personas.owner, series, {liver: (image > 150)[None]})

    archive = download(
        client,
        export(
            client, personas.project, {"format": "coco", "masks": "all"}, django_capture_on_commit_callbacks
        ),
    )

    document = json.loads(archive.read("annotations.json"))
    (entry,) = document["images"]
    shown = read_png(archive, entry["file_name"])
    assert shown.shape == (entry["height"], entry["width"]) == (12, 16)
    # The slice in its default display window: the stored grey levels' order is kept.
    assert np.array_equal(np.argsort(shown.ravel(), kind="stable"), np.argsort(image.ravel(), kind="stable"))

    masks_only = download(
        client,
        export(
            client,
            personas.project,
            {"format": "coco", "masks": "all", "images": False},
            django_capture_on_commit_callbacks,
        ),
    )
    assert entry["file_name"] not in masks_only.namelist()
    assert json.loads(masks_only.read("annotations.json"))["images"][0]["file_name"] == entry["file_name"]


def test_a_seg_export_that_skips_a_series_says_which_and_why_in_the_jobs_result(
    personas, media, labels, django_capture_on_commit_callbacks
):
    from tests.test_export import ct_dicom_series

    liver, _ = labels
    client = personas.client_for("owner")
    ct = import_files(client, personas.project, [(n, d) for n, d, _ in ct_dicom_series()])
    plain = make_series(personas.project, np.zeros((2, 4, 4), dtype=np.int16))
    save_masks(personas.owner, ct, {liver: np.ones(tuple(ct.shape[:3]), bool)})
    save_masks(personas.owner, plain, {liver: np.ones((2, 4, 4), bool)})

    job = export(
        client, personas.project, {"format": "dicom-seg", "masks": "all"}, django_capture_on_commit_callbacks
    )

    assert job.state == "done"
    assert job.result["skipped_series"] == [
        {
            "series": plain.id,
            "description": plain.description,
            "annotator": "olivia_owner",
            "reason": "DICOM SEG needs a series imported from DICOM",
        }
    ]
