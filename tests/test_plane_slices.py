"""The three planes over the API: a series lists its planes' grids, and the raw-slice endpoints serve any
plane resampled to square pixels (linear for intensities, nearest for reference labels)."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.actions.imports import do_import
from annotator.imaging.volumes import load_reference_labels, load_volume
from annotator.models import Series
from ml_worker import planes
from tests.imaging_data import dicom_file, fresh_media, pyradiomics_dir


@pytest.fixture
def ct(personas, settings, tmp_path) -> Series:
    """The real pyradiomics lung CT (48 slices of 5 mm, 512 × 512 of 0.57 mm) with its nodule label map."""
    fresh_media(settings, tmp_path)
    folder = pyradiomics_dir()
    job = do_import(
        personas.owner,
        personas.project,
        [("lung1_image.nrrd", folder / "lung1_image.nrrd")],
        reference_labels=("lung1_label.nrrd", folder / "lung1_label.nrrd"),
        force_sync=True,
    )
    return Series.objects.get(pk=job.result["series"][0])


def raw(response, dtype: str) -> np.ndarray:
    assert response.status_code == 200, response.content
    rows, cols = (int(v) for v in response["X-Shape"].split(","))
    assert response["X-Dtype"] == dtype
    return np.frombuffer(response.content, dtype=np.dtype(dtype).newbyteorder("<")).reshape(rows, cols)


def test_a_volume_lists_its_three_planes_with_their_square_pixel_grids(personas, ct):
    data = personas.client_for("annotator").get(f"/api/series/{ct.id}/").json()
    assert set(data["planes"]) == {"axial", "coronal", "sagittal"}
    assert data["planes"]["axial"] == {
        "depth": 48,
        "rows": 512,
        "cols": 512,
        "display_rows": 512,
        "display_cols": 512,
        "pixel_mm": [0.570312, 0.570312],
    }
    # 48 slices of 5 mm on 0.570312 mm pixels: 421 rows.
    assert data["planes"]["coronal"] == {
        **data["planes"]["axial"],
        "depth": 512,
        "rows": 48,
        "display_rows": 421,
    }
    assert data["planes"]["sagittal"]["display_rows"] == 421


def test_a_coronal_slice_is_served_resampled_and_an_axial_one_exactly_as_stored(personas, ct):
    client = personas.client_for("annotator")
    volume = load_volume(ct)
    coronal = raw(client.get(f"/api/series/{ct.id}/slices/300/raw?plane=coronal"), "int16")
    expected = planes.reslice(volume, ct.spacing, "coronal", 300)
    assert coronal.shape == (421, 512)
    np.testing.assert_array_equal(coronal, expected)
    # The top rows are the top slice (superior at the top): above its centre nothing is interpolated.
    np.testing.assert_array_equal(coronal[0], volume[-1, 300])
    axial = raw(client.get(f"/api/series/{ct.id}/slices/20/raw?plane=axial"), "int16")
    np.testing.assert_array_equal(axial, volume[20])


def test_reference_labels_are_resampled_by_nearest_voxel(personas, ct):
    labels = load_reference_labels(ct)
    y = int(np.argmax(labels.sum(axis=(0, 2))))
    served = raw(
        personas.client_for("annotator").get(
            f"/api/series/{ct.id}/reference-labels/slices/{y}/raw?plane=coronal"
        ),
        "uint8",
    )
    grid = planes.plane_grid(ct.shape, ct.spacing, "coronal")
    np.testing.assert_array_equal(
        served, planes.mask_to_display(planes.voxel_plane(labels, "coronal", y), grid)
    )
    assert set(np.unique(served)) <= set(np.unique(labels)) and served.any()


def test_plane_slices_answer_304_when_unchanged_and_differ_from_the_stored_grid_reformat(personas, ct):
    client = personas.client_for("annotator")
    first = client.get(f"/api/series/{ct.id}/slices/300/raw?plane=sagittal")
    again = client.get(f"/api/series/{ct.id}/slices/300/raw?plane=sagittal", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    reformat = client.get(f"/api/series/{ct.id}/slices/300/raw?axis=x")
    assert reformat["ETag"] != first["ETag"] and reformat["X-Shape"] == "48,512"


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("slices/512/raw?plane=coronal", 404, "coronal slices 0 to 511"),
        ("slices/0/raw?plane=oblique", 400, "Unknown plane 'oblique'"),
        ("slices/0/raw?plane=coronal&axis=y", 400, "not both"),
    ],
)
def test_bad_plane_requests_get_a_clear_message(personas, ct, query, status, message):
    response = personas.client_for("annotator").get(f"/api/series/{ct.id}/{query}")
    assert response.status_code == status
    assert message in response.json()["error"]["message"]


def test_outsiders_get_no_plane_slices(personas, ct):
    assert (
        personas.client_for("outsider").get(f"/api/series/{ct.id}/slices/0/raw?plane=coronal").status_code
        == 404
    )


def test_a_single_image_has_its_one_plane_only(personas, settings, tmp_path):
    fresh_media(settings, tmp_path)
    job = do_import(
        personas.owner, personas.project, [("ct.dcm", dicom_file("CT_small.dcm"))], force_sync=True
    )
    series = Series.objects.get(pk=job.result["series"][0])
    client = personas.client_for("annotator")
    assert set(client.get(f"/api/series/{series.id}/").json()["planes"]) == {"axial"}
    response = client.get(f"/api/series/{series.id}/slices/0/raw?plane=coronal")
    assert response.status_code == 400 and "this series has axial" in response.json()["error"]["message"]
