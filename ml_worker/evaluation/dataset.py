"""Evaluation datasets: a folder with ``images/`` and ``labels/`` holding files of the same name.

* Volumes (``.nii``, ``.nii.gz``, ``.nrrd``, ``.nhdr``) with integer label maps: every label on every slice
  along the chosen axis with at least ``min_area`` pixels is one case.
* 2D images (``.png``, ``.tif``, ``.tiff``) with label-map images: every label with at least ``min_area``
  pixels is one case. Pixels are taken as 1 mm (2D files carry no trustworthy spacing), so an NSD
  tolerance is then in pixels.

Volumes are brought to the app's canonical orientation (``annotator.models.studies``): array axes
``(Z, Y, X)`` towards patient Superior, Posterior and Left (LPS+). Slices are shown the radiological way:
axial with anterior at the top and the patient's right on the left; coronal and sagittal with superior at
the top. Slice indices in case ids count along the canonical axis.

Intensities follow MedSAM's preprocessing (``ml_worker.sam.transforms``): CT is windowed (soft tissue
40/400 by default), anything else is clipped to the 0.5–99.5 percentiles of the volume's non-zero voxels
and scaled to [0, 255]; 8-bit 2D images are used as they are. ``modality="auto"`` calls an image CT when
its minimum is at most -500 (air is -1000 HU; MR, PET, X-ray and microscopy are never that negative);
CT stored without its rescale offset (e.g. unsigned 0..4095) is not recognised: pass ``modality="ct"``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from ml_worker import planes
from ml_worker.sam.transforms import percentile_scale, window_ct
from ml_worker.windows import WINDOW_PRESETS

if TYPE_CHECKING:
    from PIL import Image

Axis = Literal["axial", "coronal", "sagittal"]
Modality = Literal["auto", "ct", "other"]

AXES: tuple[str, ...] = ("axial", "coronal", "sagittal")
MODALITIES: tuple[str, ...] = ("auto", "ct", "other")
VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr")
IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
# Minimum intensity at or below which ``modality="auto"`` treats an image as CT in Hounsfield units.
CT_MIN_HU = -500.0
# Largest disagreement (mm) tolerated between an image's and its label map's voxel-to-world matrices.
AFFINE_TOLERANCE_MM = 1e-2
CANONICAL_AXCODES = ("S", "P", "L")

# NRRD ``space`` values → sign flips that turn the space's x, y, z into RAS.
_NRRD_SPACE_TO_RAS = {
    "right-anterior-superior": (1, 1, 1),
    "ras": (1, 1, 1),
    "left-anterior-superior": (-1, 1, 1),
    "las": (-1, 1, 1),
    "left-posterior-superior": (-1, -1, 1),
    "lps": (-1, -1, 1),
}


class DatasetError(ValueError):
    """The dataset folder or one of its files cannot be evaluated; the message names the file."""


@dataclass(frozen=True)
class Pair:
    name: str
    image: Path
    label: Path

    @property
    def is_volume(self) -> bool:
        return _suffix(self.name) in VOLUME_SUFFIXES


@dataclass(frozen=True)
class Case:
    """One structure on one 2D image: what the model sees and what it should segment.

    ``image`` is ``(H, W)`` or ``(H, W, 3)`` uint8, already windowed or scaled; ``reference`` ``(H, W)`` bool;
    ``spacing`` ``(row_mm, col_mm)``. Cases with the same ``image_key`` share one image (and embedding).
    """

    case_id: str
    image_key: str
    source: str
    slice_index: int | None
    label: int
    image: np.ndarray
    reference: np.ndarray
    spacing: tuple[float, float]
    preprocessing: str


@dataclass(frozen=True)
class Volume:
    """A volume in the canonical orientation: ``data`` ``(Z, Y, X)``, ``spacing`` (z, y, x) mm,
    ``affine`` the 4×4 voxel-index → RAS mm matrix of the file as read (for alignment checks)."""

    data: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray


def _suffix(name: str) -> str:
    lower = name.lower()
    return next((s for s in VOLUME_SUFFIXES + IMAGE_SUFFIXES if lower.endswith(s)), "")


def find_pairs(root: str | Path) -> list[Pair]:
    """Image/label file pairs of a dataset folder, sorted by name.

    Raises :class:`DatasetError` when a folder is missing, a supported image has no label file of the same
    name (or the other way round), or nothing is found.
    """
    root = Path(root)
    images_dir, labels_dir = root / "images", root / "labels"
    for folder in (images_dir, labels_dir):
        if not folder.is_dir():
            raise DatasetError(f"{folder} is not a folder: a dataset needs images/ and labels/ side by side")
    images = {p.name: p for p in images_dir.iterdir() if p.is_file() and _suffix(p.name)}
    labels = {p.name: p for p in labels_dir.iterdir() if p.is_file() and _suffix(p.name)}
    without_label = sorted(set(images) - set(labels))
    without_image = sorted(set(labels) - set(images))
    if without_label or without_image:
        parts = []
        if without_label:
            parts.append(f"images without a label file: {', '.join(without_label)}")
        if without_image:
            parts.append(f"label files without an image: {', '.join(without_image)}")
        raise DatasetError(f"{root}: " + "; ".join(parts))
    if not images:
        suffixes = ", ".join(VOLUME_SUFFIXES + IMAGE_SUFFIXES)
        raise DatasetError(f"{images_dir} holds no supported files ({suffixes})")
    return [Pair(name, images[name], labels[name]) for name in sorted(images)]


# -- volumes ----------------------------------------------------------------------------------------


def _read_nifti(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import nibabel as nib
    from nibabel.spatialimages import SpatialImage

    try:
        img = nib.load(str(path))
        if not isinstance(img, SpatialImage):
            raise TypeError(f"a {type(img).__name__}, not an image with an affine")
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # nibabel raises many types for bad files
        raise DatasetError(f"{path} cannot be read as NIfTI: {exc}") from exc
    return data, np.asarray(img.affine, dtype=np.float64)


def _read_nrrd(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import nrrd

    try:
        data, header = nrrd.read(str(path))
    except Exception as exc:  # pynrrd raises NRRDError, OSError, ValueError
        raise DatasetError(f"{path} cannot be read as NRRD: {exc}") from exc
    ndim = data.ndim
    directions = header.get("space directions")
    if directions is not None:
        directions = np.array([[np.nan] * 3 if d is None else d for d in directions], dtype=np.float64)
        spatial = ~np.isnan(directions).any(axis=1)
        if spatial.sum() != min(ndim, 3) or directions.shape[1] != 3:
            raise DatasetError(f"{path}: only scalar volumes with three spatial axes are supported")
        linear = directions[spatial].T  # columns: world step per voxel index
        origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=np.float64)
        space = str(header.get("space", "right-anterior-superior")).lower()
        if space not in _NRRD_SPACE_TO_RAS:
            raise DatasetError(f"{path}: NRRD space {space!r} is not supported (use RAS, LAS or LPS)")
        flip = np.diag(_NRRD_SPACE_TO_RAS[space]).astype(np.float64)
        linear, origin = flip @ linear, flip @ origin
    else:
        spacings = header.get("spacings")
        steps = np.ones(ndim) if spacings is None else np.nan_to_num(np.asarray(spacings, float), nan=1.0)
        linear = np.diag(np.pad(steps[:3], (0, max(0, 3 - ndim)), constant_values=1.0))
        origin = np.zeros(3)
    affine = np.eye(4)
    affine[:3, : linear.shape[1]] = linear
    affine[:3, 3] = origin
    return data, affine


def load_volume(path: str | Path) -> Volume:
    """Read a NIfTI or NRRD volume and reorient it to the canonical ``(Z, Y, X)`` LPS+ array."""
    from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform

    path = Path(path)
    reader = _read_nrrd if _suffix(path.name) in (".nrrd", ".nhdr") else _read_nifti
    data, affine = reader(path)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[..., None]
    if data.ndim != 3:
        raise DatasetError(f"{path}: expected a 3D scalar volume, got shape {data.shape}")
    if np.linalg.matrix_rank(affine[:3, :3]) < 3:
        raise DatasetError(f"{path}: its voxel-to-world matrix is singular")
    zooms = np.linalg.norm(affine[:3, :3], axis=0)
    transform = ornt_transform(io_orientation(affine), axcodes2ornt(CANONICAL_AXCODES))
    canonical = apply_orientation(data, transform)
    spacing = [0.0, 0.0, 0.0]
    for source_axis, (target_axis, _flip) in enumerate(transform):
        spacing[int(target_axis)] = float(zooms[source_axis])
    return Volume(np.ascontiguousarray(canonical), (spacing[0], spacing[1], spacing[2]), affine)


def is_ct(intensities: np.ndarray) -> bool:
    """Whether raw intensities look like CT in Hounsfield units (see the module docstring)."""
    values = np.asarray(intensities)
    return values.size > 0 and float(np.nanmin(values)) <= CT_MIN_HU


def model_intensities(
    intensities: np.ndarray, modality: Modality = "auto", window: str = "soft_tissue"
) -> tuple[np.ndarray, str]:
    """uint8 intensities as the model was trained on, and a short name of what was done.

    CT (``modality="ct"``, or ``"auto"`` and :func:`is_ct`): the ``window`` preset. Otherwise: percentile
    clipping over the whole array's non-zero values, so every slice of a volume gets one mapping.
    """
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {', '.join(MODALITIES)}, got {modality!r}")
    if window not in WINDOW_PRESETS:
        raise ValueError(f"unknown window {window!r}; known: {', '.join(WINDOW_PRESETS)}")
    if modality == "ct" or (modality == "auto" and is_ct(intensities)):
        preset = WINDOW_PRESETS[window]
        return window_ct(intensities, preset.level, preset.width), f"ct-window:{window}"
    return percentile_scale(intensities), "percentile-0.5-99.5"


def slice_2d(volume: np.ndarray, axis: Axis, index: int) -> np.ndarray:
    """Slice ``index`` of a canonical ``(Z, Y, X)`` array, oriented for display (see module docstring)."""
    if axis == "axial":
        return volume[index]
    if axis == "coronal":
        return volume[:, index, :][::-1]
    if axis == "sagittal":
        return volume[:, :, index][::-1]
    raise ValueError(f"axis must be one of {', '.join(AXES)}, got {axis!r}")


def slice_spacing(spacing: Sequence[float], axis: Axis) -> tuple[float, float]:
    """``(row_mm, col_mm)`` of :func:`slice_2d`'s slices, from a canonical (z, y, x) spacing."""
    z, y, x = (float(s) for s in spacing)
    return {"axial": (y, x), "coronal": (z, x), "sagittal": (z, y)}[axis]


