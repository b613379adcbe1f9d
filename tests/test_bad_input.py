"""Bad input gets a clear JSON 4xx that names the problem and no server path, never a 500 (finding 14)."""

from __future__ import annotations

import io
import struct
import tempfile
import zipfile
import zlib
from unittest import mock

import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ImageFile

from annotator import rle
from annotator.models import Label, MaskRevision, Series, Study
from tests.imaging_data import fresh_media, media_files
from tests.segmentation.conftest import make_series


@pytest.fixture
def media(settings, tmp_path):
    return fresh_media(settings, tmp_path)


@pytest.fixture
def client(personas):
    client = personas.client_for("owner")
    client.raise_request_exception = False  # a 500 is an answer here, not an exception in the test
    return client


@pytest.fixture
def series(personas, media):
    return make_series(personas.project, np.zeros((4, 8, 8), dtype=np.int16))


@pytest.fixture
def label(personas):
    return Label.objects.create(project=personas.project, name="liver", value=1, color="#ff0000")


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A real PNG of width×height black pixels: 400 M pixels, a few hundred KB compressed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    packer = zlib.compressobj(9)
    rows = b"\0" * (width + 1) * 500  # each row: filter byte 0, then the grey pixels
    idat = b"".join(packer.compress(rows) for _ in range(height // 500)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/json", response.content[:200]
    return response.json()["error"]


def assert_no_server_paths(text: str) -> None:
    for folder in (tempfile.gettempdir(), str(settings.MEDIA_ROOT), str(settings.BASE_DIR)):
        assert folder not in text
    assert "delineate-import" not in text and "upload0" not in text


def upload(client, project, name: str, data: bytes):
    return client.post(f"/api/projects/{project.id}/imports/", {"files": [SimpleUploadedFile(name, data)]})


def test_a_decompression_bomb_png_is_refused_as_too_large_before_decoding(personas, client, media):
    bomb = png_bomb()
    assert len(bomb) < 1024 * 1024
    error = error_of(upload(client, personas.project, "big.png", bomb), 413)
    assert error["message"].startswith("big.png: the image declares more pixels than the limit")
    assert Series.objects.count() == 0 and media_files(media) == []


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("scan.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100),
        ("scan.tif", b"II*\x00" + b"\xff" * 100),
        ("scan.jpg", b"\xff\xd8\xff" + b"\0" * 100),
        ("volume.nii.gz", b"\x1f\x8b" + b"not gzip at all"),
    ],
)
def test_an_unreadable_file_is_named_as_uploaded_and_no_server_path_is_shown(
    personas, client, media, name, data
):
    error = error_of(upload(client, personas.project, name, data), 400)
    assert error["message"].startswith(f"{name}: ")
    assert_no_server_paths(str(error))


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/series/{series}/masks/{label}/?revision=abc", "revision"),
        ("/api/series/{series}/masks/{label}/?revision=1e3", "revision"),
        ("/api/projects/{project}/tasks/?series=abc", "series"),
        ("/api/projects/{project}/reviews/?state=dreaming", "state"),
    ],
)
def test_a_malformed_query_parameter_is_a_400_naming_it(personas, client, series, label, path, parameter):
    url = path.format(series=series.id, label=label.id, project=personas.project.id)
    error = error_of(client.get(url), 400)
    assert repr(parameter) in error["message"] and error["details"] == {"parameter": parameter}


def test_an_id_no_database_could_hold_is_a_client_error(client):
    assert error_of(client.get(f"/api/series/{10**30}/"), 404)["message"] == "No such series."
    error = error_of(client.get(f"/api/projects/{2**63}/studies/"), 400)
    assert error["message"] == "A number in the request is out of range."


def test_an_unknown_api_url_is_a_json_404(client):
    assert error_of(client.get("/api/no-such-thing/"), 404)["code"] == "not_found"


def test_a_json_body_over_the_memory_limit_is_a_json_413(client):
    body = '{"name": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024) + '"}'
    error = error_of(client.post("/api/projects/", body, content_type="application/json"), 413)
    assert "larger than" in error["message"]


def save_mask(personas, series, label) -> int:
    mask = np.zeros((8, 8), dtype=bool)
    mask[2:5, 2:5] = True
    response = personas.client_for("annotator").post(
        f"/api/series/{series.id}/masks/{label.id}/revisions/",
        {"base_revision": None, "source": "manual", "slices": {1: rle.encode(mask)}},
        content_type="application/json",
    )
    assert response.status_code == 201
    return response.json()["revision"]["id"]


@pytest.mark.parametrize("what", ["series", "study"])
def test_a_series_or_study_with_saved_masks_is_not_deleted_and_says_why(
    personas, client, series, label, what
):
    # Given an annotator saved a mask on the series
    save_mask(personas, series, label)
    # When the owner deletes the series (or its study)
    url = f"/api/series/{series.id}/" if what == "series" else f"/api/studies/{series.study_id}/"
    error = error_of(client.delete(url), 409)
    # Then nothing is deleted, and the answer says what would have been lost and whose
    assert f"This {what} has 1 saved mask (by anna_annotator)" in error["message"]
    assert error["details"] == {"masks": 1, "annotators": ["anna_annotator"]}
    assert Series.objects.filter(pk=series.pk).exists() and Study.objects.filter(pk=series.study_id).exists()
    assert MaskRevision.objects.count() == 1


def test_a_series_without_masks_is_still_deleted(personas, client, series):
    assert client.delete(f"/api/series/{series.id}/").status_code == 204
    assert not Series.objects.filter(pk=series.pk).exists()


def test_a_reference_label_zip_holding_a_png_bomb_is_refused_before_any_pixel_is_decoded(
    personas, client, series, media
):
    # Given a label zip whose slice is a 6000×6000 PNG (36 M pixels, a few KB) for a series of 8×8 slices
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("slice-0001.png", png_bomb(6000, 6000))
    decoded: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def counting_load(image):
        decoded.append(image.size)
        return load(image)

    # When it is uploaded
    with mock.patch.object(ImageFile.ImageFile, "load", counting_load):
        response = client.post(
            f"/api/series/{series.id}/reference-labels/",
            {"file": SimpleUploadedFile("labels.zip", buffer.getvalue())},
        )
    # Then it is refused naming the slice, from the PNG's header alone (before the fix: decoded, then refused)
    assert "slice 1" in error_of(response, 400)["message"]
    assert decoded == []
    series.refresh_from_db()
    assert not series.reference_labels
