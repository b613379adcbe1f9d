"""DICOM Segmentation objects (highdicom) that reference the source instances of a series.

The source files themselves are not kept (unless a project keeps originals), so the source datasets handed to
highdicom are rebuilt from what the import recorded (``Series.source_header["dicom"]``): the shared study and
patient attributes, the plane geometry, and one SOP instance UID (and frame number, for a multi-frame source)
and position per slice. All of it was already de-identified at import, so a SEG written for download carries
the same pseudonymous UIDs and names as the stored series (the original UIDs with the Retain UIDs Option).

A SEG sent back to the PACS a series came from is given ``Originals`` instead: the original UIDs recorded at
import (annotator.models.PacsSeriesOrigin) and the study's patient and study attributes as that PACS holds them, so it files the
SEG beside its images. Sources: single-frame images (one instance per slice) or one multi-frame image with
per-frame plane positions (enhanced CT/MR/PET...); each SEG frame references its source instance (and frame).
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes

from annotator.exporting.common import LabelInfo, from_source_grid, to_source_grid

if TYPE_CHECKING:
    from annotator.models import Series

MANUFACTURER = "Delineate"
SOFTWARE_VERSION = "0.1.0"
# Patient and study attributes a SEG copies from its source (type 2 in the SEG IOD: present, may be empty).
STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)


class NotReferenceable(ValueError):
    """The series cannot be referenced by a DICOM SEG (not from DICOM, no geometry...)."""


@dataclass(frozen=True)
class Originals:
    """The source as the PACS it came from knows it: original UIDs (stored at import, UIDs only) and the
    study's patient and study attributes (read from the PACS for one send, never stored)."""

    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    instance_uids: dict[str, str]  # stored (de-identified) SOP instance UID -> original
    study_attributes: dict[str, str] = field(default_factory=dict)


def reference(series: Series) -> dict:
    """The recorded DICOM references of ``series``; NotReferenceable with the reason when there are none."""
    header = (series.source_header or {}).get("dicom")
    if series.source_format != "dicom":
        raise NotReferenceable("DICOM SEG needs a series imported from DICOM")
    if not header:
        raise NotReferenceable("the series was imported before source instance UIDs were recorded")
    slices = header["slices"]
    multi_frame = [s for s in slices if s["frame"] is not None]
    if multi_frame and (len(multi_frame) != len(slices) or len({s["sop_instance_uid"] for s in slices}) > 1):
        raise NotReferenceable("the series mixes several multi-frame source images (one is supported)")
    if not all(s["position"] for s in slices) or not header.get("orientation"):
        raise NotReferenceable("the source images have no patient geometry")
    if "FrameOfReferenceUID" not in header["shared"]:
        raise NotReferenceable("the source images have no frame of reference")
    return header


def is_multi_frame(header: dict) -> bool:
    return header["slices"][0]["frame"] is not None


def with_originals(header: dict, originals: Originals) -> dict:
    """``header`` with the original UIDs and the PACS' patient and study attributes in place of the stored
    ones; NotReferenceable when an instance has no recorded original."""
    out = copy.deepcopy(header)
    shared = out["shared"]
    shared.update(
        StudyInstanceUID=originals.study_uid,
        SeriesInstanceUID=originals.series_uid,
        FrameOfReferenceUID=originals.frame_of_reference_uid or shared.get("FrameOfReferenceUID", ""),
    )
    for keyword in STUDY_KEYWORDS:
        shared[keyword] = originals.study_attributes.get(keyword, "")
    for item in out["slices"]:
        original = originals.instance_uids.get(item["sop_instance_uid"])
        if not original:
            raise NotReferenceable("the original UID of a source instance was not recorded at import")
        item["sop_instance_uid"] = original
    return out


