"""Importing studies: check an upload, plan it, then build it now or stage it and start a job; and importing
existing masks as a series' reference labels. The work itself is in ``annotator/importing/``.

The upload request does everything that can refuse a file (reading every header, de-identifying DICOM,
checking limits), so bad input gets a clear reason and writes nothing. An upload of several files
(``do_import_partial``, the upload page's) imports the good ones and lists each refused file with its reason
(``importing/refusals.py``); when none is left, it is refused as a whole with a 4xx. ``do_import`` (the
demo data, a PACS retrieval) is all or nothing. Small imports are then built in the request; larger ones
are staged (DICOM already de-identified) under ``imports/`` in the media storage and built by a Celery task
(``jobs.JOB_ROUTES``), tracked by a ``Job`` row (kind "import"); a series that fails to build there is
listed in the job's result and the others are imported.

Clear (identified) DICOM only ever exists in the request's temporary folder, deleted when it ends. Nothing
stored names an uploaded file: jobs, studies and series describe them by type and position.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from pydicom.dataset import Dataset

from annotator import access
from annotator.actions import jobs
from annotator.actions.exports import project_labels
from annotator.actions.jobs import project_of, push_progress, report
from annotator.errors import Conflict, DomainError, InvalidInput, NotFound, TooLarge, UnsupportedMedia
from annotator.imaging import volumes
from annotator.imaging.limits import limit
from annotator.importing import reference_masks, storage
from annotator.importing.build import Inputs, LocalInputs, StagedInputs, build_and_store
from annotator.importing.plan import ImportPayload, PlannedSeries, plan_dicom, plan_file, plan_reference
from annotator.importing.refusals import Refusal, nothing_imported
from annotator.importing.sources import Source, collect, collect_each
from annotator.models import Job, Project, Series, Study

log = logging.getLogger(__name__)

JOB_KIND = "import"
MODALITIES = {"CT", "MR", "PT", "NM", "US", "CR", "DX", "MG", "XA", "RF", "OT", "SM", "OCT", "ES", "XC"}

Upload = tuple[str, BinaryIO | Path]


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


def check_not_imported(
    project: Project, planned: list[PlannedSeries], refused: list[Refusal] | None = None
) -> list[PlannedSeries]:
    """The planned series not in the project yet; one that is refuses the upload, or with ``refused`` is
    listed there."""
    todo = []
    for item in planned:
        if Series.objects.filter(
            study__project=project, study__uid=item.study_uid, uid=item.series_uid
        ).exists():
            shown = item.uploaded_as or item.name
            error = Conflict(
                f"{shown}: this series is already in the project (same study and series UIDs).",
                details={"series_uid": item.series_uid},
            )
            if refused is None:
                raise error
            refused.append(Refusal.of(shown, error))
            continue
        todo.append(item)
    return todo


# -- recording -----------------------------------------------------------------------------------------


def record(project: Project, user: User | None, stored: list[storage.Stored]) -> list[Series]:
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


def _result(series: list[Series], refused: Sequence[Refusal] = ()) -> dict[str, Any]:
    """A finished import job's result. ``refused`` are series that failed to build: described as stored
    (never by an uploaded name), as the worker knows them."""
    return {
        "studies": sorted({s.study_id for s in series}),
        "series": [s.id for s in series],
        "summary": _summary(series, refused),
        "refused": [r.as_dict() for r in refused],
    }


def _summary(series: list[Series], refused: Sequence[Refusal] = ()) -> str:
    return f"Imported {len(series)} series" + (f"; {len(refused)} refused." if refused else ".")


# -- the operations ------------------------------------------------------------------------------------


def do_import(
    user: access.AnyUser | None,
    project: Project,
    uploads: list[Upload],
    *,
    reference_labels: Upload | None = None,
    modality: str | None = None,
    force_sync: bool = False,
) -> Job:
    """Import files into ``project``, all or nothing: the first bad file refuses them all. Small imports (or
    ``force_sync``) finish before returning a done job; larger ones return a pending job whose worker builds
    the series."""
    job, _ = _import(user, project, uploads, reference_labels, modality, force_sync, partial=False)
    return job


def do_import_partial(
    user: access.AnyUser,
    project: Project,
    uploads: list[Upload],
    *,
    reference_labels: Upload | None = None,
    modality: str | None = None,
    force_sync: bool = False,
) -> tuple[Job, list[Refusal]]:
    """Import the good files of an upload and list the others: ``(job, refused)``, each refusal naming the
    file as uploaded (for the uploader's answer only; never stored). When no file is left, the upload is
    refused as a whole (``refusals.nothing_imported``). A reference label map goes with exactly one image:
    a problem with it refuses the whole upload."""
    return _import(user, project, uploads, reference_labels, modality, force_sync, partial=True)


def _import(
    user: access.AnyUser | None,
    project: Project,
    uploads: list[Upload],
    reference_labels: Upload | None,
    modality: str | None,
    force_sync: bool,
    *,
    partial: bool,
) -> tuple[Job, list[Refusal]]:
    modality = check_modality(modality)
    with tempfile.TemporaryDirectory(prefix="delineate-import-") as tmp:
        workdir = Path(tmp)
        if partial:
            sources, refused = collect_each(uploads, workdir)
        else:
            sources, refused = collect(uploads, workdir), []
        reference = collect([reference_labels], workdir, prefix="reference")[0] if reference_labels else None
        datasets: dict[str, Dataset] = {}
        listed = refused if partial else None
        planned = plan_dicom(project, [s for s in sources if s.kind.startswith("dicom")], datasets, listed)
        for source in sources:
            if source.kind.startswith("dicom"):
                continue
            try:
                planned.append(plan_file(source, modality))
            except DomainError as exc:
                if not partial:
                    raise
                refused.append(Refusal.of(source.name, exc))
        if not planned and not refused:
            raise InvalidInput("The upload holds no images (only directory records).")
        reference_format = plan_reference(reference, planned)
        planned = check_not_imported(project, planned, listed)
        if not planned:
            raise nothing_imported(refused)
        payload = ImportPayload(
            staging="",
            series=planned,
            reference_labels=str(reference.path) if reference else None,
            reference_labels_format=reference_format,
            keep_originals=bool(project.settings.get("keep_originals", False)),
            partial=partial,
        )
        slices = sum(item.slices for item in planned)
        if force_sync or slices <= limit("IMPORT_SYNC_MAX_SLICES"):
            return _import_now(user, project, payload, LocalInputs(datasets), reference, refused)
        return _stage(user, project, payload, datasets), refused


def _import_now(
    user: access.AnyUser | None,
    project: Project,
    payload: ImportPayload,
    inputs: Inputs,
    reference: Source | None,
    refused: list[Refusal],
) -> tuple[Job, list[Refusal]]:
    """Build and record now. A series that fails to build is refused (``payload.partial``): the uploader is
    told by file name, the job's result by description."""
    creator = None if user is None else access.signed_in(user)  # None: a PACS job whose creator is gone
    written: list[str] = []
    failed: list[Refusal] | None = [] if payload.partial else None
    try:
        path = reference.path if reference else None
        stored = build_and_store(project, payload, inputs, path, written, refused=failed)
        failed = failed or []
        if not stored:
            raise nothing_imported(refused + failed)
        with transaction.atomic():
            series = record(project, creator, stored)
            job = Job.objects.create(
                kind=JOB_KIND,
                project=project,
                created_by=creator,
                state=Job.State.DONE,
                progress=1.0,
                message=_summary(series, refused + failed),
                result=_result(series, [_as_stored(r, payload) for r in failed]),
            )
            push_progress(job)
    except BaseException:
        volumes.delete_files(written)
        raise
    return job, refused + failed


def _as_stored(refusal: Refusal, payload: ImportPayload) -> Refusal:
    """A build refusal named as stored: the planned series' description instead of the uploaded name."""
    for item in payload.series:
        if refusal.file in (item.uploaded_as, item.name):
            return Refusal(item.name, refusal.reason, refusal.error)
    return refusal


def _stage(
    user: access.AnyUser | None, project: Project, payload: ImportPayload, datasets: dict[str, Dataset]
) -> Job:
    """Write the de-identified inputs to the staging storage and start a job to build them."""
    written: list[str] = []
    try:
        storage.stage(payload, datasets, written)
        return jobs.start_job(
            JOB_KIND,
            project=project,
            user=user,
            payload=payload.model_dump(mode="json"),
            message=f"Waiting for a worker to import {sum(i.slices for i in payload.series)} slices.",
        )
    except BaseException:
        volumes.delete_files(written)
        raise


def run_import_job(job_id: int) -> Job:
    """Build a staged import (the body of the Celery task). Safe to call twice: only one caller claims it."""
    job = Job.objects.select_related("project").get(pk=job_id)
    payload = ImportPayload.model_validate(job.payload)
    if not job.claim():
        if job.state == Job.State.CANCELLED:  # cancelled before a worker got to it
            storage.delete_staging(payload)
        return job
    push_progress(job)
    written: list[str] = []
    last = [0.0]

    def on_progress(fraction: float, message: str) -> bool:
        if fraction - last[0] < 0.02:  # ~50 updates per job at most
            return Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).exists()
        last[0] = fraction
        return report(job, fraction, message)

    failed: list[Refusal] | None = [] if payload.partial else None
    try:
        with tempfile.TemporaryDirectory(prefix="delineate-import-") as tmp:
            inputs = StagedInputs(Path(tmp))
            reference = inputs.path(payload.reference_labels) if payload.reference_labels else None
            stored = build_and_store(
                project_of(job), payload, inputs, reference, written, on_progress, failed
            )
        failed = failed or []
        if not stored:
            raise nothing_imported(failed)
        report(job, 0.95, "Saving")
        with transaction.atomic():
            series = record(project_of(job), job.created_by, stored)
            if not job.finish(_result(series, failed), message=_summary(series, failed)):
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
        storage.delete_staging(payload)
    return job


