"""Jobs whose worker died, and storage that would otherwise grow for ever.

``reap_stale_jobs(now)``: a running job whose worker shows no sign of life (no heartbeat for
JOB_HEARTBEAT_TIMEOUT_S) is sent to a worker again when its task can start over from scratch, or failed
with the reason; a pending job nobody claimed (its message was lost, e.g. with a Redis restart) is sent
again every JOB_PENDING_RESEND_S and failed after JOB_PENDING_MAX_S. A job never stays "running" or
"pending" for ever. Re-sending is safe because every job task claims its row atomically: of two
deliveries of one job, only one runs it.

``apply_retention(now)``: export zips older than EXPORT_RETENTION_DAYS, embedding files of series that no
longer exist, and temporary folders of killed workers are removed.

Both are plain functions; every embed worker runs them on a timer (annotator/workers.py), so a deployment
needs no extra scheduler process, and several embed workers reaping at once are harmless (each change is
a conditional UPDATE that only one of them wins).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from celery import current_app as celery_app
from django.conf import settings
from django.db import transaction
from django.db.models import Q

from annotator.actions.exports import EXPORTS_FOLDER
from annotator.actions.exports import JOB_KIND as EXPORT_KIND
from annotator.actions.jobs import JOB_ROUTES, push_progress, route_for
from annotator.imaging.volumes import plane_grids
from annotator.models import Job, Series
from ml_worker import planes

log = logging.getLogger(__name__)


# Kinds whose task can start over from scratch after its worker died mid-way: imports and exports read
# their inputs (staged files, the masks) afresh and commit everything in one transaction at the end. Not
# a propagation: it streams slices to one browser socket, which has moved on long before a dead worker is
# noticed. Not the PACS jobs: a retrieve or a STOW-RS send cut off half-way is left to the user to repeat.
# Those are failed with the reason, and the user starts them again.
RESTARTABLE = frozenset({"import", EXPORT_KIND})


# Folders in the temporary directory that a job's worker removes when it ends, unless it was killed.
WORKER_TEMP_PREFIXES = ("delineate-import-", "delineate-export-")
# An orphaned file is removed only once it is this old, so a file being written right now is never touched.
ORPHAN_GRACE_S = 3600


def send_job_task(job: Job) -> None:
    """Send the job's task to its queue (annotator.actions.jobs.JOB_ROUTES) once the transaction commits."""
    route = route_for(job.kind)
    transaction.on_commit(lambda: celery_app.send_task(route.task, args=[job.pk], queue=route.queue))


def _silent_since(cutoff: datetime) -> Q:
    return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, updated_at__lt=cutoff)


def reap_stale_jobs(now: datetime, send: Callable[[Job], None] = send_job_task) -> dict[str, list[int]]:
    """Re-queue or fail every job whose worker died or whose message was lost; returns the job ids."""
    report: dict[str, list[int]] = {"requeued": [], "failed": []}
    timeout = settings.JOB_HEARTBEAT_TIMEOUT_S
    silent = now - timedelta(seconds=timeout)
    for job in Job.objects.filter(_silent_since(silent), state=Job.State.RUNNING):
        restartable = job.kind in RESTARTABLE and job.kind in JOB_ROUTES
        if restartable and job.attempts < settings.JOB_MAX_ATTEMPTS:
            message = (
                f"Its worker stopped (no sign of life for {timeout} s); queued again "
                f"(attempt {job.attempts + 1} of {settings.JOB_MAX_ATTEMPTS})."
            )
            _requeue(job, silent, message, send, report)
        else:
            tried = f" after {job.attempts} attempts" if restartable else ""
            reason = (
                f"The worker running this job stopped (no sign of life for {timeout} s){tried}: it was "
                "probably restarted or killed. Nothing of this run was kept; start the job again."
            )
            _fail(job, silent, reason, report)

    resend = now - timedelta(seconds=settings.JOB_PENDING_RESEND_S)
    give_up = now - timedelta(seconds=settings.JOB_PENDING_MAX_S)
    for job in Job.objects.filter(state=Job.State.PENDING, updated_at__lt=resend):
        if job.kind not in RESTARTABLE or job.kind not in JOB_ROUTES or job.created_at < give_up:
            waited = max(now - job.created_at, timedelta(seconds=settings.JOB_PENDING_RESEND_S))
            reason = (
                f"No worker started this job within {int(waited.total_seconds() // 60)} minutes (its "
                "message may have been lost with a Redis restart, or no worker serves its queue). "
                "Start it again."
            )
            _fail(job, resend, reason, report)
        else:
            _requeue(job, resend, "Waiting for a worker (sent again).", send, report)
    if report["requeued"] or report["failed"]:
        log.warning("reaped jobs: requeued %s, failed %s", report["requeued"], report["failed"])
    return report


