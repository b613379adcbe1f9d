"""The database side of a simulated timing study (``manage.py simulate_study``): real cases with reference
masks (the demo CT and the other pyradiomics lesions, or any project's series with reference labels),
scripted participants as project members, and the study itself, flagged ``simulated`` so that it never
mixes with real ones (the report says so; the model-version dashboard leaves it out)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from annotator.actions import user_studies
from annotator.actions.imports import do_import
from annotator.actions.projects import do_create_project
from annotator.errors import InvalidInput
from annotator.imaging.volumes import load_reference_labels, mask_shape
from annotator.models import Membership, Project, Role, Series, TimingStudy
from annotator.simulated_participants import Case

SIMULATION_PROJECT = "Simulated timing study (pyradiomics lesions)"
OWNER = "simulation"
# The pyradiomics lesions, each with its reference label map (value 1): lung1 is the demo CT of load_demo.
IMPORTED_SETTING = "simulation_lesions"
LESIONS = [("lung1", "CT"), ("lung2", "CT"), ("brain1", "MR"), ("brain2", "MR"), ("breast1", "MR")]
# The model sees nodules through the lung window (Dice 0.85 against 0.68 with soft tissue, load_demo);
# MR series have no such preset and fall back to their own window.
LABEL = {"name": "lesion", "color": "#f58231", "window_preset": "lung"}


def owner_user() -> User:
    user, created = get_user_model().objects.get_or_create(username=OWNER)
    if created:
        user.set_unusable_password()
        user.save()
    return user


def lesions_project() -> Project:
    """The simulation's own project, with the real pyradiomics lesions imported once (idempotent)."""
    from scripts import fetch_data

    owner = owner_user()
    project = Project.objects.filter(name=SIMULATION_PROJECT, memberships__user=owner).first()
    if project is None:
        project = do_create_project(
            owner, SIMULATION_PROJECT, "Real lesions for simulated timing studies.", [LABEL]
        )
    folder = fetch_data.pyradiomics()
    # Which lesion is which series, kept in the project's settings: nothing stored names an uploaded file
    # (annotator/importing/refusals.py), so the series cannot be told apart by their descriptions.
    imported: dict[str, int] = dict(project.settings.get(IMPORTED_SETTING, {}))
    present = set(Series.objects.filter(study__project=project).values_list("pk", flat=True))
    for name, modality in LESIONS:
        if imported.get(name) in present:
            continue
        job = do_import(
            owner,
            project,
            [(f"{name}_image.nrrd", folder / f"{name}_image.nrrd")],
            reference_labels=(f"{name}_label.nrrd", folder / f"{name}_label.nrrd"),
            modality=modality,
            force_sync=True,
        )
        (imported[name],) = job.result["series"]
        project.settings = {**project.settings, IMPORTED_SETTING: imported}
        project.save(update_fields=["settings"])
    return project


def reference_cases(project: Project) -> list[Case]:
    """Every (series, label) of the project whose series' reference label map holds the label's value."""
    cases = []
    labels = list(project.labels.all())
    for series in Series.objects.filter(study__project=project).exclude(reference_labels="").order_by("id"):
        reference = load_reference_labels(series)
        if reference is None:
            continue
        reference = np.asarray(reference)
        for label in labels:
            mask = reference == label.value
            slices = {
                int(z): mask[z].copy() for z in np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))
            }
            if slices:
                _, height, width = mask_shape(series)
                cases.append(Case(series.pk, label.pk, (height, width), slices))
    return cases


@dataclass
class Simulated:
    study: TimingStudy
    participants: list[tuple[str, str]]  # username, password
    cases: list[Case]


@transaction.atomic
def do_create_simulated_study(
    project: Project, cases: Sequence[Case], participants: int, seed: int, params: dict[str, object]
) -> Simulated:
    """Fresh scripted participants (annotators named ``sim<study>-p<n>``) and the simulated study."""
    if participants < 2:
        raise InvalidInput("A simulated study needs at least two participants.")
    if not cases:
        raise InvalidInput(f"Project {project.pk} has no series with reference masks to simulate on.")
    owner = Membership.objects.filter(project=project, role=Role.OWNER).select_related("user").first()
    if owner is None:
        raise InvalidInput(f"Project {project.pk} has no owner.")
    tag = secrets.token_hex(3)
    people = []
    for n in range(participants):
        password = secrets.token_urlsafe(18)
        user = get_user_model().objects.create_user(username=f"sim{tag}-p{n + 1}", password=password)
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
        people.append((user, password))
    study = user_studies.do_create_study(
        owner.user,
        project,
        user_studies.StudyRequest(
            name=f"Simulated study {tag}",
            cases=[(c.series, c.label) for c in cases],
            participants=[user.pk for user, _ in people],
            seed=seed,
            instructions="Scripted participants (manage.py simulate_study); their times are simulated.",
            simulated=True,
            extra={"simulation": params},
        ),
    )
    return Simulated(study, [(user.get_username(), password) for user, password in people], list(cases))
