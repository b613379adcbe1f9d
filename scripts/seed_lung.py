"""Seed a live stack's database with a project, a label and a real CT series (run inside `manage.py shell`).

The series is the pyradiomics lung1 CT (512×512, with its nodule label map); only a few slices around the
nodule are stored, to keep the encoder work of integration tests small. The printed JSON carries the
nodule's reference mask of the central slice (``reference_rle``) and of every slice that holds it
(``references``: slice index → RLE).

Options for the viewer's browser tests: ``image2d`` also stores a 2D 2048×2048 image, the nodule's central
CT slice upsampled 4× (bilinear intensities, nearest-neighbour reference), so the large-image path runs on
real anatomy with a known answer; ``soft_tissue_label`` adds a second label whose model window is the soft
tissue preset (its embeddings are separate from the nodule label's lung-window ones).
"""

from __future__ import annotations

import json

import nrrd
import numpy as np
from scipy import ndimage

from annotator import rle
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


def lung_spacing() -> list[float]:
    """The lung1 CT's voxel size in mm as (z, y, x), from its NRRD header: 5 mm slices of 0.57 mm pixels."""
    header = nrrd.read_header(str(pyradiomics() / "lung1_image.nrrd"))
    steps = np.abs(np.asarray(header["space directions"], dtype=np.float64)).max(axis=0)
    return [round(float(v), 6) for v in steps[::-1]]


LARGE = 2048


def upsampled_slice(
    plane: np.ndarray, reference: np.ndarray, size: int = LARGE
) -> tuple[np.ndarray, np.ndarray]:
    """A (Y, X) int16 slice resized to ``size``×``size`` (bilinear) and its reference mask (nearest)."""
    zoom = (size / plane.shape[0], size / plane.shape[1])
    image = ndimage.zoom(plane.astype(np.float32), zoom, order=1)
    mask = ndimage.zoom(reference.astype(np.uint8), zoom, order=0).astype(bool)
    return np.rint(image).astype(np.int16)[:size, :size], mask[:size, :size]


def box_of(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def ct_series(
    study: Study,
    file_name: str,
    volume: np.ndarray,
    uid: str,
    spacing: list[float],
    **fields: object,
) -> Series:
    """Store ``volume`` (Z, Y, X int16 HU) in the project's series folder and record it as a CT series of
    ``study`` with the CT window presets; ``fields`` set the rest (description, default_window, kind)."""
    name, digest = save_array(f"{series_folder(study.project_id)}/{file_name}", volume)
    values: dict[str, object] = {"kind": "volume", "default_window": "lung", **fields}
    return Series.objects.create(
        study=study,
        uid=uid,
        modality="CT",
        shape=list(volume.shape),
        spacing=spacing,
        affine=np.eye(4).tolist(),
        dtype="int16",
        num_slices=volume.shape[0],
        window_presets=CT_PRESETS,
        content_hash=digest,
        volume=name,
        **values,
    )


def main(
    usernames: list[str], slices: int = 5, image2d: bool = False, soft_tissue_label: bool = False
) -> None:
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
    series = ct_series(study, "volume.npy", volume, "2.25.1002", lung_spacing(), default_window="soft_tissue")
    ys, xs = np.nonzero(reference[centre])
    seeded = {
        "project": project.id,
        "label": label.id,
        "series": series.id,
        "slice": centre,
        "slices": int(volume.shape[0]),
        "box": box_of(reference[centre]),
        "reference_rle": {"size": list(reference.shape[1:]), "ys": ys.tolist(), "xs": xs.tolist()},
        "references": {str(z): rle.encode(reference[z]) for z in range(len(reference)) if reference[z].any()},
    }
    if soft_tissue_label:
        other = Label.objects.create(
            project=project,
            name="nodule (soft tissue)",
            value=2,
            color="#3cb44b",
            window_preset="soft_tissue",
        )
        seeded["soft_tissue_label"] = other.id
    if image2d:
        image, mask = upsampled_slice(volume[centre], reference[centre])
        flat = Study.objects.create(project=project, uid="2.25.1003", source="image")
        large = ct_series(
            flat,
            "large.npy",
            image[None],
            "2.25.1004",
            [1.0, 0.7 / 4, 0.7 / 4],
            kind="image",
            description=f"lung1 slice upsampled to {LARGE}x{LARGE}",
            default_window="soft_tissue",
        )
        seeded["image2d"] = {
            "series": large.id,
            "size": [LARGE, LARGE],
            "box": box_of(mask),
            "reference": rle.encode(mask),
        }
    print(json.dumps(seeded))
