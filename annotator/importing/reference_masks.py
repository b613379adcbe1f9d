"""Reading existing masks (NIfTI, NRRD, DICOM SEG, PNG, a zip of slice PNGs) as a series' reference label map.

Every reader returns a canonical (Z, Y, X) integer label map on the series' grid, or raises ValueError with a
reason a user can act on (wrong grid, wrong orientation, not whole numbers...). Nothing is written here.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from annotator.errors import DomainError
from annotator.exporting import dicom_seg, png
from annotator.exporting.common import LabelInfo
from annotator.imaging.limits import limit
from annotator.imaging.volumes import mask_shape
from annotator.importing import formats
from annotator.models import Series

# The stored affine is rounded to 6 decimals and NIfTI keeps float32: 0.01 mm is far below any voxel and
# the same tolerance the importer uses for label maps uploaded with their image.
AFFINE_TOLERANCE_MM = 1e-2


class Unsupported(ValueError):
    """Not a mask format we read."""


def kind_of(name: str, head: bytes) -> str:
    lower = name.lower()
    if dicom_seg.is_dicom(head):
        return "dicom"
    if head.startswith(b"\x89PNG"):
        return "png"
    if head.startswith(b"NRRD"):
        return "nrrd"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if lower.endswith((".nii", ".nii.gz")) or head.startswith(b"\x1f\x8b") or head[344:348] in (b"n+1\x00",):
        return "nifti"
    raise Unsupported("not a mask file we can read; send NIfTI, NRRD, DICOM SEG, PNG or a zip of slice PNGs")


def read(name: str, upload: BinaryIO, series: Series, labels: list[LabelInfo]) -> np.ndarray:
    """The uploaded mask file as a canonical (Z, Y, X) uint8/uint16 label map of ``series``."""
    data = upload.read()
    if not data:
        raise ValueError("the file is empty")
    kind = kind_of(name, data[:512])
    if kind == "dicom":
        values, _ = dicom_seg.read_label_map(data, series, labels)
    elif kind == "png":
        values = _from_png_slices(series, {0: data} if mask_shape(series)[0] == 1 else None, name)
    elif kind == "zip":
        values = _from_png_slices(series, _zip_slices(data, series), name)
    else:
        values = _from_volume_file(name, data, kind, series)
    return _as_labels(values)


def _from_volume_file(name: str, data: bytes, kind: str, series: Series) -> np.ndarray:
    suffix = ".nrrd" if kind == "nrrd" else (".nii.gz" if data[:2] == b"\x1f\x8b" else ".nii")
    with tempfile.TemporaryDirectory(prefix="delineate-mask-") as tmp:
        path = Path(tmp) / f"mask{suffix}"
        path.write_bytes(data)
        try:
            inspect = formats.inspect_nifti if kind == "nifti" else formats.inspect_nrrd
            inspect(path, name)
            oriented = (formats.read_nifti if kind == "nifti" else formats.read_nrrd)(path, name)
        except DomainError as exc:
            raise ValueError(exc.message.removeprefix(f"{name}: ")) from exc
    expected = mask_shape(series)
    if oriented.array.shape != expected:
        raise ValueError(
            f"the mask's grid {_xyz(oriented.array.shape)} does not match the series' {_xyz(expected)} "
            "(x, y, slices)"
        )
    if not np.allclose(oriented.affine, np.asarray(series.affine, dtype=float), atol=AFFINE_TOLERANCE_MM):
        raise ValueError(
            "the mask has the series' size but another position, spacing or orientation; "
            "it would not line up with the image"
        )
    return oriented.array


def _xyz(shape: tuple[int, ...]) -> str:
    z, y, x = shape[:3]
    return f"{x}x{y}x{z}"


def _zip_slices(data: bytes, series: Series) -> dict[int, bytes]:
    depth, height, width = mask_shape(series)
    # A 16-bit PNG of the slice is at most about 2 bytes per pixel plus headers: anything larger is no mask.
    most = 2 * height * width + 64 * 1024
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [
            e
            for e in archive.infolist()
            if not e.is_dir() and e.filename.lower().endswith(".png") and not png.is_preview(e.filename)
        ]
        if len(entries) > min(depth, limit("IMPORT_ZIP_MAX_ENTRIES")):
            raise ValueError(f"the zip holds {len(entries)} PNGs, the series has {depth} slices")
        slices: dict[int, bytes] = {}
        for entry in entries:
            z = png.slice_index(entry.filename)
            if z is None:
                raise ValueError(f"{entry.filename}: PNGs in a zip must be named slice-<index>.png")
            if z in slices:
                raise ValueError(f"slice {z} appears twice in the zip")
            if entry.file_size > most:
                raise ValueError(f"{entry.filename} is too large for a {width}x{height} mask")
            with archive.open(entry) as handle:
                content = handle.read(most + 1)
            if len(content) > most:
                raise ValueError(f"{entry.filename} is too large for a {width}x{height} mask")
            slices[z] = content
    except zipfile.BadZipFile as exc:
        raise ValueError(f"the zip is damaged ({exc})") from exc
    if not slices:
        raise ValueError("the zip holds no slice PNGs")
    return slices


def _from_png_slices(series: Series, slices: dict[int, bytes] | None, name: str) -> np.ndarray:
    depth, height, width = mask_shape(series)
    if slices is None:
        raise ValueError(
            f"a single PNG fits a one-slice image; this series has {depth} slices: send a zip of "
            "slice-<index>.png files (as the PNG export writes them)"
        )
    out = np.zeros((depth, height, width), dtype=np.int64)
    for z, data in slices.items():
        if not 0 <= z < depth:
            raise ValueError(f"slice {z} is outside the series (0-{depth - 1})")
        try:
            out[z] = png.decode(data, (height, width))
        except ValueError as exc:
            raise ValueError(f"slice {z}: {exc}") from exc
    return out


def _as_labels(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.all(np.mod(values, 1) == 0):
            raise ValueError("a label map must hold whole numbers")
    if values.dtype.kind not in "biuf":
        raise ValueError(f"a label map must hold integers, not {values.dtype}")
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise ValueError("label values must lie in 0..65535")
    if not np.any(values):
        raise ValueError("the mask is empty (no voxel holds a label)")
    top = int(values.max())
    return np.ascontiguousarray(values.astype(np.uint8 if top <= 255 else np.uint16))
