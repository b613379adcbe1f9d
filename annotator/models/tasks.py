"""Annotation tasks and their per-annotator assignments.

A task is one case to annotate: a series and the labels wanted. Each annotator it is given to gets an
``Assignment``: their own independent copy of the work, with its own review state. A task with fewer
assignments than the project's annotations per task (``annotator.visibility.annotations_per_task``, 1 by
default) is open: any annotator of the project who has no copy of it yet may take it from their queue.

Assignment states::

    todo ──start──▶ in_progress ──submit──▶ submitted ──approve──▶ approved
                         ▲                      │
                         └──start── returned ◀──┘ send back: "changes requested" (with a comment)
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models


class Task(models.Model):
    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="tasks")
    series = models.ForeignKey("annotator.Series", on_delete=models.CASCADE, related_name="tasks")
    labels = models.ManyToManyField("annotator.Label", related_name="tasks", blank=True)
    # Higher first in the default queue ordering.
    priority = models.IntegerField(default=0)
    instructions = models.TextField(blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-priority", "id"]

    def __str__(self) -> str:
        return f"task {self.pk} on series {self.series_id}"


class Assignment(models.Model):
    class State(models.TextChoices):
        TODO = "todo", "Not started"
        IN_PROGRESS = "in_progress", "In progress"
        SUBMITTED = "submitted", "Submitted"
        APPROVED = "approved", "Approved"
        RETURNED = "returned", "Changes requested"

    # Which states may follow which: the one statement of the review workflow.
    TRANSITIONS = {
        "start": ({State.TODO, State.RETURNED}, State.IN_PROGRESS),
        "submit": ({State.IN_PROGRESS}, State.SUBMITTED),
        "approve": ({State.SUBMITTED}, State.APPROVED),
        "send_back": ({State.SUBMITTED}, State.RETURNED),
    }

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.TODO)
    review_comment = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["task_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "annotator"], name="one_assignment_per_annotator")
        ]

    def __str__(self) -> str:
        return f"{self.annotator} on {self.task} ({self.state})"
