"""Seed a live stack for the team-workflow browser tests (run inside `manage.py shell`).

A project "Lung nodules (team)" with an owner, two annotators and a reviewer, the label "nodule", and two real
CT series of three lung1 slices each (scripts/seed_lung.py): series A is left for the test to create tasks on;
series B has a task whose two copies are submitted with known masks on the middle slice: two 20×20 squares
offset by 5 pixels each way, so they share 15×15 pixels and their Dice is 2·225 / (400 + 400) = 0.5625.
Prints the ids as JSON on its last line.
"""

from __future__ import annotations

import json

import numpy as np

from annotator.actions.masks import SaveRequest, do_save_revision
from annotator.models import Assignment, Label, Membership, Project, Role, Study, Task
from scripts.seed_lung import ct_series, lung_slices

SQUARE = 20
OFFSET = 5


def square(shape: tuple[int, int], x0: int, y0: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[y0 : y0 + SQUARE, x0 : x0 + SQUARE] = True
    return mask


def main(owner: str, annotators: list[str], reviewer: str) -> None:
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    project = Project.objects.create(name="Lung nodules (team)", created_by=users.get(username=owner))
    roles = {owner: Role.OWNER, reviewer: Role.REVIEWER, **dict.fromkeys(annotators, Role.ANNOTATOR)}
    for name, role in roles.items():
        Membership.objects.create(project=project, user=users.get(username=name), role=role)
    label = Label.objects.create(
        project=project, name="nodule", value=1, color="#e6194b", window_preset="lung", position=1
    )
    volume, _, _ = lung_slices(3)
    made = []
    for letter in "AB":
        study = Study.objects.create(project=project, uid=f"2.25.77{len(made)}", source="nrrd")
        made.append(
            ct_series(
                study,
                f"volume-{letter}.npy",
                volume,
                f"2.25.88{len(made)}",
                [2.5, 0.7, 0.7],
                description=f"Lung CT {letter}",
            )
        )
    series_a, series_b = made
    middle = volume.shape[0] // 2
    task = Task.objects.create(project=project, series=series_b, instructions="Outline the nodule.")
    task.labels.set([label])
    copies = {}
    x0, y0 = 240, 240
    for n, name in enumerate(annotators[:2]):
        user = users.get(username=name)
        copies[name] = Assignment.objects.create(
            task=task, annotator=user, state=Assignment.State.SUBMITTED
        ).pk
        mask = square(volume.shape[1:], x0 + n * OFFSET, y0 + n * OFFSET)
        do_save_revision(user, series_b, label, Role.ANNOTATOR, SaveRequest(None, "manual", {middle: mask}))
    print(
        json.dumps(
            {
                "project": project.pk,
                "label": label.pk,
                "series_a": series_a.pk,
                "series_b": series_b.pk,
                "task_b": task.pk,
                "copies_b": copies,
                "middle": middle,
                "dice_b": 2 * (SQUARE - OFFSET) ** 2 / (2 * SQUARE**2),
                "overlap_b": (SQUARE - OFFSET) ** 2,
            }
        )
    )
