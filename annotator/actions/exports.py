"""Exporting masks (NIfTI, DICOM SEG, PNG, COCO) as a background job.

An export is a ``Job`` (kind "export") whose worker writes one zip to the media storage under ``exports/``;
the zip is downloaded through the API by members of the project. Which masks (``masks``): by default the
approved ones (per series, label and annotator the revision a reviewer approved, and the consensus a reviewer
built: annotator.actions.approvals), or "all" for the head revision of every track; one set of files per
annotator and one for the consensus (or only the chosen annotator's). Removed labels are left out, and an
annotator of a project with independent readings exports only what they may read (annotator.visibility).
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from django.contrib.auth.models import User
from django.core.files import File
from django.db import transaction
from pydantic import BaseModel, Field

from annotator import access, visibility
from annotator.actions import approvals, jobs, timing_exports
from annotator.actions.jobs import project_of, push_progress, report
from annotator.actions.masks import mask_shape, read_volume
from annotator.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from annotator.exporting import coco, dicom_seg, nifti, png
from annotator.exporting.common import AnnotatorMasks, LabelInfo, label_map
from annotator.imaging import render, volumes
from annotator.models import Job, Label, Membership, Project, Series

log = logging.getLogger(__name__)

JOB_KIND = "export"
FORMATS = ("nifti", "dicom-seg", "png", "coco")
EXPORTS_FOLDER = "exports"


class ExportRequest(BaseModel):
    """The body of ``POST /api/projects/{id}/exports/`` and the payload of the export job."""

    format: Literal["nifti", "dicom-seg", "png", "coco"]
    images: bool = True  # COCO: also write the slice images its file_name points at (False: masks only)
    series: list[int] | None = Field(default=None, min_length=1, max_length=10_000)
    annotator: str | None = Field(default=None, min_length=1, max_length=150)
    # "approved": what reviewers approved (and the consensus); "all": every track's head revision.
    masks: Literal["approved", "all"] = "approved"


# -- starting an export --------------------------------------------------------------------------------


def check_export(project: Project, request: ExportRequest) -> list[Series]:
    """The series to export; refuses unknown series or annotators and formats none of them can take."""
    queryset = Series.objects.filter(study__project=project).order_by("study_id", "number", "id")
    if request.series is not None:
        wanted = set(request.series)
        chosen = list(queryset.filter(pk__in=wanted))
        missing = sorted(wanted - {s.pk for s in chosen})
        if missing:
            raise InvalidInput(
                f"No such series in this project: {', '.join(map(str, missing))}.",
                details={"series": missing},
            )
    else:
        chosen = list(queryset)
    if not chosen:
        raise InvalidInput("The project has no series to export.")
    if request.annotator is not None:
        if not Membership.objects.filter(project=project, user__username=request.annotator).exists():
            raise InvalidInput(f"{request.annotator!r} is not a member of this project.")
    if request.format == "dicom-seg" and not any(s.source_format == "dicom" for s in chosen):
        raise InvalidInput("DICOM SEG references DICOM source images: none of these series came from DICOM.")
    return chosen


@transaction.atomic
def do_start_export(user: access.AnyUser, project: Project, request: ExportRequest) -> Job:
    """Queue an export job (``jobs.JOB_ROUTES``); its progress is pushed to the user's sockets."""
    chosen = check_export(project, request)
    payload = request.model_copy(update={"series": [s.pk for s in chosen]})
    return jobs.start_job(
        JOB_KIND,
        project=project,
        user=user,
        payload=payload.model_dump(mode="json"),
        message=f"Waiting for a worker to export {len(chosen)} series as {request.format}.",
    )


# -- the worker's side ---------------------------------------------------------------------------------


def project_labels(project_id: int) -> list[LabelInfo]:
    """The project's labels in use (a removed label's masks are not exported), by value."""
    return [
        LabelInfo(lab.id, lab.name, lab.value, lab.color)
        for lab in Label.objects.filter(project_id=project_id).order_by("value")
    ]


CONSENSUS = "consensus"
# The consensus's folder in an export: usernames pass through safe_name, which never starts with "_".
CONSENSUS_FOLDER = "_consensus"


