"""Building planned series: decoding their files into canonical (Z, Y, X) volumes, then storing them.

The files are read through ``Inputs``: the request's temporary folder (``LocalInputs``, DICOM already parsed and
de-identified in memory) or the staging storage of a background import (``StagedInputs``).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from annotator.errors import DomainError, InvalidInput
from annotator.imaging import volumes
from annotator.imaging.orientation import Oriented
from annotator.importing import dicom, formats, storage
from annotator.importing.plan import ImportPayload, PlannedSeries
from annotator.importing.refusals import Refusal
from annotator.models import Project

log = logging.getLogger(__name__)

Progress = Callable[[int, int], bool | None]


class Inputs:
    """Where a planned series' files are read from: the request's folder, or the staging storage."""

    def dataset(self, name: str) -> Dataset:
        raise NotImplementedError

    def path(self, name: str) -> Path:
        raise NotImplementedError

    def original(self, item: PlannedSeries, name: str) -> bytes:
        raise NotImplementedError


class LocalInputs(Inputs):
    def __init__(self, datasets: dict[str, Dataset]) -> None:
        self.datasets = datasets

    def dataset(self, name: str) -> Dataset:
        return self.datasets[name]

    def path(self, name: str) -> Path:
        return Path(name)

    def original(self, item: PlannedSeries, name: str) -> bytes:
        return dicom.to_bytes(self.datasets[name]) if item.format == "dicom" else Path(name).read_bytes()


class StagedInputs(Inputs):
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def _bytes(self, name: str) -> bytes:
        with volumes.storage().open(name, "rb") as handle:
            return handle.read()

    def dataset(self, name: str) -> Dataset:
        return dicom.read(self._bytes(name), name.rsplit("/", 1)[-1], sniffed=True)

    def path(self, name: str) -> Path:
        local = self.workdir / name.replace("/", "_")
        if not local.exists():
            with volumes.storage().open(name, "rb") as src, open(local, "wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
        return local

    def original(self, item: PlannedSeries, name: str) -> bytes:
        return self._bytes(name)


def build(
    item: PlannedSeries, inputs: Inputs, progress: Progress | None = None
) -> tuple[Oriented, str, dict]:
    """Decode a planned series into a canonical array: (Oriented, modality, notes)."""
    if item.format == "dicom":
        # Errors name the file by its place in the series, never by a local or staged path.
        files = [(f"{item.name}, file {k}", inputs.dataset(name)) for k, name in enumerate(item.files, 1)]
        built = dicom.build(files, progress)
        return built.oriented, item.modality or built.modality, built.notes
    path = inputs.path(item.files[0])
    reader = {"nifti": formats.read_nifti, "nrrd": formats.read_nrrd, "image": formats.read_image}[
        item.format
    ]
    oriented = reader(path, item.name)
    if progress is not None and progress(1, 1) is False:
        raise InterruptedError("cancelled")
    return oriented, item.modality or guess_modality(item.format, oriented.array), {}


def guess_modality(fmt: str, array: np.ndarray) -> str:
    """Volumes holding air at about -1000 are CT in Hounsfield units; anything else stays OT unless the
    uploader says otherwise (the ``modality`` field)."""
    if fmt in ("nifti", "nrrd") and array.dtype.kind in "iu" and array.ndim == 3 and int(array.min()) <= -900:
        return "CT"
    return "OT"


def build_reference(path: Path, fmt: str, name: str, image: Oriented) -> np.ndarray:
    reader = formats.read_nifti if fmt == "nifti" else formats.read_nrrd
    labels = reader(path, name)
    if labels.array.shape != image.array.shape[:3] or not np.allclose(labels.affine, image.affine, atol=1e-2):
        raise InvalidInput(
            f"{name}: the label map does not line up with its image (different grid or orientation)."
        )
    values = labels.array
    if values.dtype.kind == "f":
        if not np.all(np.mod(values, 1) == 0):
            raise InvalidInput(f"{name}: a label map must hold whole numbers.")
    if values.min() < 0 or values.max() > 65535:
        raise InvalidInput(f"{name}: label values must lie in 0..65535.")
    return values.astype(np.uint8 if values.max() <= 255 else np.uint16)


def build_and_store(
    project: Project,
    payload: ImportPayload,
    inputs: Inputs,
    reference_path: Path | None,
    written: list[str],
    on_progress: Callable[[float, str], bool] | None = None,
    refused: list[Refusal] | None = None,
) -> list[storage.Stored]:
    """Build and store every series of ``payload``; the stored names go into ``written`` as they are made.

    With ``refused`` a series that cannot be built is listed there (as ``item.uploaded_as`` when known,
    else by its stored description), its files are deleted, and the others go on; without, it fails all.
    """
    total = max(1, sum(item.slices for item in payload.series))
    done_before = 0
    stored = []
    for item in payload.series:
        mark = len(written)
        try:
            built = _build_one(
                project, payload, item, inputs, reference_path, written, on_progress, done_before, total
            )
            stored.append(built)
        except InterruptedError:
            raise
        except Exception as exc:
            if refused is None:
                raise
            volumes.delete_files(written[mark:])
            del written[mark:]
            if not isinstance(exc, DomainError):  # a decoder's own failure: logged, described plainly
                log.exception("building %s failed", item.name)
                exc = InvalidInput(f"{item.name}: the files could not be read ({type(exc).__name__}).")
            refused.append(Refusal.of(item.uploaded_as or item.name, exc, named=item.name))
        done_before += item.slices
    return stored


def _build_one(
    project: Project,
    payload: ImportPayload,
    item: PlannedSeries,
    inputs: Inputs,
    reference_path: Path | None,
    written: list[str],
    on_progress: Callable[[float, str], bool] | None,
    done_before: int,
    total: int,
) -> storage.Stored:
    def progress(done: int, count: int) -> bool:
        if on_progress is None:
            return True
        fraction = 0.9 * (done_before + item.slices * done / max(count, 1)) / total
        return on_progress(fraction, f"Reading {item.name}")

    oriented, modality, notes = build(item, inputs, progress)
    labels = None
    if reference_path is not None and payload.reference_labels_format:
        labels = build_reference(
            reference_path, payload.reference_labels_format, "reference labels", oriented
        )
    originals = (
        [(name, inputs.original(item, name)) for name in item.files] if payload.keep_originals else None
    )
    return storage.store(
        project, item, oriented, modality, notes, labels=labels, originals=originals, written=written
    )
