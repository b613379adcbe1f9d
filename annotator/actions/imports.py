"""Importing studies: check an upload, de-identify it, build canonical volumes, store them, record series.

The upload request does everything that can refuse the upload (reading every header, de-identifying DICOM,
checking limits), so bad input gets a 4xx and writes nothing. Small imports are then built in the request;
larger ones are staged (DICOM already de-identified) under ``imports/`` in the media storage and built by a
Celery task on the ``embed`` queue, tracked by a ``Job`` row (kind "import").

Clear (identified) DICOM only ever exists in the request's temporary folder, deleted when it ends.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from pydantic import BaseModel
from pydicom.dataset import Dataset

from annotator.actions.jobs import push_progress, report
from annotator.errors import Conflict, DomainError, InvalidInput, TooLarge
from annotator.imaging import deid, dicom, formats, render, volumes
from annotator.imaging.limits import limit
from annotator.imaging.orientation import Oriented
from annotator.imaging.sources import Source, collect
from annotator.imaging.windows import presets_for
from annotator.models import Job, Project, Series, Study

log = logging.getLogger(__name__)

JOB_KIND = "import"
MODALITIES = {"CT", "MR", "PT", "NM", "US", "CR", "DX", "MG", "XA", "RF", "OT", "SM", "OCT", "ES", "XC"}
LABEL_MAP_FORMATS = {"nifti", "nrrd"}


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
    reference_labels_format: Literal["nifti", "nrrd"] | None = None
    keep_originals: bool = False


# -- checks --------------------------------------------------------------------------------------------


def check_upload_size(sizes: list[int], content_length: int | None = None) -> None:
    most = limit("MAX_UPLOAD_BYTES")
    total = max(sum(sizes), content_length or 0)
    if total > most:
        raise TooLarge(f"The upload is {total} bytes, over the limit of {most} bytes.")


def check_modality(modality: str | None) -> str | None:
    if not modality:
        return None
    value = modality.strip().upper()
    if value not in MODALITIES:
        raise InvalidInput(f"Unknown modality {modality!r}; use one of {', '.join(sorted(MODALITIES))}.")
    return value


def _new_uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def _dicom_date(value) -> str | None:
    try:
        return dt.datetime.strptime(str(value or "")[:8], "%Y%m%d").date().isoformat()
    except ValueError:
        return None


def _stem(name: str) -> str:
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
    planned = []
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
        uid = str(first.get("SeriesInstanceUID", "")) or _new_uid()
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
                study_uid=str(first.get("StudyInstanceUID", "")) or _new_uid(),
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
    inspect = {"nifti": formats.inspect_nifti, "nrrd": formats.inspect_nrrd, "image": formats.inspect_image}
    header = inspect[source.kind](source.path, source.name)
    stem = _stem(source.name)
    return PlannedSeries(
        format=source.kind,
        name=source.name,
        files=[str(source.path)],
        slices=header.slices,
        shape_xyz=header.shape,
        study_uid=_new_uid(),
        study_description=stem,
        series_uid=_new_uid(),
        description=stem,
        modality=modality,
    )


def plan_reference(reference: Source | None, planned: list[PlannedSeries]) -> None:
    if reference is None:
        return
    if reference.kind not in LABEL_MAP_FORMATS:
        raise InvalidInput(f"{reference.name}: a reference label map must be a NIfTI or NRRD file.")
    if len(planned) != 1:
        raise InvalidInput(
            f"A reference label map goes with exactly one image; this upload makes {len(planned)} series."
        )
    inspect = formats.inspect_nifti if reference.kind == "nifti" else formats.inspect_nrrd
    header = inspect(reference.path, reference.name)
    if sorted(header.shape) != sorted(planned[0].shape_xyz):
        raise InvalidInput(
            f"{reference.name}: the label map's shape {header.shape} does not match the image's "
            f"{planned[0].shape_xyz}."
        )


def check_not_imported(project: Project, planned: list[PlannedSeries]) -> None:
    for item in planned:
        if Series.objects.filter(
            study__project=project, study__uid=item.study_uid, uid=item.series_uid
        ).exists():
            raise Conflict(
                f"{item.name}: this series is already in the project (same study and series UIDs).",
                details={"series_uid": item.series_uid},
            )


# -- building ------------------------------------------------------------------------------------------


class Inputs:
    """Where a planned series' files are read from: the request's folder, or the staging storage."""

    def dataset(self, name: str) -> Dataset:
        raise NotImplementedError

    def path(self, name: str) -> Path:
        raise NotImplementedError

    def original(self, item: PlannedSeries, name: str) -> bytes:
        raise NotImplementedError


class LocalInputs(Inputs):
    def __init__(self, datasets: dict[str, Dataset]) -> None:
        self.datasets = datasets

    def dataset(self, name: str) -> Dataset:
        return self.datasets[name]

    def path(self, name: str) -> Path:
        return Path(name)

    def original(self, item: PlannedSeries, name: str) -> bytes:
        return dicom.to_bytes(self.datasets[name]) if item.format == "dicom" else Path(name).read_bytes()


class StagedInputs(Inputs):
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def _bytes(self, name: str) -> bytes:
        with volumes.storage().open(name, "rb") as handle:
            return handle.read()

    def dataset(self, name: str) -> Dataset:
        return dicom.read(self._bytes(name), name.rsplit("/", 1)[-1], sniffed=True)

    def path(self, name: str) -> Path:
        local = self.workdir / name.replace("/", "_")
        if not local.exists():
            with volumes.storage().open(name, "rb") as src, open(local, "wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
        return local

    def original(self, item: PlannedSeries, name: str) -> bytes:
        return self._bytes(name)


def build(item: PlannedSeries, inputs: Inputs, progress: Callable[[int, int], bool | None] | None = None):
    """Decode a planned series into a canonical array: (Oriented, modality, notes)."""
    if item.format == "dicom":
        files = [(name, inputs.dataset(name)) for name in item.files]
        built = dicom.build(files, progress)
        return built.oriented, item.modality or built.modality, built.notes
    path = inputs.path(item.files[0])
    reader = {"nifti": formats.read_nifti, "nrrd": formats.read_nrrd, "image": formats.read_image}[
        item.format
    ]
    oriented = reader(path, item.name)
    if progress is not None and progress(1, 1) is False:
        raise InterruptedError("cancelled")
    return oriented, item.modality or guess_modality(item.format, oriented.array), {}


def guess_modality(fmt: str, array: np.ndarray) -> str:
    """Volumes holding air at about -1000 are CT in Hounsfield units; anything else stays OT unless the
    uploader says otherwise (the ``modality`` field)."""
    if fmt in ("nifti", "nrrd") and array.dtype.kind in "iu" and array.ndim == 3 and int(array.min()) <= -900:
        return "CT"
    return "OT"


def build_reference(path: Path, fmt: str, name: str, image: Oriented) -> np.ndarray:
    reader = formats.read_nifti if fmt == "nifti" else formats.read_nrrd
    labels = reader(path, name)
    if labels.array.shape != image.array.shape[:3] or not np.allclose(labels.affine, image.affine, atol=1e-2):
        raise InvalidInput(
            f"{name}: the label map does not line up with its image (different grid or orientation)."
        )
    values = labels.array
    if values.dtype.kind == "f":
        if not np.all(np.mod(values, 1) == 0):
            raise InvalidInput(f"{name}: a label map must hold whole numbers.")
    if values.min() < 0 or values.max() > 65535:
        raise InvalidInput(f"{name}: label values must lie in 0..65535.")
    return values.astype(np.uint8 if values.max() <= 255 else np.uint16)


@dataclass
class Stored:
    item: PlannedSeries
    fields: dict
    files: list[str] = field(default_factory=list)


def store(
    project: Project,
    item: PlannedSeries,
    oriented: Oriented,
    modality: str,
    notes: dict,
    *,
    labels: np.ndarray | None,
    originals: list[tuple[str, bytes]] | None,
    written: list[str],
) -> Stored:
    """Write the series' files (volume, thumbnail, reference labels, originals); names go into ``written``
    as they are created so a failure later can delete them."""
    array = oriented.array
    folder = volumes.series_folder(project.id)
    volume_name, digest = volumes.save_array(f"{folder}/volume.npy", array)
    written.append(volume_name)
    is_rgb = array.ndim == 4
    presets, default = presets_for(modality, array, is_rgb)
    window = next((w for w in presets if w["name"] == default), None)
    middle = array[array.shape[0] // 2]
    thumb = render.thumbnail_png(
        middle, window["level"] if window else None, window["width"] if window else None
    )
    thumb_name = volumes.storage().save(f"{folder}/thumbnail.png", ContentFile(thumb))
    written.append(thumb_name)
    labels_name = ""
    if labels is not None:
        labels_name, _ = volumes.save_array(f"{folder}/reference_labels.npy", labels)
        written.append(labels_name)
    originals_name = ""
    if originals:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for index, (name, data) in enumerate(originals):
                archive.writestr(f"{index:05d}_{_stem(name)[:60]}{Path(name).suffix[:8]}", data)
        originals_name = volumes.storage().save(f"{folder}/originals.zip", ContentFile(buffer.getvalue()))
        written.append(originals_name)
    z = array.shape[0]
    fields = {
        "uid": item.series_uid,
        "number": item.series_number,
        "description": item.description[:200],
        "kind": Series.Kind.VOLUME if z > 1 else Series.Kind.IMAGE,
        "modality": modality,
        "shape": list(array.shape),
        "spacing": [round(v, 6) for v in oriented.spacing],
        "affine": [[round(float(v), 6) for v in row] for row in oriented.affine],
        "dtype": array.dtype.name,
        "num_slices": z,
        "window_presets": presets,
        "default_window": default,
        "intensity_range": [float(array.min()), float(array.max())],
        "content_hash": digest,
        "volume": volume_name,
        "thumbnail": thumb_name,
        "reference_labels": labels_name,
        "originals": originals_name,
        "source_format": item.format,
        "import_notes": {**notes, **({"plane": oriented.plane} if oriented.plane else {})},
        "source_header": oriented.source,
    }
    return Stored(item, fields)


def record(project: Project, user, stored: list[Stored]) -> list[Series]:
    """Create the studies and series rows (inside the caller's transaction)."""
    created = []
    for entry in stored:
        item = entry.item
        study, _ = Study.objects.get_or_create(
            project=project,
            uid=item.study_uid,
            defaults={
                "description": item.study_description[:200],
                "patient_pseudonym": item.pseudonym,
                "study_date": item.study_date,
                "source": item.format,
                "created_by": user,
            },
        )
        try:
            with transaction.atomic():
                created.append(Series.objects.create(study=study, **entry.fields))
        except IntegrityError as exc:
            raise Conflict(f"{item.name}: this series is already in the project.") from exc
    return created


def _build_and_store(
    project: Project,
    payload: ImportPayload,
    inputs: Inputs,
    reference_path: Path | None,
    written: list[str],
    on_progress: Callable[[float, str], bool] | None = None,
) -> list[Stored]:
    total = max(1, sum(item.slices for item in payload.series))
    done_before = 0
    stored = []
    for item in payload.series:

        def progress(done: int, count: int, item=item, before=done_before) -> bool:
            if on_progress is None:
                return True
            fraction = 0.9 * (before + item.slices * done / max(count, 1)) / total
            return on_progress(fraction, f"Reading {item.name}")

        oriented, modality, notes = build(item, inputs, progress)
        labels = None
        if reference_path is not None and payload.reference_labels_format:
            labels = build_reference(
                reference_path, payload.reference_labels_format, "reference labels", oriented
            )
        originals = (
            [(name, inputs.original(item, name)) for name in item.files] if payload.keep_originals else None
        )
        stored.append(
            store(
                project, item, oriented, modality, notes, labels=labels, originals=originals, written=written
            )
        )
        done_before += item.slices
    return stored


def _result(series: list[Series]) -> dict:
    return {
        "studies": sorted({s.study_id for s in series}),
        "series": [s.id for s in series],
        "summary": f"Imported {len(series)} series.",
    }


# -- the operations ------------------------------------------------------------------------------------


def do_import(
    user,
    project: Project,
    uploads: list[tuple[str, BinaryIO | Path]],
    *,
    reference_labels: tuple[str, BinaryIO | Path] | None = None,
    modality: str | None = None,
    force_sync: bool = False,
) -> Job:
    """Import uploaded files into ``project``. Small imports (or ``force_sync``) finish before returning a
    done job; larger ones return a pending job whose worker builds the series."""
    modality = check_modality(modality)
    with tempfile.TemporaryDirectory(prefix="delineate-import-") as tmp:
        workdir = Path(tmp)
        sources = collect(uploads, workdir)
        reference = collect([reference_labels], workdir, prefix="reference")[0] if reference_labels else None
        datasets: dict[str, Dataset] = {}
        planned = plan_dicom(project, [s for s in sources if s.kind.startswith("dicom")], datasets)
        planned += [plan_file(s, modality) for s in sources if not s.kind.startswith("dicom")]
        if not planned:
            raise InvalidInput("The upload holds no images (only directory records).")
        plan_reference(reference, planned)
        check_not_imported(project, planned)
        payload = ImportPayload(
            staging="",
            series=planned,
            reference_labels=str(reference.path) if reference else None,
            reference_labels_format=reference.kind if reference else None,
            keep_originals=bool(project.settings.get("keep_originals", False)),
        )
        slices = sum(item.slices for item in planned)
        if force_sync or slices <= limit("IMPORT_SYNC_MAX_SLICES"):
            return _import_now(user, project, payload, LocalInputs(datasets), reference)
        return _stage(user, project, payload, datasets)


def _import_now(
    user, project: Project, payload: ImportPayload, inputs: Inputs, reference: Source | None
) -> Job:
    written: list[str] = []
    try:
        stored = _build_and_store(project, payload, inputs, reference.path if reference else None, written)
        with transaction.atomic():
            series = record(project, user, stored)
            job = Job.objects.create(
                kind=JOB_KIND,
                project=project,
                created_by=user,
                state=Job.State.DONE,
                progress=1.0,
                message=f"Imported {len(series)} series.",
                result=_result(series),
            )
            push_progress(job)
    except BaseException:
        volumes.delete_files(written)
        raise
    return job


def _stage(user, project: Project, payload: ImportPayload, datasets: dict[str, Dataset]) -> Job:
    """Write the de-identified inputs to the staging storage and queue a job to build them."""
    prefix = f"imports/{uuid.uuid4().hex}"
    written: list[str] = []
    store_ = volumes.storage()
    try:
        for i, item in enumerate(payload.series):
            staged = []
            for j, name in enumerate(item.files):
                if item.format == "dicom":
                    data = ContentFile(dicom.to_bytes(datasets[name]))
                    suffix = ".dcm"
                else:
                    data = ContentFile(Path(name).read_bytes())
                    suffix = ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix
                staged.append(store_.save(f"{prefix}/{i:03d}/{j:05d}{suffix}", data))
                written.append(staged[-1])
            item.files = staged
        if payload.reference_labels:
            source = Path(payload.reference_labels)
            suffix = ".nii.gz" if source.name.endswith(".nii.gz") else source.suffix
            payload.reference_labels = store_.save(
                f"{prefix}/reference{suffix}", ContentFile(source.read_bytes())
            )
            written.append(payload.reference_labels)
        payload.staging = prefix
        with transaction.atomic():
            job = Job.objects.create(
                kind=JOB_KIND,
                project=project,
                created_by=user,
                payload=payload.model_dump(mode="json"),
                message=f"Waiting for a worker to import {sum(i.slices for i in payload.series)} slices.",
            )
            push_progress(job)
            from annotator import tasks  # the Celery module imports this one

            transaction.on_commit(lambda: tasks.enqueue_import(job.id))
    except BaseException:
        volumes.delete_files(written)
        raise
    return job


def run_import_job(job_id: int) -> Job:
    """Build a staged import (the body of the Celery task). Safe to call twice: only one caller claims it."""
    job = Job.objects.select_related("project").get(pk=job_id)
    payload = ImportPayload.model_validate(job.payload)
    if not job.claim():
        if job.state == Job.State.CANCELLED:  # cancelled before a worker got to it
            delete_staging(payload)
        return job
    push_progress(job)
    written: list[str] = []
    last = [0.0]

    def on_progress(fraction: float, message: str) -> bool:
        if fraction - last[0] < 0.02:  # ~50 updates per job at most
            return Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).exists()
        last[0] = fraction
        return report(job, fraction, message)

    try:
        with tempfile.TemporaryDirectory(prefix="delineate-import-") as tmp:
            inputs = StagedInputs(Path(tmp))
            reference = inputs.path(payload.reference_labels) if payload.reference_labels else None
            stored = _build_and_store(job.project, payload, inputs, reference, written, on_progress)
        report(job, 0.95, "Saving")
        with transaction.atomic():
            series = record(job.project, job.created_by, stored)
            if not job.finish(_result(series), message=f"Imported {len(series)} series."):
                raise InterruptedError("cancelled")
            push_progress(job)
    except InterruptedError:
        volumes.delete_files(written)
        job.refresh_from_db()
    except DomainError as exc:
        volumes.delete_files(written)
        job.fail(exc.message)
        push_progress(job)
    except Exception as exc:  # noqa: BLE001 - the job must end failed, with the cause logged
        log.exception("import job %s failed", job.pk)
        volumes.delete_files(written)
        job.fail(f"The import failed unexpectedly ({type(exc).__name__}). The files were not imported.")
        push_progress(job)
    finally:
        delete_staging(payload)
    return job


def delete_staging(payload: ImportPayload) -> None:
    names = [name for item in payload.series for name in item.files]
    if payload.reference_labels:
        names.append(payload.reference_labels)
    volumes.delete_files([n for n in names if n.startswith("imports/")])
    store_ = volumes.storage()
    try:  # empty folders are left on filesystem storages; remove them when we can
        root = Path(store_.path(payload.staging)) if payload.staging else None
    except NotImplementedError:
        root = None
    if root is not None and root.exists():
        shutil.rmtree(root, ignore_errors=True)
