"""Projects, their members and roles, and their label sets."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.core.validators import RegexValidator
from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="created_projects"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Project-wide options such as the default model version and the model's input window preset.
    settings = models.JSONField(default=dict, blank=True)
    members = models.ManyToManyField(
        django_settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project}"


class ActiveLabels(models.Manager["Label"]):
    """Labels in use: a removed label (its masks kept, see annotator.actions.labels) is left out everywhere a
    project's labels are listed (``project.labels``, ``Label.objects``); ``Label.all_objects`` has them all."""

    def get_queryset(self) -> models.QuerySet[Label]:
        return super().get_queryset().filter(removed_at__isnull=True)


class Label(models.Model):
    """One structure to segment. ``value`` is the integer written into label maps: it never changes, so
    exports before and after an edit agree; ``position`` is the order people see (and the 1–9 keys)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=100)
    value = models.PositiveSmallIntegerField()
    color = models.CharField(
        max_length=7, validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "Colour must look like #ff8800.")]
    )
    # The model's input window for this label (e.g. "lung"); empty means the project's default.
    window_preset = models.CharField(max_length=32, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    # Set when the owner removed a label that has masks: the masks stay in the database, out of exports.
    removed_at = models.DateTimeField(null=True, blank=True)

    all_objects = models.Manager()
    objects = ActiveLabels()

    class Meta:
        ordering = ["position", "value"]
        base_manager_name = "all_objects"
        default_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(fields=["project", "value"], name="unique_label_value"),
            models.UniqueConstraint(
                fields=["project", "name"],
                condition=models.Q(removed_at__isnull=True),
                name="unique_label_name",
            ),
            models.CheckConstraint(condition=models.Q(value__gte=1), name="label_value_positive"),
        ]

    def __str__(self) -> str:
        return self.name