_AXIS_INDEX = {"axial": 0, "coronal": 1, "sagittal": 2}


def _integer_labels(data: np.ndarray, path: Path) -> np.ndarray:
    data = np.asarray(data)
    if np.issubdtype(data.dtype, np.integer) or data.dtype == bool:
        return data.astype(np.int64, copy=False)
    if not np.all(np.isfinite(data)) or not np.array_equal(data, np.round(data)):
        raise DatasetError(f"{path}: a label map must hold integers, found non-integer values")
    return data.astype(np.int64)


def _wanted_labels(label_map: np.ndarray, labels: Sequence[int] | None) -> list[int]:
    if labels is not None:
        return sorted({int(v) for v in labels})
    present = np.unique(label_map)
    return [int(v) for v in present if v != 0]


def _volume_cases(
    pair: Pair,
    axis: Axis,
    labels: Sequence[int] | None,
    min_area: int,
    modality: Modality,
    window: str,
    square_pixels: bool = False,
) -> Iterator[Case]:
    image = load_volume(pair.image)
    label = load_volume(pair.label)
    if image.data.shape != label.data.shape or not np.allclose(
        image.affine, label.affine, atol=AFFINE_TOLERANCE_MM
    ):
        raise DatasetError(
            f"{pair.name}: image and label map are not on the same grid "
            f"(shapes {image.data.shape} and {label.data.shape}, or different voxel-to-world matrices)"
        )
    label_map = _integer_labels(label.data, pair.label)
    intensities, how = model_intensities(image.data, modality, window)
    spacing = slice_spacing(image.spacing, axis)
    # Coronal and sagittal slices as the viewer and the workers show them to the model (ml_worker.planes).
    grid = planes.plane_grid(label_map.shape, image.spacing, axis) if square_pixels else None
    if grid is not None and grid.resampled:
        spacing, how = grid.pixel_mm, f"{how}+square-pixels"
    else:
        grid = None
    along = _AXIS_INDEX[axis]
    others = tuple(a for a in range(3) if a != along)
    wanted = _wanted_labels(label_map, labels)
    areas = {lab: np.count_nonzero(label_map == lab, axis=others) for lab in wanted}
    for index in range(label_map.shape[along]):
        present = [lab for lab in wanted if areas[lab][index] >= min_area]
        if not present:
            continue
        image_2d = np.ascontiguousarray(slice_2d(intensities, axis, index))
        labels_2d = slice_2d(label_map, axis, index)
        if grid is not None:  # linear for the image, nearest voxel for the labels
            image_2d = planes.resample_image(image_2d, grid.display_shape)
            labels_2d = planes.mask_to_display(labels_2d, grid)
        key = f"{pair.name}:{axis}:{index}"
        for lab in present:
            yield Case(
                case_id=f"{key}:label{lab}",
                image_key=key,
                source=pair.name,
                slice_index=index,
                label=lab,
                image=image_2d,
                reference=np.ascontiguousarray(labels_2d == lab),
                spacing=spacing,
                preprocessing=how,
            )