@dataclass(frozen=True)
class Reader:
    """Who an export is for: the masks they may read are exported (annotator.visibility)."""

    user: User
    role: str


def reader_of(job: Job) -> Reader | None:
    """The member who started ``job``, with their role now (None: they left, and nothing is exported)."""
    user = job.created_by
    role = access.role_in(user, job.project_id) if user is not None and job.project_id else None
    return Reader(user, role) if user is not None and role is not None else None


def selected_masks(
    series: Series,
    annotator: str | None,
    *,
    masks: str = "approved",
    reader: Reader | None = None,
) -> Iterator[AnnotatorMasks]:
    """The masks an export writes for ``series``, one ``AnnotatorMasks`` per annotator (by username) and
    one for the consensus: the approved revisions (``masks="approved"``) or every track's head ("all");
    only ``annotator``'s when given, and only what ``reader`` may read when given. The file exports and the
    PACS export (annotator.actions.pacs_stow) both take their masks from this function.

    A generator: one annotator's volumes are in memory at a time (a 512x512x200 mask is 52 MB as bool).
    """
    chosen = approvals.approved_pairs([series]) if masks == "approved" else approvals.head_pairs([series])
    if annotator is not None:
        chosen = [m for m in chosen if m.annotator is not None and m.annotator.get_username() == annotator]
    if reader is not None:
        project = series.study.project
        chosen = [
            m
            for m in chosen
            if visibility.may_read_track(
                reader.user, reader.role, project, series, m.annotator.pk if m.annotator else None
            )
        ]
    by_owner: dict[str | None, list[approvals.SelectedMask]] = {}
    for mask in chosen:
        by_owner.setdefault(mask.annotator.get_username() if mask.annotator else None, []).append(mask)
    shape = mask_shape(series)
    for name, owned in by_owner.items():
        volumes = {m.label_id: read_volume(m.revision, shape) for m in owned}
        revisions = {m.label_id: m.revision.pk for m in owned}
        yield AnnotatorMasks(name or CONSENSUS, volumes, consensus=name is None, revisions=revisions)


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")[:60] or "x"


def series_folder(series: Series) -> str:
    return f"series-{series.pk}"


@dataclass
class Exporter:
    """Writes one series' masks into the open zip in the chosen format; returns what the manifest says."""

    archive: zipfile.ZipFile
    fmt: str
    labels: list[LabelInfo]
    dataset: coco.CocoDataset
    images: bool = False  # COCO: write each slice's image where its file_name points

    def series(self, series: Series, annotators: Iterable[AnnotatorMasks]) -> dict:
        entry: dict = {
            "id": series.pk,
            "study_uid": series.study.uid,
            "series_uid": series.uid,
            "description": series.description,
            "source_format": series.source_format,
            "shape": list(mask_shape(series)),
            "files": [],
            "annotators": [],
        }
        if self.fmt == "coco":
            image_ids = self._coco_images(series)
        for masks in annotators:
            entry["annotators"].append(masks.annotator)
            if self.fmt == "coco":
                self._coco_masks(image_ids, masks)
                continue
            owner = CONSENSUS_FOLDER if masks.consensus else safe_name(masks.annotator)
            folder = f"{series_folder(series)}/{owner}"
            if self.fmt == "dicom-seg":
                try:
                    data = dicom_seg.segmentation_bytes(
                        series, masks.masks, self.labels, annotator=masks.annotator
                    )
                except dicom_seg.NotReferenceable as exc:
                    entry.setdefault("skipped", []).append({"annotator": masks.annotator, "reason": str(exc)})
                    continue
                self._write(entry, f"{folder}/segmentation.dcm", data)
                continue
            labels_zyx, overlaps = label_map(masks.masks, self.labels, mask_shape(series))
            if overlaps:
                entry.setdefault("overlaps", {})[masks.annotator] = overlaps
            if self.fmt == "nifti":
                self._write(entry, f"{folder}/labels.nii.gz", nifti.label_map_bytes(labels_zyx, series))
            else:
                colours = png.palette({lab.value: lab.color for lab in self.labels})
                for name, data in png.slices(labels_zyx, colours):
                    self._write(entry, f"{folder}/{name}", data)
        return entry

    def _write(self, entry: dict, name: str, data: bytes) -> None:
        self.archive.writestr(name, data)
        entry["files"].append(name)

    def _coco_images(self, series: Series) -> list[int]:
        depth, height, width = mask_shape(series)
        volume = volumes.load_volume(series) if self.images else None
        ids = []
        for z in range(depth):
            file_name = f"{series_folder(series)}/{png.SLICE_NAME.format(z=z)}"
            ids.append(
                self.dataset.add_image(
                    file_name=file_name, height=height, width=width, series_id=series.pk, slice_index=z
                )
            )
            if volume is not None:
                self.archive.writestr(file_name, slice_image(series, np.asarray(volume[z])))
        return ids

    def _coco_masks(self, image_ids: list[int], masks: AnnotatorMasks) -> None:
        by_id = {lab.id: lab for lab in self.labels}
        for label_id, mask in masks.masks.items():
            for z in np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1)):
                self.dataset.add_mask(image_ids[z], by_id[label_id], masks.annotator, mask[z])


