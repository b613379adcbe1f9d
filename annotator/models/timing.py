"""Annotation time (issue 12): the append-only interaction log, and timing studies of assisted versus manual
annotation, whose tasks are ordinary tasks and assignments with a condition.

A timing study's cases are (series, label) pairs, each an ordinary ``Task``; each participant's run of a
case is an ``Assignment`` of that task, linked to its condition and its step in the participant's sequence
by a ``StudyTask``. The plan comes from ``annotator.timing.design`` and its seed is stored, so the
assignment can be reproduced and checked. A simulated study (``manage.py simulate_study``) is flagged and
kept out of every real study's numbers and of the model-version dashboard.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings as django_settings
from django.db import models
from django.utils import timezone

from annotator.timing.schema import EVENT_KINDS


class AppendOnlyError(Exception):
    """The interaction log is never changed or deleted row by row: it is the record of what people did."""


class InteractionEvent(models.Model):
    """One thing a person did in the viewer (or a passive fact about their work: a save, a model answer),
    with the client's time (``client_time``, from the client's clock; simulated for simulated participants)
    and the server's (``server_time``, when it was stored). Unique per (user, session, seq): a batch sent
    twice after a reconnect is stored once."""

    class Transport(models.TextChoices):
        SOCKET = "socket", "WebSocket"
        REST = "rest", "REST"
        BEACON = "beacon", "sendBeacon on pagehide"

    KIND_CHOICES: ClassVar[list[tuple[str, str]]] = [(kind, kind) for kind in EVENT_KINDS]

    user = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    project = models.ForeignKey(
        "annotator.Project", on_delete=models.CASCADE, related_name="interaction_events"
    )
    series = models.ForeignKey("annotator.Series", null=True, on_delete=models.CASCADE, related_name="+")
    label = models.ForeignKey("annotator.Label", null=True, on_delete=models.SET_NULL, related_name="+")
    assignment = models.ForeignKey(
        "annotator.Assignment", null=True, on_delete=models.SET_NULL, related_name="interaction_events"
    )
    # save events: the revision the save created
    revision = models.ForeignKey(
        "annotator.MaskRevision", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    session = models.CharField(max_length=64)
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=24, choices=KIND_CHOICES)
    client_time = models.DateTimeField()
    server_time = models.DateTimeField(default=timezone.now)
    duration_ms = models.FloatField(default=0.0)
    slice_index = models.PositiveIntegerField(null=True)
    model_version = models.CharField(max_length=100, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    transport = models.CharField(max_length=8, choices=Transport.choices)

    class Meta:
        ordering = ["user_id", "session", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["user", "session", "seq"], name="one_event_per_session_seq")
        ]
        indexes = [
            models.Index(fields=["project", "user"]),
            models.Index(fields=["series", "label", "user"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq} of session {self.session}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Interaction events are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Interaction events are never deleted one by one.")


class Condition(models.TextChoices):
    MANUAL = "manual", "Manual (no model)"
    ASSISTED = "assisted", "Assisted (with the model)"


class TimingStudy(models.Model):
    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="timing_studies")
    name = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    # The assisted condition's model (today the serving model's version string; model-version rows of the
    # active-learning work will be chosen from here later).
    model_version = models.CharField(max_length=100)
    seed = models.BigIntegerField()
    washout = models.PositiveSmallIntegerField(default=1)
    simulated = models.BooleanField(default=False)
    # The plan's report (annotator.timing.design.describe) and, for a simulated study, its parameters.
    design = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "timing studies"

    def __str__(self) -> str:
        return f"{self.name}{' (simulated)' if self.simulated else ''}"


class StudyCase(models.Model):
    """One case of a study: a series and the label to draw on it, as one task."""

    study = models.ForeignKey(TimingStudy, on_delete=models.CASCADE, related_name="cases")
    task = models.OneToOneField("annotator.Task", on_delete=models.CASCADE, related_name="study_case")
    series = models.ForeignKey("annotator.Series", on_delete=models.CASCADE, related_name="+")
    label = models.ForeignKey("annotator.Label", on_delete=models.CASCADE, related_name="+")
    index = models.PositiveIntegerField()

    class Meta:
        ordering = ["study_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["study", "series", "label"], name="one_case_per_series_label"),
            models.UniqueConstraint(fields=["study", "index"], name="unique_case_index"),
        ]

    def __str__(self) -> str:
        return f"case {self.index} of {self.study}"


class StudyTask(models.Model):
    """A participant's run of a case: their assignment, its condition and its step in their sequence."""

    study = models.ForeignKey(TimingStudy, on_delete=models.CASCADE, related_name="study_tasks")
    case = models.ForeignKey(StudyCase, on_delete=models.CASCADE, related_name="runs")
    assignment = models.OneToOneField(
        "annotator.Assignment", on_delete=models.CASCADE, related_name="study_task"
    )
    participant = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    condition = models.CharField(max_length=8, choices=Condition.choices)
    # The model the assisted condition uses; empty for manual runs.
    model_version = models.CharField(max_length=100, blank=True)
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["study_id", "participant_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["study", "participant", "position"], name="one_task_per_step"),
            models.UniqueConstraint(fields=["case", "participant"], name="each_case_once_per_participant"),
            models.CheckConstraint(
                condition=models.Q(condition="assisted") | models.Q(condition="manual", model_version=""),
                name="manual_runs_have_no_model",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant} on {self.case} ({self.condition}, step {self.position + 1})"