def _base_dataset(header: dict) -> Dataset:
    ds = Dataset()
    for keyword in STUDY_KEYWORDS:
        setattr(ds, keyword, "")
    for keyword, value in header["shared"].items():
        setattr(ds, keyword, value)
    ds.PatientName = person_name(str(ds.PatientName))
    ds.Rows = header["rows"]
    ds.Columns = header["columns"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    return ds


def person_name(text: str) -> str:
    """A one-word name (a pseudonym, a username) as a PN family name: the trailing caret keeps validators
    from reading it as the retired single-component form."""
    return text if not text or "^" in text else f"{text}^"


def _spacing(header: dict) -> list[float]:
    return [float(v) for v in header["pixel_spacing"] or (1.0, 1.0)]


def source_datasets(header: dict, slice_step: float | None = None) -> list[Dataset]:
    """Minimal image datasets standing in for the source instances: one per slice for single-frame sources,
    in source slice order; one multi-frame dataset (frames in their stored order) for a multi-frame source.
    ``slice_step`` (mm) stands in for a slice thickness the import did not record (enhanced images keep it
    in their functional groups, which are not recorded)."""
    if is_multi_frame(header):
        return [_multi_frame_source(header, slice_step)]
    datasets = []
    for number, item in enumerate(header["slices"], start=1):
        ds = _base_dataset(header)
        ds.SOPClassUID = item["sop_class_uid"]
        ds.SOPInstanceUID = item["sop_instance_uid"]
        ds.InstanceNumber = number
        ds.PixelSpacing = _spacing(header)
        ds.ImageOrientationPatient = [float(v) for v in header["orientation"]]
        ds.ImagePositionPatient = [float(v) for v in item["position"]]
        datasets.append(ds)
    return datasets


def _item(**values: object) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _multi_frame_source(header: dict, slice_step: float | None) -> Dataset:
    """An enhanced multi-frame image with the recorded geometry in its functional groups."""
    by_frame = sorted(header["slices"], key=lambda s: s["frame"])
    first = by_frame[0]
    ds = _base_dataset(header)
    ds.SOPClassUID = first["sop_class_uid"]
    ds.SOPInstanceUID = first["sop_instance_uid"]
    ds.InstanceNumber = 1
    ds.NumberOfFrames = by_frame[-1]["frame"]
    thickness = float(header["shared"].get("SliceThickness") or 0) or slice_step
    measures = _item(PixelSpacing=_spacing(header))
    if thickness:
        measures.SliceThickness = thickness
    ds.SharedFunctionalGroupsSequence = Sequence(
        [
            _item(
                PixelMeasuresSequence=Sequence([measures]),
                PlaneOrientationSequence=Sequence(
                    [_item(ImageOrientationPatient=[float(v) for v in header["orientation"]])]
                ),
            )
        ]
    )
    positions = {s["frame"]: s["position"] for s in by_frame}
    ds.PerFrameFunctionalGroupsSequence = Sequence(
        [
            _item(
                PlanePositionSequence=Sequence(
                    [_item(ImagePositionPatient=[float(v) for v in positions.get(frame, first["position"])])]
                )
            )
            for frame in range(1, int(ds.NumberOfFrames) + 1)
        ]
    )
    return ds


def _description(number: int, label: LabelInfo) -> hd.seg.SegmentDescription:
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=label.name[:64],
        segmented_property_category=codes.SCT.AnatomicalStructure,
        segmented_property_type=codes.SCT.Tissue,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        tracking_id=f"{label.name[:48]} ({label.value})",
        tracking_uid=hd.UID(),
        display_color=hd.color.CIELabColor.from_rgb(*label.rgb),
    )