def _requeue(job: Job, cutoff: datetime, message: str, send: Callable[[Job], None], report: dict) -> None:
    with transaction.atomic():
        if job.requeue_if_stale(cutoff, message):
            send(job)
            push_progress(job)
            report["requeued"].append(job.pk)


def _fail(job: Job, cutoff: datetime, reason: str, report: dict) -> None:
    with transaction.atomic():
        if job.fail_if_stale(cutoff, reason):
            push_progress(job)
            report["failed"].append(job.pk)


# Retention -----------------------------------------------------------------------------------------------
def embedding_key(content_hash: str, index: int, grid: planes.PlaneGrid | None = None) -> str:
    """The file name (without .npz) of one slice's embedding, of an axial slice or of ``grid``'s plane: the
    same key the workers store it under (annotator.inference.slice_hash; a test keeps the two equal)."""
    return planes.slice_key(content_hash, index, grid)


def live_embedding_keys() -> set[str]:
    """The keys of every slice of every plane of every series that still exists."""
    keys: set[str] = set()
    for series in Series.objects.only("content_hash", "num_slices", "shape", "spacing", "kind"):
        keys.update(embedding_key(series.content_hash, index) for index in range(max(1, series.num_slices)))
        for name, grid in plane_grids(series).items():
            if name != planes.AXIAL:
                keys.update(embedding_key(series.content_hash, index, grid) for index in range(grid.depth))
    return keys


def remove_orphan_embeddings(now: datetime) -> int:
    """Embedding files whose series no longer exists (and writers' leftover temporary files); returns
    how many files were removed."""
    root = Path(settings.EMBEDDING_DIR)
    if not root.exists():
        return 0
    live = live_embedding_keys()
    old = now.timestamp() - ORPHAN_GRACE_S
    removed = 0
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        orphan = path.suffix == ".npz" and path.stem not in live
        leftover = path.name.startswith(".") and path.suffix == ".tmp"
        try:
            if (orphan or leftover) and path.stat().st_mtime < old:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass
    return removed


def expire_exports(now: datetime) -> list[int]:
    """Remove the zips of exports finished more than EXPORT_RETENTION_DAYS ago (their job says so), and
    export folders no job refers to; returns the ids of the expired export jobs."""
    days = settings.EXPORT_RETENTION_DAYS
    cutoff = now - timedelta(days=days)
    expired = []
    for job in Job.objects.filter(kind=EXPORT_KIND, state=Job.State.DONE, finished_at__lt=cutoff):
        name = job.result.get("file") if isinstance(job.result, dict) else None
        if not name:
            continue
        _remove_media(name)
        Job.objects.filter(pk=job.pk).update(
            result={**job.result, "file": "", "expired": True},
            message=f"The export's file was removed {days} days after it was made; export again.",
        )
        expired.append(job.pk)
    folder = Path(settings.MEDIA_ROOT) / EXPORTS_FOLDER
    if folder.exists():
        wanted = {
            str(Path(name).parent)
            for name in Job.objects.filter(kind=EXPORT_KIND, state=Job.State.DONE).values_list(
                "result__file", flat=True
            )
            if name
        }
        old = now.timestamp() - ORPHAN_GRACE_S
        for entry in folder.iterdir():
            match = re.fullmatch(r"job-(\d+)", entry.name)
            if not (match and entry.is_dir()) or f"{EXPORTS_FOLDER}/{entry.name}" in wanted:
                continue
            running = Job.objects.filter(
                pk=int(match.group(1)), state__in=[Job.State.PENDING, Job.State.RUNNING]
            )
            if not running.exists() and entry.stat().st_mtime < old:
                shutil.rmtree(entry, ignore_errors=True)
    return expired


def _remove_media(name: str) -> None:
    from annotator.imaging import volumes

    volumes.delete_files([name])


def remove_stale_worker_temp(now: datetime) -> int:
    """Temporary folders of import/export workers that were killed (a live task removes its own): only
    those older than the broker's visibility timeout, which is above the longest task."""
    old = now.timestamp() - settings.CELERY_VISIBILITY_TIMEOUT_S
    removed = 0
    with os.scandir(tempfile.gettempdir()) as entries:
        for entry in entries:
            if entry.name.startswith(WORKER_TEMP_PREFIXES) and entry.is_dir(follow_symlinks=False):
                if entry.stat(follow_symlinks=False).st_mtime < old:
                    shutil.rmtree(entry.path, ignore_errors=True)
                    removed += 1
    return removed


def apply_retention(now: datetime) -> dict[str, int]:
    started = time.monotonic()
    report = {
        "exports_expired": len(expire_exports(now)),
        "embeddings_removed": remove_orphan_embeddings(now),
        "temp_folders_removed": remove_stale_worker_temp(now),
    }
    log.info("retention: %s in %.1f s", report, time.monotonic() - started)
    return report
