"""Shared pieces of the mask formats: label maps, and the way back from canonical to the source's grid."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from nibabel import orientations

if TYPE_CHECKING:
    from annotator.models import Series


@dataclass(frozen=True)
class LabelInfo:
    """One project label as the formats see it: ``value`` is written into label maps."""

    id: int
    name: str
    value: int
    color: str  # "#rrggbb"

    @property
    def rgb(self) -> tuple[int, int, int]:
        red, green, blue = (int(self.color[i : i + 2], 16) for i in (1, 3, 5))
        return red, green, blue


@dataclass
class AnnotatorMasks:
    """The selected masks of one annotator (or of the consensus) on one series: label id -> bool (Z, Y, X)."""

    annotator: str
    masks: dict[int, np.ndarray]
    consensus: bool = False
    # label id -> the exported revision's id (the annotation-time table of the export names them)
    revisions: dict[int, int] = field(default_factory=dict)


def label_map_dtype(labels: list[LabelInfo]) -> np.dtype:
    return np.dtype(np.uint8) if max((lab.value for lab in labels), default=0) <= 255 else np.dtype(np.uint16)


def label_map(
    masks: dict[int, np.ndarray], labels: list[LabelInfo], shape: tuple[int, ...]
) -> tuple[np.ndarray, int]:
    """One (Z, Y, X) integer map of ``masks`` (label id -> bool array) holding each label's ``value``.

    A voxel in several masks takes the highest label value (labels are painted in value order). Returns the map
    and the number of voxels where masks overlapped, so the caller can say so.
    """
    out = np.zeros(shape, dtype=label_map_dtype(labels))
    covered = np.zeros(shape, dtype=np.uint8)
    for label in sorted(labels, key=lambda lab: lab.value):
        mask = masks.get(label.id)
        if mask is None:
            continue
        out[mask] = label.value
        covered += mask.astype(np.uint8)
    return out, int(np.count_nonzero(covered > 1))


def source_transform(series: Series) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]] | None:
    """How the stored array maps back to the source's voxel grid: (nibabel orientation transform from the
    canonical (x, y, z) axes to the source's, the source's LPS affine, the source's (x, y, z) shape).

    None when the series has no recorded source grid (2D images, series imported before it was recorded):
    the canonical grid is then the only one known.
    """
    source = series.source_header or {}
    if "affine" not in source or "shape" not in source:
        return None
    canonical = np.asarray(series.affine, dtype=float)
    source_affine = np.asarray(source["affine"], dtype=float)
    transform = orientations.ornt_transform(
        orientations.io_orientation(canonical), orientations.io_orientation(source_affine)
    )
    x, y, z = (int(v) for v in source["shape"])
    return transform, source_affine, (x, y, z)


class GeometryMismatch(ValueError):
    """The stored series and its recorded source grid disagree (should never happen for a real import)."""


def to_source_grid(volume_zyx: np.ndarray, series: Series) -> tuple[np.ndarray, np.ndarray]:
    """A canonical (Z, Y, X) array of ``series`` on the source's grid: (array indexed (x, y, z) exactly as the
    imported file was, LPS affine of that grid). Without a recorded source, the canonical grid and affine."""
    data_xyz = np.swapaxes(volume_zyx, 0, 2)
    found = source_transform(series)
    if found is None:
        return np.ascontiguousarray(data_xyz), np.asarray(series.affine, dtype=float)
    transform, source_affine, source_shape = found
    out = orientations.apply_orientation(data_xyz, transform)
    implied = np.asarray(series.affine, dtype=float) @ orientations.inv_ornt_aff(transform, data_xyz.shape)
    # The stored affine is rounded to 6 decimals: 1e-3 mm is far below any voxel.
    if out.shape != source_shape or not np.allclose(implied, source_affine, atol=1e-3):
        raise GeometryMismatch(
            f"series {series.pk}: the recorded source grid does not match the stored volume"
        )
    return np.ascontiguousarray(out), source_affine


def from_source_grid(data_xyz: np.ndarray, series: Series) -> np.ndarray:
    """The inverse of ``to_source_grid``: an array indexed (x, y, z) on the source grid as canonical (Z, Y, X)."""
    found = source_transform(series)
    if found is not None:
        transform, _, _ = found
        data_xyz = orientations.apply_orientation(data_xyz, _invert(transform))
    return np.ascontiguousarray(np.swapaxes(data_xyz, 0, 2))


def _invert(transform: np.ndarray) -> np.ndarray:
    """The orientation transform that undoes ``transform`` (nibabel's [axis, flip] rows)."""
    inverse = np.zeros_like(transform)
    for axis, (target, flip) in enumerate(transform):
        inverse[int(target)] = [axis, flip]
    return inverse
