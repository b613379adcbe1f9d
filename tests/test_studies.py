"""Studies and series over the API: listing, slices as PNG with windows and caching, raw slices for the
browser's own window/level, thumbnails, reference labels, deletion; every endpoint by persona."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from annotator.actions.imports import do_import
from annotator.imaging.volumes import load_reference_labels, load_volume
from annotator.models import Series, Study
from tests.imaging_data import dicom_file, fresh_media, media_files, pyradiomics_dir


@pytest.fixture
def media(settings, tmp_path):
    return fresh_media(settings, tmp_path)


@pytest.fixture
def ct(personas, media) -> Series:
    """The real pyradiomics lung CT (512x512x48) with its nodule label map."""
    folder = pyradiomics_dir()
    job = do_import(
        personas.owner,
        personas.project,
        [("lung1_image.nrrd", folder / "lung1_image.nrrd")],
        reference_labels=("lung1_label.nrrd", folder / "lung1_label.nrrd"),
        force_sync=True,
    )
    return Series.objects.get(pk=job.result["series"][0])


def png(response) -> np.ndarray:
    assert response["Content-Type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_the_study_list_shows_each_series_with_its_geometry_presets_and_thumbnail(personas, ct):
    (study,) = personas.client_for("annotator").get(f"/api/projects/{personas.project.id}/studies/").json()
    (series,) = study["series"]
    assert series["shape"] == [48, 512, 512] and series["modality"] == "CT" and series["plane"] == "axial"
    assert series["spacing"] == pytest.approx([5.0, 0.5703125, 0.5703125], abs=1e-5)
    assert series["default_window"] == "soft_tissue" and series["has_reference_labels"]
    assert series["slice_url"] == f"/api/series/{ct.id}/slices/{{index}}.png"
    thumbnail = personas.client_for("annotator").get(series["thumbnail_url"])
    assert thumbnail.status_code == 200 and max(png(thumbnail).shape) == 128


def test_a_slice_renders_with_the_requested_window(personas, ct):
    client = personas.client_for("annotator")
    hu = np.asarray(load_volume(ct)[20], dtype=np.float32)
    soft = png(client.get(f"/api/series/{ct.id}/slices/20.png"))
    expected = np.clip((hu - (40 - 200)) * 255 / 400, 0, 255).astype(np.uint8)
    assert soft.shape == (512, 512)
    assert np.abs(soft.astype(int) - expected.astype(int)).max() <= 1
    lung = png(client.get(f"/api/series/{ct.id}/slices/20.png?window=lung"))
    custom = png(client.get(f"/api/series/{ct.id}/slices/20.png?level=-600&width=1500"))
    np.testing.assert_array_equal(lung, custom)
    assert not np.array_equal(lung, soft)


def test_slices_carry_caching_headers_and_an_unchanged_slice_answers_304(personas, ct):
    client = personas.client_for("reviewer")
    first = client.get(f"/api/series/{ct.id}/slices/3.png?window=bone")
    assert "max-age" in first["Cache-Control"] and first["Cache-Control"].startswith("private")
    again = client.get(f"/api/series/{ct.id}/slices/3.png?window=bone", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""
    other = client.get(f"/api/series/{ct.id}/slices/3.png?window=lung", HTTP_IF_NONE_MATCH=first["ETag"])
    assert other.status_code == 200 and other["ETag"] != first["ETag"]


def test_a_raw_slice_returns_the_stored_intensities_with_shape_and_dtype(personas, ct):
    response = personas.client_for("annotator").get(f"/api/series/{ct.id}/slices/20/raw")
    assert response.status_code == 200
    assert (response["X-Shape"], response["X-Dtype"]) == ("512,512", "int16")
    values = np.frombuffer(response.content, dtype="<i2").reshape(512, 512)
    np.testing.assert_array_equal(values, load_volume(ct)[20])


def test_the_reference_label_map_is_served_slice_by_slice(personas, ct):
    labels = load_reference_labels(ct)
    index = int(np.argmax(labels.sum(axis=(1, 2))))
    response = personas.client_for("annotator").get(
        f"/api/series/{ct.id}/reference-labels/slices/{index}/raw"
    )
    assert response["X-Dtype"] == "uint8"
    values = np.frombuffer(response.content, dtype=np.uint8).reshape(512, 512)
    np.testing.assert_array_equal(values, labels[index])
    assert values.sum() > 0


def test_reformatted_planes_show_the_top_of_the_volume_at_the_top(personas, ct):
    response = personas.client_for("annotator").get(f"/api/series/{ct.id}/slices/256/raw?axis=y")
    assert response["X-Shape"] == "48,512"
    values = np.frombuffer(response.content, dtype="<i2").reshape(48, 512)
    volume = load_volume(ct)
    np.testing.assert_array_equal(values[0], volume[-1, 256])
    np.testing.assert_array_equal(values[-1], volume[0, 256])


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("slices/48.png", 404, "slices 0 to 47"),
        ("slices/0.png?window=nope", 400, "Unknown window preset 'nope'"),
        ("slices/0.png?level=40", 400, "both level and width"),
        ("slices/0.png?level=40&width=-3", 400, "positive"),
        ("slices/0.png?axis=w", 400, "Unknown axis"),
        ("slices/600/raw?axis=x", 404, "slices 0 to 511"),
    ],
)
def test_bad_slice_requests_get_a_clear_message(personas, ct, query, status, message):
    response = personas.client_for("annotator").get(f"/api/series/{ct.id}/{query}")
    assert response.status_code == status
    assert message in response.json()["error"]["message"]


def test_colour_images_render_as_they_are(personas, media):
    job = do_import(personas.owner, personas.project, [("us.dcm", dicom_file("US1_UNCR.dcm"))])
    series = Series.objects.get(pk=job.result["series"][0])
    image = png(personas.client_for("annotator").get(f"/api/series/{series.id}/slices/0.png"))
    np.testing.assert_array_equal(image, load_volume(series)[0])
    raw = personas.client_for("annotator").get(f"/api/series/{series.id}/slices/0/raw")
    assert (raw["X-Shape"], raw["X-Dtype"]) == ("480,640,3", "uint8")


ENDPOINTS = [
    "/api/series/{id}/",
    "/api/series/{id}/slices/0.png",
    "/api/series/{id}/slices/0/raw",
    "/api/series/{id}/reference-labels/slices/0/raw",
    "/api/series/{id}/thumbnail.png",
    "/api/studies/{study}/",
    "/api/projects/{project}/studies/",
]


@pytest.mark.parametrize(
    ("persona", "status"),
    [("owner", 200), ("annotator", 200), ("reviewer", 200), ("outsider", 404), ("anonymous", 403)],
)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_members_read_every_study_endpoint_outsiders_get_404_and_anonymous_users_are_refused(
    personas, ct, persona, status, endpoint
):
    url = endpoint.format(id=ct.id, study=ct.study_id, project=personas.project.id)
    response = personas.client_for(persona).get(url)
    assert response.status_code == status
    if status != 200:
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] in ("not_found", "not_authenticated")


@pytest.mark.parametrize(
    ("persona", "status"), [("annotator", 403), ("reviewer", 403), ("outsider", 404), ("anonymous", 403)]
)
def test_only_owners_delete_series_and_studies(personas, ct, persona, status):
    client = personas.client_for(persona)
    assert client.delete(f"/api/series/{ct.id}/").status_code == status
    assert client.delete(f"/api/studies/{ct.study_id}/").status_code == status
    assert Series.objects.filter(pk=ct.id).exists()


def test_deleting_the_last_series_removes_its_study_and_its_files(
    personas, ct, media, django_capture_on_commit_callbacks
):
    assert len(media_files(media)) == 3  # volume, thumbnail, reference labels
    with django_capture_on_commit_callbacks(execute=True):
        assert personas.client_for("owner").delete(f"/api/series/{ct.id}/").status_code == 204
    assert (Series.objects.count(), Study.objects.count()) == (0, 0)
    assert media_files(media) == []


def test_load_volume_and_load_slice_give_the_canonical_arrays_the_model_side_reads(personas, ct):
    from annotator.imaging.volumes import load_slice

    volume = load_volume(ct)
    assert volume.shape == (48, 512, 512) and volume.dtype == np.int16
    np.testing.assert_array_equal(load_slice(ct, 5), volume[5])
    with pytest.raises(IndexError):
        load_slice(ct, 48)
