"""Planning an import: every header read and checked, DICOM de-identified in memory, files grouped into the
series they will build. Nothing is decoded or written here, so bad input is refused before any work."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal, TypeGuard

from pydantic import BaseModel
from pydicom.dataset import Dataset

from annotator.errors import InvalidInput, TooLarge
from annotator.imaging.limits import limit
from annotator.importing import deid, dicom, formats
from annotator.importing.sources import Source
from annotator.models import Project

LABEL_MAP_FORMATS = {"nifti", "nrrd"}
FILE_FORMATS = {"nifti", "nrrd", "image"}
LabelMapFormat = Literal["nifti", "nrrd"]
FileFormat = Literal["nifti", "nrrd", "image"]


def is_label_map_format(kind: str) -> TypeGuard[LabelMapFormat]:
    return kind in LABEL_MAP_FORMATS


def is_file_format(kind: str) -> TypeGuard[FileFormat]:
    return kind in FILE_FORMATS


class PlannedSeries(BaseModel):
    """One series to build. ``files`` are local paths in the request, storage names once staged."""

    format: Literal["dicom", "nifti", "nrrd", "image"]
    name: str
    files: list[str]
    slices: int
    shape_xyz: tuple[int, int, int]
    study_uid: str
    study_date: str | None = None
    study_description: str = ""
    pseudonym: str = ""
    series_uid: str
    series_number: int = 1
    description: str = ""
    modality: str | None = None


class ImportPayload(BaseModel):
    """The job payload of a staged import."""

    staging: str
    series: list[PlannedSeries]
    reference_labels: str | None = None
    reference_labels_format: LabelMapFormat | None = None
    keep_originals: bool = False


def new_uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def _dicom_date(value: Any) -> str | None:
    try:
        return dt.datetime.strptime(str(value or "")[:8], "%Y%m%d").date().isoformat()
    except ValueError:
        return None


def stem(name: str) -> str:
    """A file's name without folders and without its image suffix."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in (".nii.gz", ".nii", ".nrrd", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dcm"):
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


def plan_dicom(project: Project, sources: list[Source], datasets: dict[str, Dataset]) -> list[PlannedSeries]:
    """Read and check every DICOM file, de-identify it in memory, group the files into series."""
    allow_burned_in = bool(project.settings.get("allow_burned_in_annotation", False))
    pairs: list[tuple[str, Dataset]] = []
    names: dict[str, str] = {}
    for source in sources:
        ds = dicom.read(source.path, source.name, sniffed=source.kind == "dicom")
        if dicom.is_directory_record(ds):
            continue
        dicom.check(ds, source.name, allow_burned_in=allow_burned_in)
        dicom.ensure_transfer_syntax(ds)
        deid.deidentify(ds, project.id, retain_uids=deid.retains_uids(project.settings))
        key = str(source.path)
        datasets[key] = ds
        names[key] = source.name
        pairs.append((key, ds))
    planned: list[PlannedSeries] = []
    seen_uids: dict[str, int] = {}
    for files in dicom.group(pairs):
        first = files[0][1]
        planes = dicom.count_planes([ds for _, ds in files])
        rows, cols = int(first.Rows), int(first.Columns)
        if rows * cols * planes > limit("IMPORT_MAX_VOXELS"):
            raise TooLarge(
                f"{names[files[0][0]]}: the series has {cols}x{rows}x{planes} voxels, over the limit of "
                f"{limit('IMPORT_MAX_VOXELS')}."
            )
        uid = str(first.get("SeriesInstanceUID", "")) or new_uid()
        seen_uids[uid] = seen_uids.get(uid, 0) + 1
        if seen_uids[uid] > 1:  # one UID, several sizes or orientations: split into sibling series
            uid = f"{uid}.{seen_uids[uid]}"
        modality = str(first.get("Modality", "") or "OT").upper()
        number = int(first.get("SeriesNumber", 0) or 0) or len(planned) + 1
        planned.append(
            PlannedSeries(
                format="dicom",
                name=names[files[0][0]],
                files=[key for key, _ in files],
                slices=planes,
                shape_xyz=(cols, rows, planes),
                study_uid=str(first.get("StudyInstanceUID", "")) or new_uid(),
                study_date=_dicom_date(first.get("StudyDate")),
                study_description=f"{first.PatientID} {modality}",
                pseudonym=str(first.PatientID),
                series_uid=uid,
                series_number=number,
                description=f"{modality} series {number}",
                modality=modality,
            )
        )
    return planned


def plan_file(source: Source, modality: str | None) -> PlannedSeries:
    kind = source.kind
    if not is_file_format(kind):
        raise InvalidInput(f"{source.name}: not an image file ({kind}).")
    inspect = {"nifti": formats.inspect_nifti, "nrrd": formats.inspect_nrrd, "image": formats.inspect_image}
    header = inspect[kind](source.path, source.name)
    name = stem(source.name)
    return PlannedSeries(
        format=kind,
        name=source.name,
        files=[str(source.path)],
        slices=header.slices,
        shape_xyz=header.shape,
        study_uid=new_uid(),
        study_description=name,
        series_uid=new_uid(),
        description=name,
        modality=modality,
    )


def plan_reference(reference: Source | None, planned: list[PlannedSeries]) -> LabelMapFormat | None:
    """Check the reference label map that goes with the planned image; returns its format."""
    if reference is None:
        return None
    kind = reference.kind
    if not is_label_map_format(kind):
        raise InvalidInput(f"{reference.name}: a reference label map must be a NIfTI or NRRD file.")
    if len(planned) != 1:
        raise InvalidInput(
            f"A reference label map goes with exactly one image; this upload makes {len(planned)} series."
        )
    inspect = formats.inspect_nifti if kind == "nifti" else formats.inspect_nrrd
    header = inspect(reference.path, reference.name)
    if sorted(header.shape) != sorted(planned[0].shape_xyz):
        raise InvalidInput(
            f"{reference.name}: the label map's shape {header.shape} does not match the image's "
            f"{planned[0].shape_xyz}."
        )
    return kind