# -- 2D images -------------------------------------------------------------------------------------


def _open_image(path: Path) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path)
        img.load()
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(f"{path} cannot be read as an image: {exc}") from exc
    frames: int = getattr(img, "n_frames", 1)
    if frames > 1:
        raise DatasetError(f"{path} has {frames} frames; convert stacks to NIfTI to evaluate them")
    return img


def read_image_2d(path: Path) -> np.ndarray:
    """A 2D image as ``(H, W)`` (grey, any dtype) or ``(H, W, 3)`` uint8 (colour, alpha dropped)."""
    img = _open_image(path)
    if img.mode == "1":
        img = img.convert("L")
    elif img.mode == "LA":
        img = img.convert("L")
    elif img.mode not in ("L", "RGB", "I", "F") and not img.mode.startswith("I;16"):
        img = img.convert("RGB")
    return np.asarray(img)


def read_label_2d(path: Path) -> np.ndarray:
    """A label-map image as ``(H, W)`` int64 (palette images give their palette indices)."""
    img = _open_image(path)
    data = np.asarray(img)
    if data.ndim == 3:
        channels = data[..., :3]
        if not (
            np.array_equal(channels[..., 0], channels[..., 1])
            and np.array_equal(channels[..., 0], channels[..., 2])
        ):
            raise DatasetError(f"{path}: a label map must be single-channel (or grey), not a colour image")
        data = channels[..., 0]
    return _integer_labels(data, path)