# -- existing masks as reference labels ----------------------------------------------------------------


def check_reference_upload(size: int | None) -> None:
    most = limit("MAX_UPLOAD_BYTES")
    if size is not None and size > most:
        raise TooLarge(f"The upload is {size} bytes, over the limit of {most} bytes.")


def do_import_reference_labels(user: access.AnyUser, series: Series, name: str, upload: BinaryIO) -> Series:
    """Replace ``series``' reference label map with the uploaded mask file (NIfTI, NRRD, DICOM SEG, PNG or a
    zip of slice PNGs). The file must have the series' geometry; otherwise nothing is written."""
    labels = project_labels(series.study.project_id)
    try:
        values = reference_masks.read(name, upload, series, labels)
    except reference_masks.Unsupported as exc:
        raise UnsupportedMedia(f"{name}: {exc}") from exc
    except ValueError as exc:
        raise InvalidInput(f"{name}: {exc}") from exc
    volume_name = series.volume.name
    if not volume_name:
        raise NotFound("This series has no stored image.")
    folder = str(Path(volume_name).parent)
    stored, _ = volumes.save_array(f"{folder}/reference_labels.npy", values)
    old = series.reference_labels.name
    try:
        with transaction.atomic():
            locked = Series.objects.select_for_update().get(pk=series.pk)
            locked.reference_labels = stored
            locked.save(update_fields=["reference_labels"])
            if old and old != stored:
                transaction.on_commit(lambda: volumes.delete_files([old]))
    except BaseException:
        volumes.delete_files([stored])
        raise
    series.reference_labels = stored
    return series


def reference_summary(values: np.ndarray) -> dict[str, int]:
    found, counts = np.unique(values[values > 0], return_counts=True)
    return {str(int(v)): int(c) for v, c in zip(found, counts, strict=True)}
