"""Seed a live stack's database with a project, a label and a real CT series (run inside `manage.py shell`).

The series is the pyradiomics lung1 CT (512×512, with its nodule label map); only a few slices around the
nodule are stored, to keep the encoder work of integration tests small.
"""

from __future__ import annotations

import json

import nrrd
import numpy as np

from annotator.imaging.volumes import save_array, series_folder
from annotator.imaging.windows import CT_PRESETS
from annotator.models import Label, Membership, Project, Role, Series, Study
from scripts.fetch_data import pyradiomics


def lung_slices(count: int = 5) -> tuple[np.ndarray, np.ndarray, int]:
    """(Z, Y, X) int16 HU, the matching label map, and the index of the nodule's largest slice in them:
    ``count`` axial slices around the nodule (as centred as the volume allows)."""
    data = pyradiomics()
    image, _ = nrrd.read(str(data / "lung1_image.nrrd"))
    labels, _ = nrrd.read(str(data / "lung1_label.nrrd"))
    image, labels = image.transpose(2, 1, 0), labels.transpose(2, 1, 0)  # (x, y, z) → (z, y, x)
    areas = (labels > 0).reshape(labels.shape[0], -1).sum(axis=1)
    centre = int(np.argmax(areas))
    count = min(count, image.shape[0])
    lo = min(max(0, centre - count // 2), image.shape[0] - count)
    return image[lo : lo + count].astype(np.int16), (labels[lo : lo + count] > 0), centre - lo


def main(usernames: list[str], slices: int = 5) -> None:
    from django.contrib.auth import get_user_model

    users = [get_user_model().objects.get(username=name) for name in usernames]
    project = Project.objects.create(name="Lung nodules", created_by=users[0])
    for n, user in enumerate(users):
        Membership.objects.create(project=project, user=user, role=Role.OWNER if n == 0 else Role.ANNOTATOR)
    label = Label.objects.create(
        project=project, name="nodule", value=1, color="#e6194b", window_preset="lung"
    )
    volume, reference, centre = lung_slices(slices)
    study = Study.objects.create(project=project, uid="2.25.1001", source="nrrd")
    name, digest = save_array(f"{series_folder(project.id)}/volume.npy", volume)
    series = Series.objects.create(
        study=study,
        uid="2.25.1002",
        kind="volume",
        modality="CT",
        shape=list(volume.shape),
        spacing=[2.5, 0.7, 0.7],
        affine=np.eye(4).tolist(),
        dtype="int16",
        num_slices=volume.shape[0],
        window_presets=CT_PRESETS,
        default_window="soft_tissue",
        content_hash=digest,
        volume=name,
    )
    ys, xs = np.nonzero(reference[centre])
    print(
        json.dumps(
            {
                "project": project.id,
                "label": label.id,
                "series": series.id,
                "slice": centre,
                "slices": int(volume.shape[0]),
                "box": [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1],
                "reference_rle": {"size": list(reference.shape[1:]), "ys": ys.tolist(), "xs": xs.tolist()},
            }
        )
    )
