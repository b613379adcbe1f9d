from __future__ import annotations

import numpy as np
import pytest

from annotator.imaging.volumes import save_array, series_folder
from annotator.imaging.windows import CT_PRESETS
from annotator.models import Label, Series, Study


def make_series(project, volume: np.ndarray, *, modality: str = "CT", kind: str = "volume") -> Series:
    study = Study.objects.create(project=project, uid=f"2.25.{Study.objects.count() + 1}", source="nifti")
    name, digest = save_array(f"{series_folder(project.id)}/volume.npy", volume)
    return Series.objects.create(
        study=study,
        uid=f"2.25.9{Series.objects.count() + 1}",
        kind=kind,
        modality=modality,
        shape=list(volume.shape),
        spacing=[2.0, 1.0, 1.0],
        affine=np.eye(4).tolist(),
        dtype=str(volume.dtype),
        num_slices=volume.shape[0],
        window_presets=CT_PRESETS,
        default_window="soft_tissue",
        content_hash=digest,
        volume=name,
    )


@pytest.fixture
def series(personas):
    volume = np.zeros((4, 8, 8), dtype=np.int16)
    return make_series(personas.project, volume)


@pytest.fixture
def label(personas):
    return Label.objects.create(project=personas.project, name="liver", value=1, color="#ff0000")
