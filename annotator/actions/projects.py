"""Creating projects and managing their label sets and members."""

from __future__ import annotations

import re

from django.db import transaction

from annotator import access, visibility
from annotator.errors import InvalidInput
from annotator.importing import deid
from annotator.models import Label, Membership, Project, Role

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45"]


def check_labels(labels: list[dict]) -> list[dict]:
    cleaned: list[dict] = []
    names: set[str] = set()
    for index, raw in enumerate(labels):
        name = str(raw.get("name", "")).strip()
        if not name:
            raise InvalidInput(f"Label {index + 1} has no name.")
        if name in names:
            raise InvalidInput(f"Label name {name!r} is used twice.")
        names.add(name)
        color = str(raw.get("color") or DEFAULT_COLORS[index % len(DEFAULT_COLORS)])
        if not COLOR_RE.match(color):
            raise InvalidInput(f"Label {name!r} has colour {color!r}; use the form #ff8800.")
        cleaned.append(
            {
                "name": name,
                "color": color,
                "value": index + 1,
                "window_preset": str(raw.get("window_preset", "")),
            }
        )
    return cleaned


@transaction.atomic
def do_create_project(
    user: access.AnyUser,
    name: str,
    description: str = "",
    labels: list[dict] | None = None,
    *,
    retain_uids: bool = False,
    clean_descriptors: bool = False,
) -> Project:
    """A new project owned by ``user``. ``retain_uids`` (PS3.15 Retain UIDs Option, see
    annotator.importing.deid) is chosen here once: changing it later would give one study two sets of UIDs.
    ``clean_descriptors`` (PS3.15 Clean Descriptors Option) keeps series descriptions, cleaned; also fixed
    here, so every series of a project was de-identified alike."""
    user = access.signed_in(user)
    name = name.strip()
    if not name:
        raise InvalidInput("A project needs a name.")
    cleaned = check_labels(labels or [])
    settings = {deid.RETAIN_UIDS_SETTING: True} if retain_uids else {}
    if clean_descriptors:
        settings[deid.CLEAN_DESCRIPTORS_SETTING] = True
    project = Project.objects.create(name=name, description=description, created_by=user, settings=settings)
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    Label.objects.bulk_create([Label(project=project, **label) for label in cleaned])
    return project


@transaction.atomic
def do_update_project(
    project: Project,
    *,
    name: str | None = None,
    description: str | None = None,
    annotations_per_task: object = None,
) -> Project:
    """Change a project's name, description or annotations per task (owner). Changing the annotations per
    task changes which open tasks the pool offers and whether annotators see each other's masks
    (annotator.visibility); existing assignments stay."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    fields = []
    if name is not None:
        if not name.strip():
            raise InvalidInput("A project needs a name.")
        project.name = name.strip()
        fields.append("name")
    if description is not None:
        project.description = description
        fields.append("description")
    if annotations_per_task is not None:
        value = visibility.check_annotations_per_task(annotations_per_task)
        project.settings = {**project.settings, visibility.ANNOTATIONS_PER_TASK: value}
        fields.append("settings")
    if fields:
        project.save(update_fields=fields)
    return project