def _image_cases(
    pair: Pair, labels: Sequence[int] | None, min_area: int, modality: Modality, window: str
) -> Iterator[Case]:
    raw = read_image_2d(pair.image)
    label_map = read_label_2d(pair.label)
    if raw.shape[:2] != label_map.shape:
        raise DatasetError(
            f"{pair.name}: image {raw.shape[:2]} and label map {label_map.shape} differ in size"
        )
    if raw.dtype == np.uint8 and modality != "ct":
        image, how = raw, "uint8"
    elif raw.ndim == 3:
        raise DatasetError(f"{pair.name}: colour images must be 8-bit")
    else:
        image, how = model_intensities(raw, modality, window)
    key = pair.name
    for lab in _wanted_labels(label_map, labels):
        reference = label_map == lab
        if int(reference.sum()) < min_area:
            continue
        yield Case(
            case_id=f"{key}:label{lab}",
            image_key=key,
            source=pair.name,
            slice_index=None,
            label=lab,
            image=image,
            reference=reference,
            spacing=(1.0, 1.0),
            preprocessing=how,
        )


def iter_cases(
    root: str | Path,
    *,
    axis: Axis = "axial",
    labels: Sequence[int] | None = None,
    min_area: int = 20,
    modality: Modality = "auto",
    window: str = "soft_tissue",
    pairs: Sequence[Pair] | None = None,
    square_pixels: bool = False,
) -> Iterator[Case]:
    """Every case of a dataset, file by file, slice by slice, label by label (one volume in memory at a time).

    ``labels`` restricts to these label values (default: every non-zero value present); ``axis`` is ignored
    for 2D images. ``pairs`` skips the folder scan when :func:`find_pairs` was already called.
    ``square_pixels`` resamples coronal and sagittal slices of anisotropic volumes to square pixels, as the
    app does (:mod:`ml_worker.planes`; reference masks by nearest voxel, ``min_area`` still counted in
    voxels); the metrics are then on that grid.
    """
    if axis not in AXES:
        raise ValueError(f"axis must be one of {', '.join(AXES)}, got {axis!r}")
    if min_area < 1:
        raise ValueError(f"min_area must be >= 1 pixel, got {min_area}")
    for pair in pairs if pairs is not None else find_pairs(root):
        if pair.is_volume:
            yield from _volume_cases(pair, axis, labels, min_area, modality, window, square_pixels)
        else:
            yield from _image_cases(pair, labels, min_area, modality, window)
