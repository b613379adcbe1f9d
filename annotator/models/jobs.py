"""A generic long-running job: a row with a state machine, progress and a human-readable outcome.

Any concern may run jobs (imports, batch embedding, propagation, fine-tuning, export): ``kind`` says which,
``payload`` holds its typed input and ``result`` its output. State changes go through the methods below, which
use conditional UPDATEs so two workers can never both claim the same job.

A running job's worker proves it is alive through ``heartbeat_at`` (claim, progress and a heartbeat thread
beside the task update it), so a job whose worker died can be told from a slow one and reaped
(annotator/actions/reaper.py). A job whose payload names a ``staging`` folder (the convention staged imports
use: a media-relative path under ``imports/``) has that folder removed as soon as it reaches a final state,
whoever moves it there (its worker, a cancel, the reaper).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

log = logging.getLogger(__name__)

# Payload folders a final job may remove: media-relative, one level under these roots.
STAGING_ROOTS = ("imports",)


def staging_folder(payload: dict) -> Path | None:
    """The staging folder named by a job payload, inside MEDIA_ROOT, or None (absent or not a staging path)."""
    name = payload.get("staging") if isinstance(payload, dict) else None
    if not isinstance(name, str) or not name:
        return None
    parts = Path(name).parts
    if len(parts) != 2 or parts[0] not in STAGING_ROOTS or parts[1] in ("", ".", ".."):
        return None
    return Path(django_settings.MEDIA_ROOT) / parts[0] / parts[1]


def remove_staging(payload: dict) -> None:
    folder = staging_folder(payload)
    if folder is not None and folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
        log.info("removed the staging folder %s", folder)


class Job(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (State.DONE, State.FAILED, State.CANCELLED)

    kind = models.CharField(max_length=32)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="jobs"
    )
    project = models.ForeignKey(
        "annotator.Project", on_delete=models.CASCADE, null=True, blank=True, related_name="jobs"
    )
    payload = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Last sign of life of the worker running the job (claim, progress, the heartbeat thread).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # How many times a worker claimed the job, and how many times the reaper sent its task again.
    attempts = models.PositiveSmallIntegerField(default=0)
    requeues = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "state"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__gte=0.0) & models.Q(progress__lte=1.0), name="job_progress_0_1"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED

    def _move(self, from_states: Iterable[str], *, where: models.Q | None = None, **changes: Any) -> bool:
        """Apply ``changes`` only if the row is still in one of ``from_states`` (and matches ``where``);
        refresh self either way. Reaching a final state removes the payload's staging folder."""
        changes.setdefault("updated_at", timezone.now())
        rows = Job.objects.filter(pk=self.pk, state__in=list(from_states))
        if where is not None:
            rows = rows.filter(where)
        moved = rows.update(**changes) == 1
        self.refresh_from_db()
        if moved and changes.get("state") in self.FINISHED and staging_folder(self.payload) is not None:
            payload = dict(self.payload)
            transaction.on_commit(lambda: remove_staging(payload))
        return moved

    def claim(self) -> bool:
        """pending → running. False when another worker got it first or it was cancelled."""
        now = timezone.now()
        return self._move(
            [self.State.PENDING],
            state=self.State.RUNNING,
            started_at=now,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
        )

    def set_progress(self, progress: float, message: str = "") -> bool:
        """Record progress of a running job; False once the job was cancelled (the worker should stop)."""
        progress = min(1.0, max(0.0, float(progress)))
        return self._move(
            [self.State.RUNNING], progress=progress, message=message[:300], heartbeat_at=timezone.now()
        )

    def heartbeat(self) -> bool:
        """The worker is alive: record it without touching anything else. False when no longer running."""
        return (
            Job.objects.filter(pk=self.pk, state=self.State.RUNNING).update(heartbeat_at=timezone.now()) == 1
        )

    def stale(self, cutoff: datetime) -> models.Q:
        """Rows of this job whose last sign of life is older than ``cutoff``."""
        return models.Q(heartbeat_at__lt=cutoff) | models.Q(heartbeat_at__isnull=True, updated_at__lt=cutoff)

    def fail_if_stale(self, cutoff: datetime, error: str) -> bool:
        """running or pending → failed, only if the job still shows no sign of life since ``cutoff``."""
        return self._move(
            [self.State.PENDING, self.State.RUNNING],
            where=self.stale(cutoff),
            state=self.State.FAILED,
            error=error,
            message="Failed.",
            finished_at=timezone.now(),
        )

    def requeue_if_stale(self, cutoff: datetime, message: str) -> bool:
        """running or pending → pending again, to be sent to a worker once more; only if still stale."""
        return self._move(
            [self.State.PENDING, self.State.RUNNING],
            where=self.stale(cutoff),
            state=self.State.PENDING,
            progress=0.0,
            message=message[:300],
            heartbeat_at=None,
            requeues=F("requeues") + 1,
        )

    def finish(self, result: dict | None = None, message: str = "") -> bool:
        return self._move(
            [self.State.RUNNING],
            state=self.State.DONE,
            progress=1.0,
            result=result or {},
            message=message[:300],
            finished_at=timezone.now(),
        )

    def fail(self, error: str) -> bool:
        return self._move(
            [self.State.PENDING, self.State.RUNNING],
            state=self.State.FAILED,
            error=error,
            message="Failed.",
            finished_at=timezone.now(),
        )

    def cancel(self) -> bool:
        return self._move(
            [self.State.PENDING, self.State.RUNNING],
            state=self.State.CANCELLED,
            message="Cancelled.",
            finished_at=timezone.now(),
        )

    def as_event(self) -> dict:
        """The JSON-safe view of the job pushed to browsers and returned by the API."""
        return {
            "id": self.pk,
            "kind": self.kind,
            "state": self.state,
            "progress": round(self.progress, 4),
            "message": self.message,
            "error": self.error,
            "project": self.project_id,
            "result": self.result,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }
