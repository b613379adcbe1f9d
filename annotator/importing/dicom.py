"""DICOM: reading, checking, grouping into series and building canonical volumes.

Series are grouped by (de-identified) SeriesInstanceUID and split further when one UID mixes image sizes
or orientations (localisers often share their series' UID). Slices are ordered by their position along the
slice normal (cross product of the row and column direction cosines); the modality LUT (rescale slope and
intercept) is applied per slice; multi-frame objects contribute one slice per frame; compressed transfer
syntaxes decode through pydicom's pixel-data plugins (pylibjpeg, libjpeg, openjpeg, RLE).
"""

from __future__ import annotations

import io
import struct
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from annotator.errors import InvalidInput, TooLarge
from annotator.imaging.limits import limit
from annotator.imaging.orientation import Oriented, canonicalize
from annotator.imaging.volumes import narrowest_dtype

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def read(source: Path | bytes, name: str, *, sniffed: bool) -> Dataset:
    """Parse a DICOM file. ``sniffed`` is False for files without the DICM prefix (read with force)."""
    try:
        fileobj = io.BytesIO(source) if isinstance(source, bytes) else source
        ds = pydicom.dcmread(fileobj, force=not sniffed)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError, struct.error) as exc:
        raise InvalidInput(f"{name}: not a readable DICOM file ({exc}).", details={"file": name}) from exc
    if not sniffed and "SOPClassUID" not in ds and not any(k in ds for k in PIXEL_KEYWORDS):
        raise InvalidInput(f"{name}: not a readable DICOM file.", details={"file": name})
    try:
        # Touch every element now so a truncated file fails here, not halfway through an import.
        for _ in ds.iterall():
            pass
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for damaged files
        raise InvalidInput(f"{name}: the DICOM file is damaged ({exc}).", details={"file": name}) from exc
    return ds


