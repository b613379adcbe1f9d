"""DICOM Segmentation objects (highdicom) that reference the de-identified source instances of a series.

The source files themselves are not kept (unless a project keeps originals), so the source datasets handed to
highdicom are rebuilt from what the import recorded (``Series.source_header["dicom"]``): the shared study and
patient attributes, the plane geometry, and one SOP instance UID and position per slice. All of it was already
de-identified at import, so the SEG carries the same pseudonymous UIDs and names as the stored series.
"""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from annotator.exporting.common import LabelInfo, from_source_grid, to_source_grid

MANUFACTURER = "Delineate"
SOFTWARE_VERSION = "0.1.0"


class NotReferenceable(ValueError):
    """The series cannot be referenced by a DICOM SEG (not from DICOM, no geometry, multi-frame source...)."""


def reference(series) -> dict:
    """The recorded DICOM references of ``series``; NotReferenceable with the reason when there are none."""
    header = (series.source_header or {}).get("dicom")
    if series.source_format != "dicom":
        raise NotReferenceable("DICOM SEG needs a series imported from DICOM")
    if not header:
        raise NotReferenceable("the series was imported before source instance UIDs were recorded")
    slices = header["slices"]
    if any(s["frame"] is not None for s in slices):
        raise NotReferenceable("segmentations of multi-frame source images are not supported yet")
    if not all(s["position"] for s in slices) or not header.get("orientation"):
        raise NotReferenceable("the source images have no patient geometry")
    if "FrameOfReferenceUID" not in header["shared"]:
        raise NotReferenceable("the source images have no frame of reference")
    return header


def source_datasets(header: dict) -> list[Dataset]:
    """Minimal single-frame image datasets standing in for the source instances, in source slice order."""
    shared = header["shared"]
    datasets = []
    for number, item in enumerate(header["slices"], start=1):
        ds = Dataset()
        for keyword in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyID"):
            setattr(ds, keyword, "")
        for keyword in ("AccessionNumber", "ReferringPhysicianName", "StudyDate", "StudyTime"):
            setattr(ds, keyword, "")
        for keyword, value in shared.items():
            setattr(ds, keyword, value)
        ds.SOPClassUID = item["sop_class_uid"]
        ds.SOPInstanceUID = item["sop_instance_uid"]
        ds.InstanceNumber = number
        ds.Rows = header["rows"]
        ds.Columns = header["columns"]
        ds.PixelSpacing = [float(v) for v in header["pixel_spacing"] or (1.0, 1.0)]
        ds.ImageOrientationPatient = [float(v) for v in header["orientation"]]
        ds.ImagePositionPatient = [float(v) for v in item["position"]]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        datasets.append(ds)
    return datasets


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


def segmentation_bytes(
    series, masks: dict[int, np.ndarray], labels: list[LabelInfo], *, annotator: str, series_number: int = 900
) -> bytes:
    """A binary DICOM SEG of ``masks`` (label id -> canonical bool (Z, Y, X)), one segment per label that has
    any voxel, with the label's name and colour, each frame pointing at its source instance."""
    header = reference(series)
    present = [lab for lab in labels if lab.id in masks and masks[lab.id].any()]
    if not present:
        raise NotReferenceable("no masks to export")
    # (slices, rows, columns, segments) in the source's slice order: source (x, y, k) -> (k, y, x).
    stack = np.stack(
        [np.transpose(to_source_grid(masks[lab.id], series)[0], (2, 1, 0)) for lab in present], axis=-1
    )
    seg = hd.seg.Segmentation(
        source_images=source_datasets(header),
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
        content_creator_name=annotator[:64] or None,
    )
    buffer = io.BytesIO()
    seg.save_as(buffer)
    return buffer.getvalue()


def read_label_map(data: bytes, series, labels: list[LabelInfo]) -> tuple[np.ndarray, dict[int, str]]:
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
    uids = [item["sop_instance_uid"] for item in header["slices"]]
    numbers = list(seg.segment_numbers)
    by_name = {lab.name: lab.value for lab in labels}
    values, names = {}, {}
    for number in numbers:
        name = str(seg.get_segment_description(number).segment_label)
        value = by_name.get(name, number)
        values[number], names[value] = value, name
    try:
        pixels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=uids, segment_numbers=numbers, assert_missing_frames_are_empty=True
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
