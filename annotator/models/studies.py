"""Studies and their series: the images and volumes that people annotate.

A series' pixels live in one ``.npy`` file under MEDIA_ROOT (see ``annotator.imaging.volumes``), always in the
canonical orientation: array axes (Z, Y, X) run towards patient Superior, Posterior and Left (DICOM LPS+), so an
axial slice shows the patient's anterior at the top and the patient's right on the image's left (radiological
convention). 2D images are stored as (1, Y, X) or, in colour, (1, Y, X, 3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings as django_settings
from django.db import models

if TYPE_CHECKING:
    from .projects import Project


class Study(models.Model):
    class Source(models.TextChoices):
        DICOM = "dicom", "DICOM"
        NIFTI = "nifti", "NIfTI"
        NRRD = "nrrd", "NRRD"
        IMAGE = "image", "Image file"

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="studies")
    # Pseudonymous: DICOM StudyInstanceUIDs are remapped on import (annotator.importing.deid).
    uid = models.CharField(max_length=64)
    description = models.CharField(max_length=200, blank=True)
    patient_pseudonym = models.CharField(max_length=32, blank=True)
    # Shifted by the patient's date offset when it comes from DICOM (never the real date).
    study_date = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "uid"], name="unique_study_uid_per_project")
        ]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.description or self.uid


class Series(models.Model):
    class Kind(models.TextChoices):
        VOLUME = "volume", "3D volume"
        IMAGE = "image", "2D image"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    uid = models.CharField(max_length=64)
    number = models.PositiveIntegerField(default=1)
    description = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    modality = models.CharField(max_length=16, default="OT")
    # Stored array shape: [Z, Y, X] or [1, Y, X, 3] for colour images.
    shape = models.JSONField()
    # Voxel size in mm as [z, y, x] (1.0 where the source does not say).
    spacing = models.JSONField()
    # 4x4 matrix from (x, y, z) voxel indices of the stored array to patient LPS millimetres.
    affine = models.JSONField()
    dtype = models.CharField(max_length=16)
    num_slices = models.PositiveIntegerField()
    # [{"name": "soft_tissue", "level": 40, "width": 400}, ...]; empty for colour images.
    window_presets = models.JSONField(default=list, blank=True)
    default_window = models.CharField(max_length=32, blank=True)
    # [min, max] of the stored intensities.
    intensity_range = models.JSONField(default=list, blank=True)
    # sha256 of the stored .npy file: part of every embedding's signature.
    content_hash = models.CharField(max_length=64)
    volume = models.FileField(max_length=255)
    # Reference label map imported with the image (same shape as the volume minus any colour axis).
    reference_labels = models.FileField(max_length=255, blank=True)
    thumbnail = models.FileField(max_length=255, blank=True)
    # A zip of the de-identified source files, only when the project keeps originals.
    originals = models.FileField(max_length=255, blank=True)
    source_format = models.CharField(max_length=16, blank=True)
    # Facts about the import a reader may need (e.g. inverted MONOCHROME1, frames converted to grey).
    import_notes = models.JSONField(default=dict, blank=True)
    # The source's grid before reorientation ({"shape": [x, y, z], "affine": 4x4 LPS}) and, for DICOM, the
    # de-identified UIDs of the source instances per slice: what exports need to go back to the source
    # (annotator.imaging.orientation.Oriented.source). Not in the API: it can be large.
    source_header = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study_id", "number", "id"]
        verbose_name_plural = "series"
        constraints = [models.UniqueConstraint(fields=["study", "uid"], name="unique_series_uid_per_study")]

    def __str__(self) -> str:
        return self.description or f"{self.modality} series {self.number}"

    @property
    def project(self) -> Project:
        return self.study.project

    @property
    def project_id(self) -> int:
        return self.study.project_id

    @property
    def is_rgb(self) -> bool:
        return len(self.shape) == 4

    def window(self, name: str) -> dict | None:
        return next((w for w in self.window_presets if w["name"] == name), None)