def slice_image(series: Series, plane: np.ndarray) -> bytes:
    """A slice of ``series`` as an 8-bit PNG in its default display window (colour images as they are): the
    picture a COCO ``file_name`` points at."""
    window = series.window(series.default_window) or {}
    return render.png_bytes(render.to_display(plane, window.get("level"), window.get("width")))


README = """Masks exported from Delineate.

Per series (folder series-<id>) and annotator (sub-folder; _consensus for the consensus a reviewer built),
each label's mask: the revision a reviewer approved, or with "masks": "all" the latest revision of every
mask (manifest.json says which).
- nifti: labels.nii.gz, one label map on the grid of the imported file (same voxel order and affine), label
  values as in manifest.json; where masks overlap, the higher label value is written.
- dicom-seg: segmentation.dcm, a binary DICOM SEG, one segment per label, referencing the source instances.
- png: slice-<z>.png per slice holding any label (z = slice index as shown in Delineate, rows top to bottom),
  label values as grey levels (16-bit when a value is over 255); colour/slice-<z>.png beside each is the
  same slice in the labels' colours, to look at (the grey one is the label map).
- coco: annotations.json, one image per slice, one RLE annotation per (slice, label, annotator); category ids
  are label values. Each image's file_name, series-<id>/slice-<z>.png, is in the zip: the slice as an 8-bit
  PNG in the series' default display window (exported with "images": false, only annotations.json is).
annotation_time.csv: per exported mask, its revision and the annotation time behind it (the annotator's
active seconds up to the save of that revision, idle gaps and hidden-tab time left out; whether the model
was used; interactions by kind; docs/timing.md); no time for a consensus or where nothing was logged.
"""


def build_archive(job: Job, request: ExportRequest, path: Path) -> dict:
    """Write the export zip for ``request`` to ``path``; returns the manifest. Raises InterruptedError when
    the job was cancelled meanwhile."""
    project = project_of(job)
    labels = project_labels(project.pk)
    series_list = list(
        Series.objects.filter(pk__in=request.series or [], study__project=project)
        .select_related("study")
        .order_by("study_id", "number", "id")
    )
    manifest: dict = {
        "project": {"id": project.pk, "name": project.name},
        "format": request.format,
        "annotator": request.annotator,
        "masks": request.masks,
        "labels": [{"name": lab.name, "value": lab.value, "color": lab.color} for lab in labels],
        "series": [],
    }
    dataset = coco.CocoDataset(description=f"{project.name}: masks exported from Delineate")
    dataset.set_labels(labels)
    reader = reader_of(job)
    if reader is None:
        raise Forbidden("Only members of the project can export its masks.")
    exported: list[timing_exports.ExportedMask] = []

    def noted(series: Series, chosen: Iterator[AnnotatorMasks]) -> Iterator[AnnotatorMasks]:
        for masks in chosen:
            for label_id, revision_id in masks.revisions.items():
                exported.append(
                    timing_exports.ExportedMask(series.pk, label_id, revision_id, masks.consensus)
                )
            yield masks

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        exporter = Exporter(archive, request.format, labels, dataset, images=request.images)
        for done, series in enumerate(series_list):
            if not report(job, 0.95 * done / len(series_list), f"Exporting {series}"):
                raise InterruptedError("cancelled")
            chosen = selected_masks(series, request.annotator, masks=request.masks, reader=reader)
            manifest["series"].append(exporter.series(series, noted(series, chosen)))
        if request.format == "coco":
            archive.writestr("annotations.json", json.dumps(dataset.as_json()))
        archive.writestr("annotation_time.csv", timing_exports.exported_masks_csv(project, exported))
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
        archive.writestr("README.txt", README)
    return manifest


