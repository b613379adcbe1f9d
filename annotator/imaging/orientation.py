"""One canonical orientation for every volume, so that an image and its label map line up voxel for voxel.

Inputs arrive indexed (i, j, k) = (x, y, z) with a 4x4 affine from voxel indices to patient LPS millimetres
(DICOM's frame; NIfTI's RAS is converted first). The slice axis k stays the slice axis: annotators work on the
acquired plane, which has the fine in-plane resolution. Only the order and direction of axes change, so the
stored array reads like a radiology viewer shows it:

* axial (slice normal closest to S): X runs to patient Left, Y to Posterior, Z to Superior;
* coronal (normal closest to P):     X to Left, Y to Inferior, Z to Posterior;
* sagittal (normal closest to L):    X to Posterior, Y to Inferior, Z to Left.

The stored array is (Z, Y, X) (plus a trailing colour axis for RGB) and the stored affine maps (x, y, z)
indices of that array to LPS mm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from nibabel import orientations

# Target orientation per plane, in nibabel's notation: for array axes x, y, z the (world axis, direction).
# World axes are LPS: 0 = L, 1 = P, 2 = S.
TARGETS = {
    "axial": [[0, 1], [1, 1], [2, 1]],
    "coronal": [[0, 1], [2, -1], [1, 1]],
    "sagittal": [[1, 1], [2, -1], [0, 1]],
}
PLANE_OF_WORLD_AXIS = {0: "sagittal", 1: "coronal", 2: "axial"}
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass
class Oriented:
    array: np.ndarray  # (Z, Y, X) or (Z, Y, X, 3)
    affine: np.ndarray  # 4x4, (x, y, z) index -> LPS mm
    spacing: tuple[float, float, float]  # (z, y, x) mm
    plane: str  # axial | coronal | sagittal | "" when the source has no patient geometry
    # JSON-safe facts about the source grid, kept so that exports can go back to it voxel for voxel:
    # "shape" (x, y, z) and "affine" (4x4, source indices -> LPS mm) before reorientation; DICOM adds "dicom"
    # (de-identified instance references per source slice, in the source's slice order).
    source: dict = field(default_factory=dict)


def spacing_of(affine: np.ndarray) -> tuple[float, float, float]:
    sx, sy, sz = (float(v) for v in np.linalg.norm(affine[:3, :3], axis=0))
    return (sz or 1.0, sy or 1.0, sx or 1.0)


def canonicalize(data_xyz: np.ndarray, affine: np.ndarray, *, in_patient_frame: bool = True) -> Oriented:
    """Reorder and flip ``data_xyz`` (indexed x, y, z[, c]) into the canonical (Z, Y, X[, c]) array.

    ``affine`` maps (x, y, z) to LPS mm. Without patient geometry (photos, radiographs, cine loops) pass
    ``in_patient_frame=False``: the array keeps its rows and columns as they are displayed.
    """
    affine = np.asarray(affine, dtype=float)
    source = {"shape": [int(v) for v in data_xyz.shape[:3]], "affine": affine.tolist()}
    if not in_patient_frame:
        array = np.ascontiguousarray(np.swapaxes(data_xyz, 0, 2))
        return Oriented(array, affine, spacing_of(affine), "", source)
    start = orientations.io_orientation(affine)
    plane = PLANE_OF_WORLD_AXIS[int(start[2][0])]
    transform = orientations.ornt_transform(start, np.array(TARGETS[plane]))
    oriented = orientations.apply_orientation(data_xyz, transform)
    new_affine = affine @ orientations.inv_ornt_aff(transform, data_xyz.shape[:3])
    array = np.ascontiguousarray(np.swapaxes(oriented, 0, 2))
    return Oriented(array, new_affine, spacing_of(new_affine), plane, source)
