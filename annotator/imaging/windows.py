"""Window/level presets and mapping intensities to 8-bit grey.

CT presets are the usual radiology ones, defined once in ``ml_worker.windows`` (MedSAM's model input window
is CT soft tissue 40/400). For MR and everything else the window spans the 0.5-99.5 percentiles of the
non-zero voxels, as in MedSAM's preprocessing; it is computed once at import and stored as the ``auto`` preset.
"""

from __future__ import annotations

import numpy as np

from ml_worker.windows import DEFAULT_CT_WINDOW, NamedWindow, named_presets

CT_PRESETS: list[NamedWindow] = named_presets()
# A 2M-voxel sample puts the percentiles within a fraction of a grey level of the exact ones, at a
# fraction of the cost (a full 512x512x200 volume takes ~2 s to sort on this machine).
PERCENTILE_SAMPLE = 2_000_000


def percentile_window(volume: np.ndarray, low: float = 0.5, high: float = 99.5) -> NamedWindow:
    flat = volume.reshape(-1)
    if flat.size > PERCENTILE_SAMPLE:
        flat = flat[:: flat.size // PERCENTILE_SAMPLE + 1]
    nonzero = flat[flat != 0]
    values = nonzero if nonzero.size else flat
    lo, hi = (float(v) for v in np.percentile(values.astype(np.float32), [low, high]))
    if hi <= lo:
        hi = lo + 1.0
    return {"name": "auto", "level": round((lo + hi) / 2, 3), "width": round(hi - lo, 3)}


def presets_for(modality: str, volume: np.ndarray, is_rgb: bool) -> tuple[list[NamedWindow], str]:
    """The presets stored on a new series and the name of the default one."""
    if is_rgb:
        return [], ""
    auto = percentile_window(volume)
    if modality == "CT":
        return [*CT_PRESETS, auto], DEFAULT_CT_WINDOW
    return [auto], "auto"


def apply_window(values: np.ndarray, level: float, width: float) -> np.ndarray:
    """Map intensities to uint8: level - width/2 -> 0, level + width/2 -> 255, clipped."""
    width = max(float(width), 1e-6)
    lo = float(level) - width / 2.0
    scale = 255.0 / width
    out = (values.astype(np.float32, copy=False) - lo) * scale
    np.clip(out, 0.0, 255.0, out=out)
    return out.astype(np.uint8)
