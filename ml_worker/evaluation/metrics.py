"""Segmentation metrics: Dice similarity coefficient (DSC) and normalised surface Dice (NSD).

Both take boolean masks of any dimension (the evaluation uses 2D slices) in the same array frame.
``spacing`` gives the physical size of one step along each array axis, in the order of the axes (for a
2D slice ``(row_mm, col_mm)``), so tolerances are in millimetres even for anisotropic pixels.

Empty-mask conventions (the same in both metrics, so an empty prediction of an empty structure is not
punished and any prediction of an absent structure, or the lack of one for a present structure, is):

* reference and prediction both empty → 1.0;
* exactly one of them empty → 0.0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def _as_bool_pair(prediction: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(prediction, dtype=bool)
    ref = np.asarray(reference, dtype=bool)
    if pred.shape != ref.shape:
        raise ValueError(f"prediction {pred.shape} and reference {ref.shape} differ in shape")
    return pred, ref


def dice(prediction: np.ndarray, reference: np.ndarray) -> float:
    """DSC = 2|P ∩ R| / (|P| + |R|); 1.0 when both are empty."""
    pred, ref = _as_bool_pair(prediction, reference)
    total = int(pred.sum()) + int(ref.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(pred, ref).sum()) / total


def boundary(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels of a boolean mask: foreground pixels with a background neighbour (face connectivity).

    Pixels on the edge of the array count as boundary (the outside of the image is background), so a
    structure cut by the field of view still has a closed contour.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.zeros_like(mask)
    eroded = ndimage.binary_erosion(
        mask, structure=ndimage.generate_binary_structure(mask.ndim, 1), border_value=0
    )
    return mask & ~eroded


def _distance_to(surface: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Euclidean distance (mm) from every pixel to the nearest pixel of ``surface`` (non-empty)."""
    return ndimage.distance_transform_edt(~surface, sampling=spacing)


def normalized_surface_dice(
    prediction: np.ndarray,
    reference: np.ndarray,
    spacing: Sequence[float] | None = None,
    tolerance_mm: float = 2.0,
) -> float:
    """NSD (Nikolov et al. 2021; the MedSAM paper's second metric) at tolerance τ = ``tolerance_mm``.

    NSD = (|∂P ∩ B_τ(∂R)| + |∂R ∩ B_τ(∂P)|) / (|∂P| + |∂R|), where ∂X are the boundary pixels of X
    (:func:`boundary`) and B_τ(S) the pixels within τ millimetres of S, measured between pixel centres
    with the anisotropic ``spacing`` (default 1 per axis, i.e. τ in pixels). Boundaries are sets of pixels;
    DeepMind's ``surface-distance`` package weights surface elements by their area instead, so values can
    differ slightly on jagged contours (identical, disjoint-and-far and empty masks agree).
    """
    pred, ref = _as_bool_pair(prediction, reference)
    if spacing is None:
        spacing = (1.0,) * pred.ndim
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != pred.ndim or min(spacing) <= 0:
        raise ValueError(f"spacing must give one positive size per axis ({pred.ndim}), got {spacing}")
    if tolerance_mm < 0:
        raise ValueError(f"tolerance must be >= 0 mm, got {tolerance_mm}")
    pred_any, ref_any = bool(pred.any()), bool(ref.any())
    if not pred_any and not ref_any:
        return 1.0
    if not pred_any or not ref_any:
        return 0.0
    pred_surface, ref_surface = boundary(pred), boundary(ref)
    # A distance of exactly τ is inside; the slack absorbs rounding in sqrt(Σ(d·s)²) (e.g. 0.78125 mm pixels).
    limit = tolerance_mm * (1 + 1e-9)
    pred_close = int((_distance_to(ref_surface, spacing)[pred_surface] <= limit).sum())
    ref_close = int((_distance_to(pred_surface, spacing)[ref_surface] <= limit).sum())
    return (pred_close + ref_close) / (int(pred_surface.sum()) + int(ref_surface.sum()))