def segmentation(
    series: Series,
    masks: dict[int, np.ndarray],
    labels: list[LabelInfo],
    *,
    annotator: str,
    series_number: int = 900,
    originals: Originals | None = None,
) -> hd.seg.Segmentation:
    """A binary DICOM SEG of ``masks`` (label id -> canonical bool (Z, Y, X)), one segment per label that has
    any voxel, with the label's name and colour, each frame pointing at its source instance (and frame).
    ``originals``: reference the source as its PACS knows it instead of the stored UIDs."""
    header = reference(series)
    if originals is not None:
        header = with_originals(header, originals)
    present = [lab for lab in labels if lab.id in masks and masks[lab.id].any()]
    if not present:
        raise NotReferenceable("no masks to export")
    # (slices, rows, columns, segments) in the source's slice order: source (x, y, k) -> (k, y, x).
    stack = np.stack(
        [np.transpose(to_source_grid(masks[lab.id], series)[0], (2, 1, 0)) for lab in present], axis=-1
    )
    if is_multi_frame(header):
        # highdicom pairs the SEG's planes with the source's frames in frame order (frame 1 first).
        order = np.argsort([item["frame"] for item in header["slices"]], kind="stable")
        stack = stack[order]
    return hd.seg.Segmentation(
        source_images=source_datasets(header, slice_step=float(series.spacing[0])),
        pixel_array=stack.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_description(n, lab) for n, lab in enumerate(present, start=1)],
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name="Delineate annotation platform",
        software_versions=SOFTWARE_VERSION,
        device_serial_number="none",
        series_description=f"Delineate masks ({annotator})"[:64],
        content_label="MASKS",
        content_creator_name=person_name(annotator[:63]) or None,
    )


def segmentation_bytes(
    series: Series,
    masks: dict[int, np.ndarray],
    labels: list[LabelInfo],
    *,
    annotator: str,
    series_number: int = 900,
) -> bytes:
    """``segmentation`` as a DICOM file (Part 10), referencing the stored UIDs."""
    seg = segmentation(series, masks, labels, annotator=annotator, series_number=series_number)
    buffer = io.BytesIO()
    seg.save_as(buffer)
    return buffer.getvalue()


def read_label_map(data: bytes, series: Series, labels: list[LabelInfo]) -> tuple[np.ndarray, dict[int, str]]:
    """A DICOM SEG that references ``series`` as a canonical (Z, Y, X) label map.

    Segments whose label matches a project label's name get that label's value; others keep their segment
    number. Returns the map and {value: segment label}. Raises ValueError with a user-facing reason when the
    file is no SEG or references other images.
    """
    header = reference(series)
    try:
        seg = hd.seg.segread(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - pydicom and highdicom raise many types for foreign files
        raise ValueError(f"not a readable DICOM Segmentation ({exc})") from exc
    expected_series = header["shared"].get("SeriesInstanceUID")
    referenced = {series_uid for _, series_uid, _ in seg.get_source_image_uids()}
    if referenced != {expected_series}:
        raise ValueError("the segmentation references other images than this series")
    numbers = list(seg.segment_numbers)
    by_name = {lab.name: lab.value for lab in labels}
    values, names = {}, {}
    for number in numbers:
        name = str(seg.get_segment_description(number).segment_label)
        value = by_name.get(name, number)
        values[number], names[value] = value, name
    try:
        if is_multi_frame(header):
            frames = [item["frame"] for item in header["slices"]]
            pixels = seg.get_pixels_by_source_frame(
                source_sop_instance_uid=header["slices"][0]["sop_instance_uid"],
                source_frame_numbers=frames,
                segment_numbers=numbers,
                assert_missing_frames_are_empty=True,
            )
        else:
            pixels = seg.get_pixels_by_source_instance(
                source_sop_instance_uids=[item["sop_instance_uid"] for item in header["slices"]],
                segment_numbers=numbers,
                assert_missing_frames_are_empty=True,
            )
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ValueError(f"the segmentation's frames do not fit this series ({exc})") from exc
    if pixels.shape[1:3] != (header["rows"], header["columns"]):
        raise ValueError("the segmentation's frames have another size than the series' images")
    dtype = np.uint8 if max(values.values(), default=0) <= 255 else np.uint16
    out_kyx = np.zeros(pixels.shape[:3], dtype=dtype)
    for index, number in sorted(enumerate(numbers), key=lambda t: values[t[1]]):
        out_kyx[pixels[..., index] > 0] = values[number]
    return from_source_grid(np.transpose(out_kyx, (2, 1, 0)), series), names


def is_dicom(data: bytes) -> bool:
    return len(data) > 132 and data[128:132] == b"DICM"