def is_directory_record(ds: Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    return (meta is not None and meta.get("MediaStorageSOPClassUID") == DICOMDIR_CLASS) or (
        "DirectoryRecordSequence" in ds
    )


def frames_of(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def check(ds: Dataset, name: str, *, allow_burned_in: bool = False) -> None:
    """Refuse what cannot become a series, with a message naming the file."""
    if not any(k in ds for k in PIXEL_KEYWORDS):
        raise InvalidInput(
            f"{name}: this DICOM file has no pixel data (nothing to annotate).", details={"file": name}
        )
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows <= 0 or cols <= 0:
        raise InvalidInput(f"{name}: the image has no size (Rows/Columns missing).", details={"file": name})
    if rows * cols > limit("IMPORT_MAX_PIXELS"):
        raise TooLarge(
            f"{name}: {cols}x{rows} pixels is over the limit of {limit('IMPORT_MAX_PIXELS')} pixels per image.",
            details={"file": name},
        )
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES" and not allow_burned_in:
        raise InvalidInput(
            f"{name}: the file says it has patient information burned into the pixels; this project does not "
            "accept such images (an owner can allow them in the project settings).",
            details={"file": name},
        )
    syntax = ds.file_meta.get("TransferSyntaxUID") if getattr(ds, "file_meta", None) else None
    if "PixelData" in ds and (syntax is None or not syntax.is_compressed):
        bits = int(ds.get("BitsAllocated", 16) or 16)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        expected = (rows * cols * samples * frames_of(ds) * bits + 7) // 8
        if len(ds.PixelData) < expected:
            raise InvalidInput(
                f"{name}: the pixel data is truncated ({len(ds.PixelData)} of {expected} bytes).",
                details={"file": name},
            )


def ensure_transfer_syntax(ds: Dataset) -> None:
    """Files without file meta (read with force) get the syntax they were read in, so they can be saved."""
    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = pydicom.dataset.FileMetaDataset()
    if "TransferSyntaxUID" not in ds.file_meta:
        little, implicit = getattr(ds, "original_encoding", (True, True))
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
        )


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _floats(value: Any, n: int) -> list[float] | None:  # a DICOM value of any VR
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    return out if len(out) == n else None


def _functional(ds: Dataset, frame: int | None, sequence: str, keyword: str) -> Any:
    """A functional-group attribute of an enhanced multi-frame object, per frame first, then shared."""
    groups = []
    if frame is not None and "PerFrameFunctionalGroupsSequence" in ds:
        per_frame = ds.PerFrameFunctionalGroupsSequence
        if frame < len(per_frame):
            groups.append(per_frame[frame])
    if "SharedFunctionalGroupsSequence" in ds and len(ds.SharedFunctionalGroupsSequence):
        groups.append(ds.SharedFunctionalGroupsSequence[0])
    for group in groups:
        if sequence in group and len(group[sequence].value) and keyword in group[sequence].value[0]:
            return group[sequence].value[0][keyword].value
    return None


@dataclass
class Plane:
    """One 2D plane of a series: a slice file or a frame of a multi-frame file."""

    ds: Dataset
    frame: int | None
    position: list[float] | None
    orientation: list[float] | None
    pixel_spacing: list[float] | None
    slope: float = 1.0
    intercept: float = 0.0
    instance: int = 0


def planes_of(ds: Dataset) -> list[Plane]:
    instance = int(ds.get("InstanceNumber", 0) or 0)
    frames = frames_of(ds)
    out = []
    for frame in range(frames) if frames > 1 else [None]:
        position = _floats(_functional(ds, frame, "PlanePositionSequence", "ImagePositionPatient") or [], 3)
        orientation = _floats(
            _functional(ds, frame, "PlaneOrientationSequence", "ImageOrientationPatient") or [], 6
        )
        spacing = _floats(_functional(ds, frame, "PixelMeasuresSequence", "PixelSpacing") or [], 2)
        slope = _functional(ds, frame, "PixelValueTransformationSequence", "RescaleSlope")
        intercept = _functional(ds, frame, "PixelValueTransformationSequence", "RescaleIntercept")
        if frames == 1 or position is None:
            position = position or _floats(ds.get("ImagePositionPatient") or [], 3)
        orientation = orientation or _floats(ds.get("ImageOrientationPatient") or [], 6)
        spacing = spacing or _floats(ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing") or [], 2)
        slope = float(slope if slope is not None else ds.get("RescaleSlope", 1) or 1)
        intercept = float(intercept if intercept is not None else ds.get("RescaleIntercept", 0) or 0)
        if frames > 1 and position is not None and "PerFrameFunctionalGroupsSequence" not in ds:
            position = None  # one position for many frames: a cine loop, not a stack
        out.append(Plane(ds, frame, position, orientation, spacing, slope, intercept, instance))
    return out


def group_key(ds: Dataset) -> tuple:
    orientation = _floats(ds.get("ImageOrientationPatient") or [], 6)
    rounded = tuple(round(v, 3) for v in orientation) if orientation else None
    return (
        str(ds.get("SeriesInstanceUID", "")),
        int(ds.Rows),
        int(ds.Columns),
        int(ds.get("SamplesPerPixel", 1) or 1),
        rounded,
        frames_of(ds) > 1,
    )


def group(datasets: list[tuple[str, Dataset]]) -> list[list[tuple[str, Dataset]]]:
    """Split (name, dataset) pairs into series: one SeriesInstanceUID, one size, one orientation each."""
    groups: dict[tuple, list[tuple[str, Dataset]]] = defaultdict(list)
    for name, ds in datasets:
        groups[group_key(ds)].append((name, ds))
    return list(groups.values())


def count_planes(datasets: list[Dataset]) -> int:
    return sum(frames_of(ds) for ds in datasets)


@dataclass
class Built:
    oriented: Oriented
    modality: str
    notes: dict = field(default_factory=dict)

    @property
    def is_rgb(self) -> bool:
        return self.oriented.array.ndim == 4


def _order(planes: list[Plane]) -> tuple[list[Plane], np.ndarray | None, dict]:
    """Sort planes along the slice normal; returns them with the affine (None without geometry)."""
    notes: dict = {}
    geometric = all(p.position and p.orientation for p in planes)
    if geometric:
        orientation = planes[0].orientation
        assert orientation is not None  # every plane has a position and an orientation
        row, col = np.array(orientation[:3]), np.array(orientation[3:])
        normal = np.cross(row, col)
        distance = [_along(normal, p) for p in planes]
        if len(planes) > 1 and len({round(d, 3) for d in distance}) < len(planes):
            geometric = False
            notes["ordering"] = (
                "several planes share a position (time series or echoes): kept in instance order"
            )
        else:
            ordered = [p for _, p in sorted(zip(distance, planes, strict=True), key=lambda t: t[0])]
    if not geometric:
        ordered = sorted(planes, key=lambda p: (p.instance, p.frame or 0))
        return ordered, None, notes
    first = ordered[0]
    dy, dx = first.pixel_spacing or (1.0, 1.0)
    affine = np.eye(4)
    affine[:3, 0] = row * dx
    affine[:3, 1] = col * dy
    if len(ordered) > 1:
        step = (np.array(ordered[-1].position) - np.array(first.position)) / (len(ordered) - 1)
        gaps = np.diff(sorted(_along(normal, p) for p in ordered))
        if gaps.size and (gaps.max() - gaps.min()) > 0.1 * max(abs(float(np.median(gaps))), 1e-6):
            notes["spacing"] = "slice spacing is irregular; the mean spacing is used"
    else:
        thickness = float(first.ds.get("SliceThickness", 1) or 1)
        step = normal * thickness
    affine[:3, 2] = step
    affine[:3, 3] = first.position
    return ordered, affine, notes


def _along(normal: np.ndarray, plane: Plane) -> float:
    """Where a plane with a position lies along the slice normal."""
    if plane.position is None:
        raise ValueError("a plane without a position has no place along the slice normal")
    return float(np.dot(normal, plane.position))


def _decode(ds: Dataset, name: str) -> np.ndarray:
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - decoders raise many types for corrupt data
        raise InvalidInput(
            f"{name}: the pixel data cannot be decoded ({exc}).", details={"file": name}
        ) from exc
    if str(ds.get("PhotometricInterpretation", "")) == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, ds)
        if pixels.dtype != np.uint8:
            pixels = (pixels >> 8).astype(np.uint8)
    return pixels


def build(
    files: list[tuple[str, Dataset]], progress: Callable[[int, int], bool | None] | None = None
) -> Built:
    """Decode one series (already grouped) into a canonical array. ``progress(done, total)`` is called
    after each decoded file and may return False to stop."""
    planes = [plane for _, ds in files for plane in planes_of(ds)]
    ordered, affine, notes = _order(planes)
    decoded: dict[int, np.ndarray] = {}
    for done, (name, ds) in enumerate(files, start=1):
        pixels = _decode(ds, name)
        decoded[id(ds)] = pixels[None] if frames_of(ds) == 1 else pixels  # (frames, rows, cols[, 3])
        if progress is not None and progress(done, len(files)) is False:
            raise InterruptedError("cancelled")
    first_ds = files[0][1]
    modality = str(first_ds.get("Modality", "") or "OT").upper()
    sample_plane = decoded[id(first_ds)][0]
    is_colour = sample_plane.ndim == 3
    shape = (len(ordered), *sample_plane.shape)
    if is_colour:
        out = np.empty(shape, dtype=np.uint8)
        for k, plane in enumerate(ordered):
            out[k] = decoded[id(plane.ds)][plane.frame or 0]
        if len(ordered) > 1:
            # Colour cine loops (ultrasound) become grey volumes: luminance, ITU-R BT.601.
            out = (out @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).round().astype(np.uint8)
            notes["colour"] = "multi-frame colour converted to grey (BT.601 luminance)"
    else:
        out = _rescaled_stack(ordered, decoded, modality, notes)
        if str(first_ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
            lo, hi = out.min(), out.max()
            out = (hi - out + lo).astype(out.dtype)
            notes["inverted"] = "MONOCHROME1 inverted so that higher values are brighter"
    in_patient_frame = affine is not None
    if affine is None:
        dy, dx = ordered[0].pixel_spacing or (1.0, 1.0)
        affine = np.diag([dx, dy, float(first_ds.get("SpacingBetweenSlices", 1) or 1), 1.0])
    oriented = canonicalize(np.swapaxes(out, 0, 2), affine, in_patient_frame=in_patient_frame)
    oriented.source["dicom"] = reference_header(first_ds, ordered)
    return Built(oriented, modality, notes)


# Shared attributes a DICOM SEG copies from its source images (already de-identified when stored).
REFERENCE_KEYWORDS = (
    "SpecificCharacterSet",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "Modality",
    "SeriesNumber",
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "SliceThickness",
)


def reference_header(first: Dataset, ordered: list[Plane]) -> dict:
    """JSON-safe facts for exports that must reference the (de-identified) source instances, e.g. DICOM SEG:
    shared attributes, and per source slice k (the slice axis before canonicalisation) its SOP class and
    instance UID, frame number (1-based; None for single-frame files) and position."""
    shared = {}
    for keyword in REFERENCE_KEYWORDS:
        value = first.get(keyword)
        if value is not None:
            shared[keyword] = (
                [str(v) for v in value] if isinstance(value, pydicom.multival.MultiValue) else str(value)
            )
    return {
        "shared": shared,
        "rows": int(first.Rows),
        "columns": int(first.Columns),
        "pixel_spacing": ordered[0].pixel_spacing,
        "orientation": ordered[0].orientation,
        "slices": [
            {
                "sop_class_uid": str(p.ds.get("SOPClassUID", "")),
                "sop_instance_uid": str(p.ds.get("SOPInstanceUID", "")),
                "frame": None if p.frame is None else p.frame + 1,
                "position": p.position,
            }
            for p in ordered
        ],
    }


def _rescaled_stack(
    ordered: list[Plane], decoded: dict[int, np.ndarray], modality: str, notes: dict
) -> np.ndarray:
    raws = [decoded[id(p.ds)][p.frame or 0] for p in ordered]
    integral = all(
        np.issubdtype(r.dtype, np.integer) and float(p.slope).is_integer() and float(p.intercept).is_integer()
        for r, p in zip(raws, ordered, strict=True)
    )
    lows, highs = [], []
    for raw, plane in zip(raws, ordered, strict=True):
        a, b = (
            float(raw.min()) * plane.slope + plane.intercept,
            float(raw.max()) * plane.slope + plane.intercept,
        )
        lows.append(min(a, b))
        highs.append(max(a, b))
    lo, hi = min(lows), max(highs)
    if modality == "CT" and integral:
        dtype = np.dtype(np.int16)
        if lo < -32768 or hi > 32767:
            notes["clipped"] = "CT values outside the int16 range were clipped"
    else:
        dtype = narrowest_dtype(lo, hi, integral)
    out = np.empty((len(raws), *raws[0].shape), dtype=dtype)
    info = np.iinfo(dtype) if dtype.kind in "iu" else None
    for k, (raw, plane) in enumerate(zip(raws, ordered, strict=True)):
        if plane.slope == 1.0 and plane.intercept == 0.0 and raw.dtype == dtype:
            out[k] = raw
            continue
        if integral:
            values = raw.astype(np.int32) * int(plane.slope) + int(plane.intercept)
        else:
            values = raw.astype(np.float32) * np.float32(plane.slope) + np.float32(plane.intercept)
        if info is not None:
            np.clip(values, info.min, info.max, out=values)
        out[k] = values
    return out
