"""Planning an import: every header read and checked, DICOM de-identified in memory, files grouped into the
series they will build. Nothing is decoded or written here, so bad input is refused before any work."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal, TypeGuard

from pydantic import BaseModel, Field
from pydicom.dataset import Dataset

from annotator.errors import DomainError, InvalidInput, TooLarge
from annotator.imaging.limits import limit
from annotator.importing import deid, dicom, formats
from annotator.importing.refusals import Refusal
from annotator.importing.sources import KIND_WORDS, Source
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
    """One series to build. ``files`` are local paths in the request, storage names once staged.

    ``name`` describes it by type and position ("DICOM series 2 (20 files)", "NIfTI file 3"): it is stored
    (job payloads, messages). ``uploaded_as`` is what the uploader called its files, for the answer to their
    upload only: it is left out of every dump, so it never reaches a job payload."""

    format: Literal["dicom", "nifti", "nrrd", "image"]
    name: str
    uploaded_as: str = Field(default="", exclude=True)
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
    # A series that cannot be built is listed in the job's result and the others are imported (uploads);
    # False: the first failure fails the whole import (a PACS retrieval, the demo data).
    partial: bool = False


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


def _uploaded_as(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more files of its series"


def plan_dicom(
    project: Project,
    sources: list[Source],
    datasets: dict[str, Dataset],
    refused: list[Refusal] | None = None,
) -> list[PlannedSeries]:
    """Read and check every DICOM file, de-identify it in memory, group the files into series.

    Without ``refused`` the first bad file refuses the upload; with it, bad files are listed there, and so
    is every series one of whose files was refused (a volume with a slice missing would be wrong silently).
    """
    allow_burned_in = bool(project.settings.get("allow_burned_in_annotation", False))
    retain_uids = deid.retains_uids(project.settings)
    pairs: list[tuple[str, Dataset]] = []
    names: dict[str, str] = {}
    broken: dict[str, Refusal] = {}  # series UID (as stored) -> the refusal of one of its files
    for source in sources:
        ds = None
        try:
            ds = dicom.read(source.path, source.name, sniffed=source.kind == "dicom")
            if dicom.is_directory_record(ds):
                continue
            dicom.check(ds, source.name, allow_burned_in=allow_burned_in)
            dicom.ensure_transfer_syntax(ds)
        except DomainError as exc:
            if refused is None:
                raise
            refusal = Refusal.of(source.name, exc)
            refused.append(refusal)
            uid = str(ds.get("SeriesInstanceUID", "") or "") if ds is not None else ""
            if uid:
                broken.setdefault(deid.uid_after(project.id, uid, retain_uids=retain_uids), refusal)
            continue
        deid.deidentify(
            ds,
            project.id,
            retain_uids=retain_uids,
            clean_descriptors=deid.cleans_descriptors(project.settings),
        )
        key = str(source.path)
        datasets[key] = ds
        names[key] = source.name
        pairs.append((key, ds))
    planned: list[PlannedSeries] = []
    seen_uids: dict[str, int] = {}
    for files in dicom.group(pairs):
        first = files[0][1]
        uploaded = _uploaded_as([names[key] for key, _ in files])
        planes = dicom.count_planes([ds for _, ds in files])
        rows, cols = int(first.Rows), int(first.Columns)
        try:
            if rows * cols * planes > limit("IMPORT_MAX_VOXELS"):
                raise TooLarge(
                    f"{uploaded}: the series has {cols}x{rows}x{planes} voxels, over the limit of "
                    f"{limit('IMPORT_MAX_VOXELS')}."
                )
            sibling = broken.get(str(first.get("SeriesInstanceUID", "")))
            if sibling is not None:
                raise InvalidInput(
                    f"{uploaded}: not imported, because {sibling.file} of the same series was refused "
                    f"({sibling.reason})"
                )
        except DomainError as exc:
            if refused is None:
                raise
            refused.append(Refusal.of(uploaded, exc))
            continue
        uid = str(first.get("SeriesInstanceUID", "")) or new_uid()
        seen_uids[uid] = seen_uids.get(uid, 0) + 1
        if seen_uids[uid] > 1:  # one UID, several sizes or orientations: split into sibling series
            uid = f"{uid}.{seen_uids[uid]}"
        modality = str(first.get("Modality", "") or "OT").upper()
        number = int(first.get("SeriesNumber", 0) or 0) or len(planned) + 1
        planned.append(
            PlannedSeries(
                format="dicom",
                name=f"DICOM series {len(planned) + 1} ({len(files)} file{'s' if len(files) > 1 else ''})",
                uploaded_as=uploaded,
                files=[key for key, _ in files],
                slices=planes,
                shape_xyz=(cols, rows, planes),
                study_uid=str(first.get("StudyInstanceUID", "")) or new_uid(),
                study_date=_dicom_date(first.get("StudyDate")),
                study_description=f"{first.PatientID} {modality}",
                pseudonym=str(first.PatientID),
                series_uid=uid,
                series_number=number,
                # kept only with the Clean Descriptors Option, cleaned (deid.py); else modality and number
                description=str(first.get("SeriesDescription", "") or first.get("ProtocolName", "") or "")
                or f"{modality} series {number}",
                modality=modality,
            )
        )
    return planned


def plan_file(source: Source, modality: str | None) -> PlannedSeries:
    """A NIfTI, NRRD or 2D image file as one series, described by type, position and size (its file name
    may name the patient: it is not kept)."""
    kind = source.kind
    if not is_file_format(kind):
        raise InvalidInput(f"{source.name}: not an image file ({kind}).")
    inspect = {"nifti": formats.inspect_nifti, "nrrd": formats.inspect_nrrd, "image": formats.inspect_image}
    header = inspect[kind](source.path, source.name)
    word = KIND_WORDS[kind]
    x, y, z = header.shape
    size = f"{x}×{y}" + (f"×{z}" if z > 1 else "")
    if kind == "image":  # PNG, JPEG, TIFF (a multi-page TIFF is a stack)
        description = f"Image stack {size}" if z > 1 else f"Image {size}"
    else:
        description = f"{word} {'volume' if z > 1 else 'image'} {size}"
    return PlannedSeries(
        format=kind,
        name=f"{word} file {source.index}",
        uploaded_as=source.name,
        files=[str(source.path)],
        slices=header.slices,
        shape_xyz=header.shape,
        study_uid=new_uid(),
        study_description=description,
        series_uid=new_uid(),
        description=description,
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