def skips(manifest: dict) -> list[dict]:
    """What an export left out and why, one entry per series and annotator: ``{"series", "description",
    "annotator", "reason"}`` (e.g. a DICOM SEG of a series not imported from DICOM)."""
    return [
        {"series": entry["id"], "description": entry["description"], **skipped}
        for entry in manifest["series"]
        for skipped in entry.get("skipped", [])
    ]


def archive_name(job: Job, fmt: str) -> str:
    return f"{safe_name(project_of(job).name)}-{fmt}-export-{job.pk}.zip"


def run_export_job(job_id: int) -> Job:
    """Build an export (the body of the Celery task). Safe to call twice: only one caller claims the job."""
    job = Job.objects.select_related("project").get(pk=job_id)
    if not job.claim():
        return job
    push_progress(job)
    stored = ""
    try:
        request = ExportRequest.model_validate(job.payload)
        with tempfile.TemporaryDirectory(prefix="delineate-export-") as tmp:
            path = Path(tmp) / "export.zip"
            manifest = build_archive(job, request, path)
            if not report(job, 0.97, "Saving the archive"):
                raise InterruptedError("cancelled")
            filename = archive_name(job, request.format)
            with open(path, "rb") as handle:
                stored = volumes.storage().save(f"{EXPORTS_FOLDER}/job-{job.pk}/{filename}", File(handle))
            size = path.stat().st_size
        files = sum(len(s["files"]) for s in manifest["series"])
        skipped = sum(len(s.get("skipped", [])) for s in manifest["series"])
        summary = f"Exported {len(manifest['series'])} series ({files} files)" + (
            f"; {skipped} skipped, see manifest.json." if skipped else "."
        )
        if not files and request.masks == "approved" and not skipped:
            summary += " No mask is approved yet: export all latest revisions instead to get every mask."
        result = {"file": stored, "filename": filename, "size": size, "files": files, "skipped": skipped}
        with transaction.atomic():
            # The skipped series, each with the reason, for the export panel to list (not only in manifest.json).
            done = {
                **result,
                "download_url": f"/api/exports/{job.pk}/download",
                "skipped_series": skips(manifest),
            }
            if not job.finish(done, message=summary):
                raise InterruptedError("cancelled")
            push_progress(job)
    except InterruptedError:
        volumes.delete_files([stored])
        job.refresh_from_db()
    except DomainError as exc:
        volumes.delete_files([stored])
        job.fail(exc.message)
        push_progress(job)
    except Exception as exc:  # noqa: BLE001 - the job must end failed, with the cause logged
        log.exception("export job %s failed", job.pk)
        volumes.delete_files([stored])
        job.fail(f"The export failed unexpectedly ({type(exc).__name__}).")
        push_progress(job)
    return job


def export_file(job: Job) -> tuple[File, str]:
    """The finished export's zip (open) and its file name; reach the job through ``access.export_with_membership``
    (members of its project only)."""
    if job.state != Job.State.DONE:
        raise Conflict(f"The export is not ready ({job.state}).", details={"state": job.state})
    name = job.result.get("file", "")
    if not name or not volumes.storage().exists(name):
        raise NotFound("The export's file is gone; start the export again.")
    return volumes.storage().open(name, "rb"), job.result.get("filename") or Path(name).name
