"""Model versions of a project (active learning, issue 11), and the model's doubt about the cases in its queue.

A project starts on the base model (LiteMedSAM, version 0). Each fine-tuning run makes a *candidate* from the
active version (its parent), with the training cases it used, the recipe, the loss curve, the checkpoint's
SHA-256 and path under MODEL_DIR, and the held-out metrics of the candidate and of the active version on the
same cases. A candidate is *promoted* (it becomes the active version) only when the project's rule says it is
better, or *rejected*; a promoted version can be *rolled back*, which makes the version it replaced active
again, exact checkpoint hash and all.

Exactly one version of a project is active at a time (a conditional unique constraint); promotion and
rollback move that flag in one transaction (annotator/actions/model_versions.py).
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models


class ModelVersion(models.Model):
    class State(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        PROMOTED = "promoted", "Promoted"
        REJECTED = "rejected", "Rejected"
        ROLLED_BACK = "rolled_back", "Rolled back"

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="model_versions")
    # 0 for the base model, then 1, 2, ... per project in order of creation.
    number = models.PositiveIntegerField()
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # The version that was active when this one was promoted: what a rollback makes active again.
    replaced = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.CANDIDATE)
    active = models.BooleanField(default=False)
    model_name = models.CharField(max_length=64)
    # The checkpoint: a path relative to MODEL_DIR for trained versions, absolute for the base model (the
    # registry's file); the file's SHA-256 and its image encoder's (what cached embeddings depend on).
    checkpoint = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64)
    encoder_sha256 = models.CharField(max_length=64, blank=True)
    job = models.ForeignKey(
        "annotator.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions"
    )
    # What it was trained on: the case ids, the held-out case ids, and how masks were chosen.
    training = models.JSONField(default=dict, blank=True)
    # Recipe and hyper-parameters (ml_worker.training.trainer.Recipe.to_dict() plus over-sampling).
    recipe = models.JSONField(default=dict, blank=True)
    # Per step: epoch, step, loss (and parts); per epoch: validation Dice per click.
    loss_curve = models.JSONField(default=list, blank=True)
    validation_curve = models.JSONField(default=list, blank=True)
    # Held-out summaries of this version and of the active version on the same cases, in one run:
    # {"candidate": {...}, "active": {...}, "active_version": id, "cases": n}; and the rule's decision.
    metrics = models.JSONField(default=dict, blank=True)
    decision = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    promoted_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rolled_back_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="unique_model_version_number"),
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(active=True), name="one_active_model_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} v{self.number} of project {self.project_id} ({self.state})"

    @property
    def is_base(self) -> bool:
        return self.parent_id is None

    @property
    def version_string(self) -> str:
        """What saved masks record as their model (``ml_worker.sam.build.model_version``)."""
        return f"{self.model_name}@{self.sha256[:12]}"


class QueueScore(models.Model):
    """How much the active model doubts a task of the queue, by one strategy (higher: offer it sooner).
    Computed by a background job (annotator/learning/queue.py) after a promotion or on request; the "Next
    case" ordering of the strategy reads them (annotator/actions/queue_scores.py)."""

    task = models.ForeignKey("annotator.Task", on_delete=models.CASCADE, related_name="queue_scores")
    strategy = models.CharField(max_length=32)
    score = models.FloatField()
    version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="queue_scores"
    )
    slice_index = models.IntegerField(default=0)
    # Where the box came from: reference labels, a saved mask, or the image centre.
    box_source = models.CharField(max_length=16, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "strategy"], name="one_score_per_strategy")]

    def __str__(self) -> str:
        return f"{self.strategy} score {self.score:.3f} of task {self.task_id}"
