"""Editing a project's labels after it was created: add, rename, recolour, change the model window, reorder,
remove.

A label's ``value`` (the integer written into label maps) never changes, so exports made before and after an
edit agree; the order people see is ``position``. Removing a label that has masks needs a confirmation: until
then nothing changes (the masks stay in exports); confirmed, the label is marked removed (hidden from the
project, its masks kept in the database but left out of exports and of the approved masks). A label without
masks is deleted outright.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from annotator.actions.projects import COLOR_RE, DEFAULT_COLORS
from annotator.errors import Conflict, InvalidInput
from annotator.models import Label, MaskTrack, Project
from ml_worker.windows import WINDOW_PRESETS

MAX_LABEL_NAME = 100


def check_name(project: Project, name: str, *, exclude: Label | None = None) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("A label needs a name.")
    if len(name) > MAX_LABEL_NAME:
        raise InvalidInput(f"A label name is at most {MAX_LABEL_NAME} characters.")
    taken = Label.objects.filter(project=project, name=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise InvalidInput(f"There is already a label called {name!r}.")
    return name


def check_color(color: str) -> str:
    if not COLOR_RE.match(color):
        raise InvalidInput(f"Colour {color!r} is not of the form #ff8800.")
    return color.lower()


def check_window(preset: str) -> str:
    if preset and preset not in WINDOW_PRESETS:
        raise InvalidInput(
            f"Unknown model window {preset!r}; use one of {', '.join(WINDOW_PRESETS)} or none."
        )
    return preset


@transaction.atomic
def do_add_label(project: Project, name: str, color: str = "", window_preset: str = "") -> Label:
    """A new label at the end of the list, with the next unused value (removed labels keep theirs)."""
    name = check_name(project, name)
    top = Label.all_objects.filter(project=project).aggregate(value=Max("value"), position=Max("position"))
    value = (top["value"] or 0) + 1
    color = check_color(color) if color else DEFAULT_COLORS[(value - 1) % len(DEFAULT_COLORS)]
    return Label.objects.create(
        project=project,
        name=name,
        value=value,
        color=color,
        window_preset=check_window(window_preset),
        position=(top["position"] or 0) + 1,
    )


@transaction.atomic
def do_edit_label(
    label: Label, *, name: str | None = None, color: str | None = None, window_preset: str | None = None
) -> Label:
    """Rename, recolour or change the model window of a label (its value and its masks stay)."""
    fields = []
    if name is not None:
        label.name = check_name(label.project, name, exclude=label)
        fields.append("name")
    if color is not None:
        label.color = check_color(color)
        fields.append("color")
    if window_preset is not None:
        label.window_preset = check_window(window_preset)
        fields.append("window_preset")
    if fields:
        label.save(update_fields=fields)
    return label


@transaction.atomic
def do_reorder_labels(project: Project, label_ids: list[int]) -> list[Label]:
    """Put the project's labels in the order of ``label_ids``, which must name each of them once."""
    labels = {label.pk: label for label in Label.objects.select_for_update().filter(project=project)}
    if sorted(label_ids) != sorted(labels) or len(set(label_ids)) != len(label_ids):
        raise InvalidInput("Give every label of the project once, in the new order.")
    for position, label_id in enumerate(label_ids, start=1):
        Label.objects.filter(pk=label_id).update(position=position)
    return list(Label.objects.filter(project=project))


def masks_of(label: Label) -> int:
    """How many saved masks (annotators' and consensus) there are of ``label``."""
    return MaskTrack.objects.filter(label=label, head__isnull=False).count()


@transaction.atomic
def do_remove_label(label: Label, *, confirm: bool = False) -> str:
    """Remove a label: "deleted" when it had no masks; with masks, Conflict until ``confirm``, then
    "removed" (masks kept, out of exports)."""
    count = masks_of(label)
    if not count:
        label.delete()
        return "deleted"
    if not confirm:
        raise Conflict(
            f"{label.name} has {count} saved mask{'s' if count != 1 else ''}. Removing it takes them out of "
            "exports (they stay in the database). Confirm to remove it.",
            details={"masks": count, "needs_confirmation": True},
        )
    label.removed_at = timezone.now()
    label.save(update_fields=["removed_at"])
    return "removed"
