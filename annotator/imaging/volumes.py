"""Series pixel storage: one ``.npy`` per series under MEDIA_ROOT, written and read through Django's storage.

Dtypes: int16 for CT Hounsfield units (and any integer data that fits), uint16 for unsigned integer data
that fits, float32 otherwise, uint8 (Z, Y, X, 3) for colour. On a filesystem storage the file is opened with
``mmap`` so reading one slice of a 200-slice volume touches only that slice's pages.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import TYPE_CHECKING

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage

if TYPE_CHECKING:
    from annotator.models import Series

from ml_worker import planes

if TYPE_CHECKING:
    from annotator.models import Series


def storage() -> Storage:
    return default_storage


def series_folder(project_id: int) -> str:
    return f"projects/{project_id}/series/{uuid.uuid4().hex}"


def mask_shape(series: Series) -> tuple[int, int, int]:
    """The (Z, Y, X) shape of a label map of ``series``: the stored array is (Z, Y, X) or, for a colour
    image, (1, Y, X, 3), so the first three axes are always the label map's."""
    depth, height, width = (int(v) for v in series.shape[:3])
    return depth, height, width


def narrowest_dtype(lo: float, hi: float, integral: bool) -> np.dtype:
    """The stored dtype for values in [lo, hi]: int16, then uint16, else float32."""
    if integral and lo >= -32768 and hi <= 32767:
        return np.dtype(np.int16)
    if integral and lo >= 0 and hi <= 65535:
        return np.dtype(np.uint16)
    return np.dtype(np.float32)


def save_array(name: str, array: np.ndarray) -> tuple[str, str]:
    """Store ``array`` as ``name`` (.npy); returns (stored name, sha256 of the file)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    data = buffer.getbuffer()
    digest = hashlib.sha256(data).hexdigest()
    stored = storage().save(name, ContentFile(bytes(data)))
    return stored, digest


def open_array(name: str) -> np.ndarray:
    """The stored array; memory-mapped (read-only) when the storage is a local filesystem."""
    store = storage()
    try:
        path = store.path(name)
    except NotImplementedError:
        with store.open(name, "rb") as handle:
            return np.load(io.BytesIO(handle.read()), allow_pickle=False)
    return np.load(path, mmap_mode="r", allow_pickle=False)


def load_volume(series: Series) -> np.ndarray:
    """The whole series in canonical orientation: (Z, Y, X) for volumes, (1, Y, X) or (1, Y, X, 3) for 2D.

    Read-only (memory-mapped on a filesystem storage): copy before modifying.
    """
    name = series.volume.name
    if not name:
        raise FileNotFoundError(f"series {series.pk} has no stored volume")
    return open_array(name)


def load_slice(series: Series, index: int) -> np.ndarray:
    """Slice ``index`` along Z: (Y, X) or (Y, X, 3) for colour. Raises IndexError when out of range."""
    volume = load_volume(series)
    if not 0 <= index < volume.shape[0]:
        raise IndexError(f"slice {index} is outside 0..{volume.shape[0] - 1}")
    return np.array(volume[index])


def load_reference_labels(series: Series) -> np.ndarray | None:
    """The reference label map stored with the series, (Z, Y, X) integer labels, or None."""
    name = series.reference_labels.name
    if not name:
        return None
    return open_array(name)


def reformat(volume: np.ndarray, axis: str, index: int) -> np.ndarray:
    """One plane of a canonical volume. ``axis`` "z" is the stored (acquired) plane; "y" and "x" are
    reformats whose rows run from the last slice to the first, so the top of an axial stack stays on top."""
    size = {"z": volume.shape[0], "y": volume.shape[1], "x": volume.shape[2]}[axis]
    if not 0 <= index < size:
        raise IndexError(f"slice {index} is outside 0..{size - 1}")
    if axis == "z":
        return np.array(volume[index])
    if axis == "y":
        return np.array(volume[::-1, index])
    return np.array(volume[::-1, :, index])


def plane_grid(series: Series, plane: str) -> planes.PlaneGrid:
    """The voxel and square-pixel display grid of one plane of ``series`` (``ml_worker.planes``)."""
    return planes.plane_grid(series.shape, series.spacing, plane)


def plane_grids(series: Series) -> dict[str, planes.PlaneGrid]:
    """Every plane a viewer may show: the three of a volume of two slices or more, the stored plane alone
    for a 2D image or a single slice."""
    volume = series.kind == "volume" and not series.is_rgb and int(series.shape[0]) > 1
    names = planes.PLANES if volume else ("axial",)
    return {name: plane_grid(series, name) for name in names}


def load_plane(series: Series, plane: str, index: int, *, labels: bool = False) -> np.ndarray:
    """Slice ``index`` of ``plane`` on its display grid: intensities resampled linearly, or with ``labels``
    the reference label map resampled by nearest voxel. Raises IndexError when out of range."""
    volume = load_reference_labels(series) if labels else load_volume(series)
    if volume is None:
        raise FileNotFoundError("this series has no reference label map")
    grid = plane_grid(series, plane)
    voxels = planes.voxel_plane(volume, plane, index)
    if labels:
        return np.ascontiguousarray(planes.mask_to_display(np.asarray(voxels), grid))
    return planes.resample_image(np.asarray(voxels), grid.display_shape)


def axis_size(series: Series, axis: str) -> int:
    z, y, x = series.shape[:3]
    return {"z": z, "y": y, "x": x}[axis]


def delete_files(names: list[str]) -> None:
    store = storage()
    for name in names:
        if name and store.exists(name):
            store.delete(name)
