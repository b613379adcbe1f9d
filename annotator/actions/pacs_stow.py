"""Results back to the PACS: the export target "DICOMweb (STOW-RS)".

For each chosen series that came from the project's PACS, the DICOM SEG of the selected masks (the same
selection as the file exports: annotator.actions.exports.selected_masks) is built against the series'
ORIGINAL UIDs (recorded at import, annotator.models.PacsSeriesOrigin) and the study's patient and study
attributes as the PACS holds them (read for this send only, never stored), so the PACS files the SEG beside
its images. Every SEG is built before anything is sent, then all go in one STOW-RS request: the PACS stores
them or says which it refused, and the job says so; nothing is half-sent silently.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import highdicom as hd
from django.db import transaction
from pydantic import BaseModel, Field
from pydicom.dataset import Dataset

from annotator import access
from annotator.actions import exports, jobs
from annotator.actions.jobs import project_of, push_progress, report
from annotator.actions.pacs import connection_of, source_of
from annotator.dicomweb import client
from annotator.errors import DomainError, Forbidden, InvalidInput, UpstreamFailed
from annotator.exporting import dicom_seg
from annotator.models import Job, PacsSeriesOrigin, Project, Series

log = logging.getLogger(__name__)

JOB_KIND = "pacs-export"  # run by annotator.pacs.tasks.run_pacs_export_job (jobs.JOB_ROUTES)


class StowRequest(BaseModel):
    """The body of ``POST /api/projects/{id}/pacs/exports/``: the export selection (series, annotator)."""

    series: list[int] | None = Field(default=None, min_length=1, max_length=10_000)
    annotator: str | None = Field(default=None, min_length=1, max_length=150)
    # as for file exports: the approved masks by default, or "all" for every track's head revision
    masks: Literal["approved", "all"] = "approved"


def check_stow(user: access.AnyUser, project: Project, request: StowRequest) -> list[Series]:
    if access.role_in(user, project.pk) not in access.OWNER_ONLY:
        raise Forbidden("Only a project owner can send masks to the PACS.")
    source_of(project)
    # The file exports' checks of the selection (series of this project, a member as annotator); the
    # format is checked below, against where the series came from.
    chosen = exports.check_export(
        project, exports.ExportRequest(format="nifti", series=request.series, annotator=request.annotator)
    )
    if not PacsSeriesOrigin.objects.filter(series__in=chosen).exists():
        raise InvalidInput(
            "None of these series came from this project's PACS; only those can be sent back to it "
            "(export the others as a DICOM SEG file)."
        )
    return chosen


@transaction.atomic
def do_start_stow(user: access.AnyUser, project: Project, request: StowRequest) -> Job:
    chosen = check_stow(user, project, request)
    payload = request.model_copy(update={"series": [s.pk for s in chosen]})
    return jobs.start_job(
        JOB_KIND,
        project=project,
        user=user,
        payload=payload.model_dump(mode="json"),
        message=f"Waiting for a worker to send the masks of {len(chosen)} series to the PACS.",
    )


def originals_of(origin: PacsSeriesOrigin, attributes: dict[str, str]) -> dicom_seg.Originals:
    return dicom_seg.Originals(
        study_uid=origin.study_uid,
        series_uid=origin.series_uid,
        frame_of_reference_uid=origin.frame_of_reference_uid,
        instance_uids=dict(origin.instance_uids),
        study_attributes=attributes,
    )


Built = tuple[Series, str, hd.seg.Segmentation]  # (series, annotator, the SEG)


def build_segmentations(
    job: Job, request: StowRequest, connection: client.Connection
) -> tuple[list[Built], list[dict[str, Any]]]:
    """Every SEG to send (built in memory) and the (series, annotator, reason) left out."""
    project = project_of(job)
    labels = exports.project_labels(project.pk)
    chosen = list(
        Series.objects.filter(pk__in=request.series or [], study__project=project)
        .select_related("study", "pacs_origin")
        .order_by("study_id", "number", "id")
    )
    studies: dict[str, dict[str, str]] = {}
    built: list[Built] = []
    skipped: list[dict[str, Any]] = []
    for done, series in enumerate(chosen):
        if not report(job, 0.7 * done / len(chosen), f"Building the segmentation of {series}"):
            raise InterruptedError("cancelled")
        origin = getattr(series, "pacs_origin", None)
        if origin is None:
            skipped.append({"series": series.pk, "reason": "it did not come from this project's PACS"})
            continue
        if origin.study_uid not in studies:
            found = client.study_attributes(connection, origin.study_uid, dicom_seg.STUDY_KEYWORDS)
            if found is None:
                raise InvalidInput(
                    f"The PACS no longer has the study of {series} (series {series.pk}); nothing was sent."
                )
            studies[origin.study_uid] = found
        originals = originals_of(origin, studies[origin.study_uid])
        for masks in exports.selected_masks(series, request.annotator, masks=request.masks):
            try:
                seg = dicom_seg.segmentation(
                    series, masks.masks, labels, annotator=masks.annotator, originals=originals
                )
            except dicom_seg.NotReferenceable as exc:
                skipped.append({"series": series.pk, "annotator": masks.annotator, "reason": str(exc)})
                continue
            built.append((series, masks.annotator, seg))
    return built, skipped


def check_stored(connection: client.Connection, reply: Dataset, sent: list[Built]) -> None:
    """Every instance sent must be acknowledged by the STOW-RS reply AND then found by a search of its study;
    otherwise say how many the PACS holds and what went wrong with the others."""
    sent_uids = {str(seg.SOPInstanceUID) for _, _, seg in sent}
    acknowledged = {
        str(item.get("ReferencedSOPInstanceUID", "")) for item in reply.get("ReferencedSOPSequence") or []
    } & sent_uids
    by_study: dict[str, list[str]] = {}
    for _, _, seg in sent:
        if str(seg.SOPInstanceUID) in acknowledged:
            by_study.setdefault(str(seg.StudyInstanceUID), []).append(str(seg.SOPInstanceUID))
    dropped = [
        uid for study, uids in by_study.items() for uid in client.missing_instances(connection, study, uids)
    ]
    kept = len(acknowledged) - len(dropped)
    if kept == len(sent):
        return
    problems = []
    if refused := client.describe_failures(reply):
        problems.append(refused)
    elif len(acknowledged) < len(sent):
        problems.append(f"{len(sent) - len(acknowledged)} not acknowledged by its reply")
    if dropped:
        problems.append(
            f"{len(dropped)} acknowledged but not found on it afterwards (a filter may drop them)"
        )
    raise UpstreamFailed(
        f"The PACS holds {kept} of the {len(sent)} segmentations sent: {'; '.join(problems)}. "
        + ("Those it holds stay there; fix the cause and send again." if kept else "Nothing was stored."),
        details={"reason": "refused", "stored": kept, "sent": len(sent)},
    )


def run_pacs_export_job(job_id: int) -> Job:
    """Build and send (the body of the Celery task). Safe to call twice: only one caller claims the job."""
    job = Job.objects.select_related("project").get(pk=job_id)
    if not job.claim():
        return job
    push_progress(job)
    try:
        request = StowRequest.model_validate(job.payload)
        connection = connection_of(source_of(project_of(job)))
        built, skipped = build_segmentations(job, request, connection)
        if not built:
            reasons = sorted({s["reason"] for s in skipped}) or ["there are no masks on these series"]
            raise InvalidInput(f"Nothing to send: {'; '.join(reasons)}.")
        if not report(job, 0.8, f"Sending {len(built)} segmentations to the PACS"):
            raise InterruptedError("cancelled")
        reply = client.store(connection, [seg for _, _, seg in built])
        check_stored(connection, reply, built)
        message = f"Sent {len(built)} segmentation{'s' if len(built) != 1 else ''} to the PACS." + (
            f" {len(skipped)} left out: {'; '.join(sorted({s['reason'] for s in skipped}))}."
            if skipped
            else ""
        )
        result = {
            "sent": [{"series": s.pk, "annotator": who} for s, who, _ in built],
            "skipped": skipped,
            "summary": message,
        }
        with transaction.atomic():
            # A cancel that arrives while the request is on its way cannot unsend it: the job then stays
            # cancelled, and its SEGs are on the PACS.
            job.finish(result, message=message)
            push_progress(job)
    except InterruptedError:
        job.refresh_from_db()
    except DomainError as exc:
        job.fail(exc.message)
        push_progress(job)
    except Exception as exc:  # noqa: BLE001 - the job must end failed, with the cause logged
        log.exception("PACS export job %s failed", job.pk)
        job.fail(f"Sending to the PACS failed unexpectedly ({type(exc).__name__}).")
        push_progress(job)
    return job
