"""Masks: per (series, label, annotator) a track of immutable revisions.

A revision stores the whole binary volume of its label (compressed; masks are sparse), the slices that
changed since its parent, and, for the active-learning loop, the model's first prediction on each slice
where the model was used, beside the final mask.
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models


class MaskSource(models.TextChoices):
    MODEL = "model", "Model prediction accepted as is"
    MANUAL = "manual", "Drawn by hand"
    CORRECTED = "corrected", "Model prediction corrected by hand"
    RESTORED = "restored", "Restored from an earlier revision"
    CONSENSUS = "consensus", "Consensus of several annotators (majority vote or STAPLE)"


class MaskTrack(models.Model):
    """One line of revisions: an annotator's mask of a label on a series, or the series' consensus of that
    label (``kind`` consensus: no annotator, one per series and label; each revision's author is the
    reviewer who built it, see annotator.actions.review)."""

    class Kind(models.TextChoices):
        ANNOTATION = "annotation", "An annotator's mask"
        CONSENSUS = "consensus", "The consensus of the annotators' masks"

    series = models.ForeignKey("annotator.Series", on_delete=models.CASCADE, related_name="mask_tracks")
    label = models.ForeignKey("annotator.Label", on_delete=models.CASCADE, related_name="mask_tracks")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ANNOTATION)
    annotator = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="mask_tracks",
        null=True,
        blank=True,
    )
    head = models.OneToOneField(
        "annotator.MaskRevision", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["series", "label", "annotator"], name="one_track_per_annotator_label"
            ),
            models.UniqueConstraint(
                fields=["series", "label"],
                condition=models.Q(kind="consensus"),
                name="one_consensus_track_per_label",
            ),
            # An annotator's track names them; the consensus belongs to nobody in particular.
            models.CheckConstraint(
                condition=(models.Q(kind="annotation") & models.Q(annotator__isnull=False))
                | (models.Q(kind="consensus") & models.Q(annotator__isnull=True)),
                name="track_annotator_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        who = "consensus" if self.kind == self.Kind.CONSENSUS else f"user {self.annotator_id}"
        return f"mask of label {self.label_id} on series {self.series_id} by {who}"

    @property
    def is_consensus(self) -> bool:
        return self.kind == self.Kind.CONSENSUS


def revision_path(revision: MaskRevision, filename: str) -> str:
    track = revision.track
    owner = "consensus" if track.is_consensus else f"user-{track.annotator_id}"
    return f"masks/series-{track.series_id}/label-{track.label_id}/{owner}/{filename}"


class MaskRevision(models.Model):
    track = models.ForeignKey(MaskTrack, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    restored_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="restorations"
    )
    author = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=16, choices=MaskSource.choices)
    model_version = models.CharField(max_length=100, blank=True)
    # Compressed .npz holding "mask": bool (Z, Y, X).
    data = models.FileField(upload_to=revision_path, max_length=300)
    # Compressed .npz of the model's first prediction per slice ("z<index>": bool (Y, X)); empty if none.
    first_prediction = models.FileField(upload_to=revision_path, max_length=300, blank=True)
    changed_slices = models.JSONField(default=list)
    predicted_iou = models.JSONField(default=dict, blank=True)
    voxel_count = models.BigIntegerField(default=0)
    # Slice indices that hold any of the mask (series tiles' and task progress, without opening the file).
    mask_slices = models.JSONField(default=list, blank=True)
    # What a consensus was built from: {"method": "majority" | "staple", "revisions": {username: id}, ...}.
    inputs = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["track", "number"]
        constraints = [models.UniqueConstraint(fields=["track", "number"], name="unique_revision_number")]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"revision {self.number} of track {self.track_id}"
