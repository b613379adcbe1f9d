"""A project's DICOMweb source (its PACS) and what Delineate keeps about the series it came from.

Only UIDs are kept about PACS data (never names, patient IDs, dates or accession numbers): the original study,
series, frame-of-reference and instance UIDs of each imported series (so a re-import is recognised and a DICOM
SEG sent back references the images the PACS holds), and the UIDs behind the opaque handles of search results.
See docs/pacs.md.
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models


class DicomWebSource(models.Model):
    """The PACS of a project, reached over DICOMweb (QIDO-RS, WADO-RS, STOW-RS). Owner setting."""

    class Auth(models.TextChoices):
        NONE = "none", "No authentication"
        BASIC = "basic", "HTTP basic (user name and password)"
        BEARER = "bearer", "Bearer token"

    project = models.OneToOneField(
        "annotator.Project", on_delete=models.CASCADE, related_name="dicomweb_source"
    )
    # The service root, e.g. https://pacs.example.org/dicom-web (QIDO/WADO/STOW paths are appended).
    base_url = models.URLField(max_length=500)
    auth = models.CharField(max_length=8, choices=Auth.choices, default=Auth.NONE)
    username = models.CharField(max_length=150, blank=True)
    # The password (basic) or token (bearer). Server-side only: the API says whether one is set, never what.
    secret = models.CharField(max_length=4000, blank=True)
    updated_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"DICOMweb source of project {self.project_id}: {self.base_url}"


class PacsHandle(models.Model):
    """The UIDs behind an opaque handle given to the browser for one search result (a study, or a series
    when ``series_uid`` is set). Handles are HMACs, so the same result always gets the same handle."""

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="+")
    handle = models.CharField(max_length=40)
    study_uid = models.CharField(max_length=64)
    series_uid = models.CharField(max_length=64, blank=True)
    # Refreshed by every search that lists the result; old handles are dropped (annotator.actions.pacs).
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "handle"], name="unique_pacs_handle_per_project")
        ]
        indexes = [models.Index(fields=["seen_at"])]

    def __str__(self) -> str:
        return f"PACS handle {self.handle}"


class PacsSeriesOrigin(models.Model):
    """The original UIDs of a series imported from the project's PACS (UIDs only, nothing else)."""

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="+")
    series = models.OneToOneField("annotator.Series", on_delete=models.CASCADE, related_name="pacs_origin")
    study_uid = models.CharField(max_length=64)
    series_uid = models.CharField(max_length=64)
    frame_of_reference_uid = models.CharField(max_length=64, blank=True)
    # {stored (de-identified) SOP instance UID: original SOP instance UID}, for every source instance.
    instance_uids = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["project", "series_uid"])]

    def __str__(self) -> str:
        return f"origin of series {self.series_id}"
