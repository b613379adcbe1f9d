"""Importing chosen series from a project's PACS (the search and the source are ``annotator.actions.pacs``).

Imports retrieve each chosen series over WADO-RS into a temporary folder of the worker and hand that folder to
the upload pipeline (``import_folder``: the same de-identification, grouping, ordering and bad-instance
handling as an upload), then record each new series' original UIDs (``PacsSeriesOrigin``: UIDs only), by
which a re-import is recognised and a DICOM SEG sent back references the images the PACS holds.

Clear (identified) DICOM exists only in that temporary folder, deleted when the job ends; nothing from the
PACS is stored before the pipeline has de-identified it. See docs/pacs.md.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from pydantic import BaseModel, Field

from annotator import access
from annotator.actions import imports, jobs
from annotator.actions.jobs import project_of, push_progress, report
from annotator.actions.pacs import MAX_SERIES_PER_IMPORT, connection_of, imported_series, resolve, source_of
from annotator.dicomweb import client
from annotator.errors import Conflict, DomainError, InvalidInput
from annotator.imaging import volumes
from annotator.importing import deid
from annotator.models import Job, PacsSeriesOrigin, Project, Series

log = logging.getLogger(__name__)

JOB_KIND = "pacs-import"  # run by annotator.pacs.tasks.run_pacs_import_job (jobs.JOB_ROUTES)


class ImportRequest(BaseModel):
    """The body of ``POST /api/projects/{id}/pacs/imports/``: handles of series from a search."""

    series: list[str] = Field(min_length=1, max_length=MAX_SERIES_PER_IMPORT)


class PacsSeriesRef(BaseModel):
    study_uid: str
    series_uid: str


class PacsImportPayload(BaseModel):
    """The job's payload (original UIDs stay on the server: the API never returns a job's payload)."""

    series: list[PacsSeriesRef]
    already_imported: int = 0


@transaction.atomic
def do_start_import(user: access.AnyUser, project: Project, request: ImportRequest) -> Job:
    """Queue a job that retrieves the chosen series and imports them. Series already in the project are
    left out (recognised by their original SeriesInstanceUID); all of them already there is a Conflict."""
    source_of(project)
    refs = []
    for handle in dict.fromkeys(request.series):
        found = resolve(project, handle, series=True)
        refs.append(PacsSeriesRef(study_uid=found.study_uid, series_uid=found.series_uid))
    done = imported_series(project, [r.series_uid for r in refs])
    todo = [r for r in refs if r.series_uid not in done]
    if not todo:
        raise Conflict(
            "These series are already in the project (imported from the PACS before).",
            details={"series": sorted(set(done.values()))},
        )
    payload = PacsImportPayload(series=todo, already_imported=len(refs) - len(todo))
    return jobs.start_job(
        JOB_KIND,
        project=project,
        user=user,
        payload=payload.model_dump(mode="json"),
        message=f"Waiting for a worker to retrieve {len(todo)} series from the PACS.",
    )


def import_folder(user: access.AnyUser | None, project: Project, folder: Path) -> Job:
    """THE hand-over to the import pipeline: the DICOM files under ``folder`` are imported exactly as an upload
    of them would be (annotator.api.studies.ImportView → annotator.actions.imports.do_import): de-identified,
    grouped into series, ordered, checked, all or nothing. Built here and now (we already are on a worker).
    Returns the pipeline's finished import job (its result lists the new series)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return imports.do_import(user, project, [(str(p.relative_to(folder)), p) for p in files], force_sync=True)


@dataclass
class Retrieved:
    """One series fetched from the PACS: where its files are and the original UIDs of its instances."""

    ref: PacsSeriesRef
    folder: Path
    instance_uids: list[str] = field(default_factory=list)
    frame_of_reference_uid: str = ""
    modalities: Counter = field(default_factory=Counter)
    sizes: Counter = field(default_factory=Counter)
    number: int | None = None


def _retrieve(
    connection: client.Connection,
    ref: PacsSeriesRef,
    folder: Path,
    progress: Callable[[int], bool],
    name: str,
) -> Retrieved:
    folder.mkdir(parents=True)
    out = Retrieved(ref, folder)
    for index, ds in enumerate(client.iter_instances(connection, ref.study_uid, ref.series_uid), start=1):
        if str(ds.get("SeriesInstanceUID", "")) != ref.series_uid:
            raise InvalidInput(
                f"{name}: the PACS returned an instance of another series; nothing was imported."
            )
        out.instance_uids.append(str(ds.get("SOPInstanceUID", "")))
        out.frame_of_reference_uid = out.frame_of_reference_uid or str(
            ds.get("FrameOfReferenceUID", "") or ""
        )
        out.modalities[str(ds.get("Modality", "") or "?")] += 1
        if "Rows" in ds and "Columns" in ds:
            out.sizes[f"{int(ds.Columns)}x{int(ds.Rows)}"] += 1
        if out.number is None and ds.get("SeriesNumber") not in (None, ""):
            out.number = int(ds.SeriesNumber)
        for element in list(ds):  # command-set elements (group 0000) are no part of a stored object
            if element.tag.group == 0:
                del ds[element.tag]
        ds.save_as(folder / f"{index:05d}.dcm", enforce_file_format=True)
        if progress(index) is False:
            raise InterruptedError("cancelled")
    if not out.instance_uids:
        raise InvalidInput(f"{name}: the PACS returned no instances for this series; nothing was imported.")
    return out


