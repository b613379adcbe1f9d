"""Storing imports: a built series' files (volume, thumbnail, reference labels, originals), and the staging of
a background import's de-identified inputs under ``imports/`` in the media storage.

Every name written is appended to the caller's ``written`` list as soon as it exists, so a failure later can
delete exactly those files.
"""

from __future__ import annotations

import io
import shutil
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from pydicom.dataset import Dataset

from annotator.imaging import render, volumes
from annotator.imaging.orientation import Oriented
from annotator.imaging.windows import presets_for
from annotator.importing import dicom
from annotator.importing.plan import ImportPayload, PlannedSeries, stem
from annotator.models import Project, Series

STAGING_FOLDER = "imports"


@dataclass
class Stored:
    item: PlannedSeries
    fields: dict[str, Any]
    files: list[str] = field(default_factory=list)


def store(
    project: Project,
    item: PlannedSeries,
    oriented: Oriented,
    modality: str,
    notes: dict[str, Any],
    *,
    labels: np.ndarray | None,
    originals: list[tuple[str, bytes]] | None,
    written: list[str],
) -> Stored:
    """Write the series' files (volume, thumbnail, reference labels, originals); names go into ``written``
    as they are created so a failure later can delete them."""
    array = oriented.array
    folder = volumes.series_folder(project.id)
    volume_name, digest = volumes.save_array(f"{folder}/volume.npy", array)
    written.append(volume_name)
    is_rgb = array.ndim == 4
    presets, default = presets_for(modality, array, is_rgb)
    window = next((w for w in presets if w["name"] == default), None)
    middle = array[array.shape[0] // 2]
    thumb = render.thumbnail_png(
        middle, window["level"] if window else None, window["width"] if window else None
    )
    thumb_name = volumes.storage().save(f"{folder}/thumbnail.png", ContentFile(thumb))
    written.append(thumb_name)
    labels_name = ""
    if labels is not None:
        labels_name, _ = volumes.save_array(f"{folder}/reference_labels.npy", labels)
        written.append(labels_name)
    originals_name = ""
    if originals:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for index, (name, data) in enumerate(originals):
                archive.writestr(f"{index:05d}_{stem(name)[:60]}{Path(name).suffix[:8]}", data)
        originals_name = volumes.storage().save(f"{folder}/originals.zip", ContentFile(buffer.getvalue()))
        written.append(originals_name)
    z = array.shape[0]
    fields = {
        "uid": item.series_uid,
        "number": item.series_number,
        "description": item.description[:200],
        "kind": Series.Kind.VOLUME if z > 1 else Series.Kind.IMAGE,
        "modality": modality,
        "shape": list(array.shape),
        "spacing": [round(v, 6) for v in oriented.spacing],
        "affine": [[round(float(v), 6) for v in row] for row in oriented.affine],
        "dtype": array.dtype.name,
        "num_slices": z,
        "window_presets": presets,
        "default_window": default,
        "intensity_range": [float(array.min()), float(array.max())],
        "content_hash": digest,
        "volume": volume_name,
        "thumbnail": thumb_name,
        "reference_labels": labels_name,
        "originals": originals_name,
        "source_format": item.format,
        "import_notes": {**notes, **({"plane": oriented.plane} if oriented.plane else {})},
        "source_header": oriented.source,
    }
    return Stored(item, fields)


def stage(payload: ImportPayload, datasets: dict[str, Dataset], written: list[str]) -> None:
    """Copy a planned import's inputs (DICOM as de-identified in ``datasets``) to a new staging folder and
    point ``payload`` at the staged names, so a worker can build it after the request is gone."""
    prefix = f"{STAGING_FOLDER}/{uuid.uuid4().hex}"
    store_ = volumes.storage()
    for i, item in enumerate(payload.series):
        staged = []
        for j, name in enumerate(item.files):
            if item.format == "dicom":
                data = ContentFile(dicom.to_bytes(datasets[name]))
                suffix = ".dcm"
            else:
                data = ContentFile(Path(name).read_bytes())
                suffix = ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix
            staged.append(store_.save(f"{prefix}/{i:03d}/{j:05d}{suffix}", data))
            written.append(staged[-1])
        item.files = staged
    if payload.reference_labels:
        source = Path(payload.reference_labels)
        suffix = ".nii.gz" if source.name.endswith(".nii.gz") else source.suffix
        payload.reference_labels = store_.save(
            f"{prefix}/reference{suffix}", ContentFile(source.read_bytes())
        )
        written.append(payload.reference_labels)
    payload.staging = prefix


def delete_staging(payload: ImportPayload) -> None:
    names = [name for item in payload.series for name in item.files]
    if payload.reference_labels:
        names.append(payload.reference_labels)
    volumes.delete_files([n for n in names if n.startswith(f"{STAGING_FOLDER}/")])
    store_ = volumes.storage()
    try:  # empty folders are left on filesystem storages; remove them when we can
        root = Path(store_.path(payload.staging)) if payload.staging else None
    except NotImplementedError:
        root = None
    if root is not None and root.exists():
        shutil.rmtree(root, ignore_errors=True)
