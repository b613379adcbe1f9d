"""Review: comments pinned to a slice and a position of a case, and the revisions a reviewer approved.

A comment belongs to one assignment (one annotator's copy of a task): the reviewers and owners of the
project write them, the annotator of the assignment reads them and answers; nobody else sees them (several
annotators of one task must not read each other's reviews). Where it is pinned is in the series' image
pixels: ``slice_index`` and ``x``/``y`` (column, row), all three or none.

An approval records, per label of the task, the head revision of the annotator's mask at that moment:
later saves do not change what was approved (``annotator.actions.review.approved_masks``).
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models

MAX_COMMENT_CHARS = 2000


class ReviewComment(models.Model):
    assignment = models.ForeignKey("annotator.Assignment", on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=MAX_COMMENT_CHARS)
    label = models.ForeignKey(
        "annotator.Label", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    slice_index = models.PositiveIntegerField(null=True, blank=True)
    x = models.FloatField(null=True, blank=True)
    y = models.FloatField(null=True, blank=True)
    # True for the comment that came with "request changes" (the reason the case went back).
    requests_changes = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(slice_index__isnull=True, x__isnull=True, y__isnull=True)
                    | models.Q(slice_index__isnull=False, x__isnull=False, y__isnull=False)
                ),
                name="comment_pinned_all_or_nothing",
            )
        ]

    def __str__(self) -> str:
        return f"comment {self.pk} on assignment {self.assignment_id}"


class ApprovedRevision(models.Model):
    """The revision of one label's mask that a reviewer approved with an assignment."""

    assignment = models.ForeignKey(
        "annotator.Assignment", on_delete=models.CASCADE, related_name="approved_revisions"
    )
    label = models.ForeignKey("annotator.Label", on_delete=models.CASCADE, related_name="+")
    revision = models.ForeignKey("annotator.MaskRevision", on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    approved_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["assignment_id", "label_id"]
        constraints = [
            models.UniqueConstraint(fields=["assignment", "label"], name="one_approval_per_assignment_label")
        ]

    def __str__(self) -> str:
        return f"revision {self.revision_id} approved with assignment {self.assignment_id}"