def check_retrieved(item: Retrieved, name: str) -> None:
    """A PACS series must be one modality and one image size: anything else is refused, not split."""
    if len(item.modalities) > 1:
        mix = ", ".join(f"{count} {modality}" for modality, count in item.modalities.most_common())
        raise InvalidInput(
            f"{name} mixes modalities across its instances ({mix}); Delineate imports one modality per "
            "series. Nothing was imported.",
            details={"modalities": dict(item.modalities)},
        )
    if len(item.sizes) > 1:
        mix = ", ".join(f"{count} of {size}" for size, count in item.sizes.most_common())
        raise InvalidInput(
            f"{name} mixes image sizes across its instances ({mix}); Delineate imports one image size per "
            "series. Nothing was imported.",
            details={"sizes": dict(item.sizes)},
        )
    if not item.sizes:
        raise InvalidInput(f"{name} holds no images (no instance has a size). Nothing was imported.")


def record_origins(project: Project, retrieved: list[Retrieved], created: list[Series]) -> None:
    """Link each new series to the original UIDs of the PACS series it was built from (UIDs only)."""
    retain = deid.retains_uids(project.settings)
    for item in retrieved:
        stored_uid = deid.uid_after(project.pk, item.ref.series_uid, retain_uids=retain)
        instance_map = {
            deid.uid_after(project.pk, uid, retain_uids=retain): uid for uid in item.instance_uids
        }
        for series in created:
            if series.uid == stored_uid or series.uid.startswith(f"{stored_uid}."):
                PacsSeriesOrigin.objects.create(
                    project=project,
                    series=series,
                    study_uid=item.ref.study_uid,
                    series_uid=item.ref.series_uid,
                    frame_of_reference_uid=item.frame_of_reference_uid,
                    instance_uids=instance_map,
                )


def _series_files(series: list[Series]) -> list[str]:
    return [
        f.name for s in series for f in (s.volume, s.thumbnail, s.originals, s.reference_labels) if f.name
    ]


def run_pacs_import_job(job_id: int) -> Job:
    """Retrieve and import (the body of the Celery task). Safe to call twice: only one caller claims the job."""
    job = Job.objects.select_related("project", "created_by").get(pk=job_id)
    if not job.claim():
        return job
    push_progress(job)
    payload = PacsImportPayload.model_validate(job.payload)
    written: list[str] = []
    try:
        project = project_of(job)
        connection = connection_of(source_of(project))
        total = len(payload.series)
        retrieved = []
        with tempfile.TemporaryDirectory(prefix="delineate-pacs-") as tmp:
            for n, ref in enumerate(payload.series):
                name = f"Series {n + 1} of {total}"
                already = imported_series(project, [ref.series_uid])
                if already:  # imported by another job since this one was queued
                    payload.already_imported += 1
                    continue

                def progress(done: int, n: int = n, name: str = name) -> bool:
                    # The count of instances is not known up front: each series owns an equal share of 80 %,
                    # approached as instances arrive. Every 5th instance is reported (a row update each).
                    if done % 5 and done > 1:
                        return True
                    share = 0.8 / total
                    fraction = share * n + share * done / (done + 20)
                    return report(job, fraction, f"{name}: {done} instances retrieved")

                item = _retrieve(connection, ref, Path(tmp) / f"series-{n + 1:03d}", progress, name)
                item_name = f"{name} ({next(iter(item.modalities))}, series number {item.number})"
                check_retrieved(item, item_name)
                retrieved.append(item)
            if not retrieved:
                raise Conflict("These series are already in the project (imported from the PACS before).")
            if not report(job, 0.85, f"Importing {len(retrieved)} series"):
                raise InterruptedError("cancelled")
            with transaction.atomic():
                imported = import_folder(job.created_by, project, Path(tmp))
                created = list(Series.objects.filter(pk__in=imported.result.get("series", [])))
                written = _series_files(created)
                record_origins(project, retrieved, created)
                skipped = payload.already_imported
                message = f"Imported {len(created)} series from the PACS." + (
                    f" {skipped} already in the project, left out." if skipped else ""
                )
                result = {
                    "series": [s.pk for s in created],
                    "studies": sorted({s.study_id for s in created}),
                    "already_imported": skipped,
                    "import_job": imported.pk,
                    "summary": message,
                }
                if not job.finish(result, message=message):
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
        log.exception("PACS import job %s failed", job.pk)
        volumes.delete_files(written)
        job.fail(
            f"The import from the PACS failed unexpectedly ({type(exc).__name__}). Nothing was imported."
        )
        push_progress(job)
    return job
