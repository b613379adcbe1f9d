"""A generic long-running job: a row with a state machine, progress and a human-readable outcome.

Any concern may run jobs (imports, batch embedding, propagation, fine-tuning, export): ``kind`` says which,
``payload`` holds its typed input and ``result`` its output. State changes go through the methods below, which
use conditional UPDATEs so two workers can never both claim the same job.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings as django_settings
from django.db import models
from django.utils import timezone


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

    def _move(self, from_states: Iterable[str], **changes: Any) -> bool:
        """Apply ``changes`` only if the row is still in one of ``from_states``; refresh self either way."""
        changes.setdefault("updated_at", timezone.now())
        moved = Job.objects.filter(pk=self.pk, state__in=list(from_states)).update(**changes) == 1
        self.refresh_from_db()
        return moved

    def claim(self) -> bool:
        """pending → running. False when another worker got it first or it was cancelled."""
        return self._move([self.State.PENDING], state=self.State.RUNNING, started_at=timezone.now())

    def set_progress(self, progress: float, message: str = "") -> bool:
        """Record progress of a running job; False once the job was cancelled (the worker should stop)."""
        progress = min(1.0, max(0.0, float(progress)))
        return self._move([self.State.RUNNING], progress=progress, message=message[:300])

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
