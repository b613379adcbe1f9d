"""NIfTI label maps on the source's grid: same voxel order and affine as the imported file."""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np

from annotator.exporting.common import to_source_grid
from annotator.imaging.orientation import RAS_TO_LPS

if TYPE_CHECKING:
    from annotator.models import Series

# NIfTI xform code 1: "scanner anatomical" coordinates, what the source's own affine describes.
SCANNER = 1


def label_map_bytes(labels_zyx: np.ndarray, series: Series) -> bytes:
    """A gzipped NIfTI-1 file of a canonical (Z, Y, X) label map of ``series``.

    The voxels are put back in the source file's (x, y, z) order and the affine is the source's (RAS, as NIfTI
    stores it), so the map overlays the originally imported NIfTI or NRRD voxel for voxel. Series without a
    recorded source grid (2D images) get the stored grid and affine.
    """
    data_xyz, affine_lps = to_source_grid(labels_zyx, series)
    image = nib.Nifti1Image(data_xyz, RAS_TO_LPS @ affine_lps)
    image.header.set_data_dtype(data_xyz.dtype)
    image.set_sform(image.affine, code=SCANNER)
    image.set_qform(image.affine, code=SCANNER)
    image.header.set_xyzt_units(xyz="mm")
    image.header["descrip"] = b"Delineate label map"
    # mtime=0: the same masks give the same bytes.
    return gzip.compress(image.to_bytes(), compresslevel=6, mtime=0)
