"""Seed a project for the active-learning tests (run inside `manage.py shell`, or call ``seed`` in a test).

"Lung nodules (active learning)": an owner, an annotator and a reviewer, the label "nodule" (lung window),
and two real CT series: ``slices`` axial slices around the nodule of pyradiomics lung1 and of lung2. On each
series a task whose copy the annotator saved with the nodule's reference mask (standing in for the team's
corrected mask; saved as drawn by hand, so without a first prediction), submitted, and the reviewer
approved: approved masks of a small real case, ready to train on. ``approve=False`` leaves them submitted;
``annotate=False`` leaves the copies in progress with nothing saved, for a test that annotates in the browser
(the nodule's box on each of its slices is in the printed ids).
The promotion rule is set permissive (any candidate passes) when ``permissive`` is true, so that a test of
the page can promote what a one-epoch run makes. Prints the ids as JSON on its last line.
"""

from __future__ import annotations

import json
from typing import Any

import nrrd
import numpy as np

from annotator import rle
from annotator.actions.masks import SaveRequest, do_save_revision
from annotator.actions.tasks import do_transition
from annotator.models import Assignment, Label, Membership, Project, Role, Study, Task
from scripts.fetch_data import pyradiomics
from scripts.seed_lung import box_of, ct_series


def nodule_slices(case: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(Z, Y, X) int16 HU and the nodule mask: ``count`` axial slices around the nodule's largest one."""
    data = pyradiomics()
    image, _ = nrrd.read(str(data / f"{case}_image.nrrd"))
    labels, _ = nrrd.read(str(data / f"{case}_label.nrrd"))
    image, labels = image.transpose(2, 1, 0), labels.transpose(2, 1, 0)  # (x, y, z) → (z, y, x)
    areas = (labels > 0).reshape(labels.shape[0], -1).sum(axis=1)
    centre = int(np.argmax(areas))
    count = min(count, image.shape[0])
    lo = min(max(0, centre - count // 2), image.shape[0] - count)
    return image[lo : lo + count].astype(np.int16), labels[lo : lo + count] > 0


def seed(
    owner: Any,
    annotator: Any,
    reviewer: Any,
    *,
    slices: int = 3,
    approve: bool = True,
    annotate: bool = True,
    permissive: bool = True,
    epochs: int = 1,
) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if permissive:
        settings["active_learning"] = {
            "promotion": {"dsc_margin": -1.0, "click_margin": -1.0},
            "recipe": {"max_epochs": epochs, "batch_size": 2, "max_clicks": 2},
        }
    project = Project.objects.create(
        name="Lung nodules (active learning)", created_by=owner, settings=settings
    )
    memberships = {}
    for user, role in ((owner, Role.OWNER), (annotator, Role.ANNOTATOR), (reviewer, Role.REVIEWER)):
        memberships[role] = Membership.objects.create(project=project, user=user, role=role)
    label = Label.objects.create(
        project=project, name="nodule", value=1, color="#e6194b", window_preset="lung", position=1
    )
    made = []
    for n, case in enumerate(("lung1", "lung2")):
        volume, reference = nodule_slices(case, slices)
        study = Study.objects.create(project=project, uid=f"2.25.9911{n}", source="nrrd")
        series = ct_series(
            study, f"{case}.npy", volume, f"2.25.9922{n}", [2.5, 0.7, 0.7], description=f"Lung CT ({case})"
        )
        task = Task.objects.create(project=project, series=series, instructions="Outline the nodule.")
        task.labels.set([label])
        copy = Assignment.objects.create(task=task, annotator=annotator, state=Assignment.State.IN_PROGRESS)
        painted = {z: reference[z] for z in range(volume.shape[0]) if reference[z].any()}
        if annotate:
            do_save_revision(annotator, series, label, Role.ANNOTATOR, SaveRequest(None, "manual", painted))
            do_transition(annotator, memberships[Role.ANNOTATOR], copy, "submit")
            if approve:
                do_transition(reviewer, memberships[Role.REVIEWER], copy, "approve")
        made.append(
            {
                "series": series.pk,
                "task": task.pk,
                "assignment": copy.pk,
                "slices": sorted(painted),
                "boxes": {str(z): box_of(mask) for z, mask in painted.items()},
                "references": {str(z): rle.encode(mask) for z, mask in painted.items()},
            }
        )
    return {"project": project.pk, "label": label.pk, "series": made}


def main(
    owner: str, annotator: str, reviewer: str, slices: int = 3, epochs: int = 1, annotate: bool = True
) -> None:
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    ids = seed(
        users.get(username=owner),
        users.get(username=annotator),
        users.get(username=reviewer),
        slices=slices,
        epochs=epochs,
        annotate=annotate,
    )
    print(json.dumps(ids))
