"""Pure image and coordinate transforms between a slice and the model input (no torch modules, no state).

Frames used throughout:

* **image frame**: pixels of the original slice, ``(H, W)``; x = column, y = row, both growing from the
  top-left corner. A box is ``[x0, y0, x1, y1]``; pixel ``(i, j)`` has its centre at ``(j, i)``.
* **model-input frame**: pixels of the ``S × S`` model input (S = 256 for LiteMedSAM, 1024 for ViT-B):
  the image is resized (longest side to S, or stretched to S × S for MedSAM) and zero-padded at the
  bottom/right. ``coords_model = coords_image · (scale_x, scale_y)``.
* **low-res frame**: the decoder's ``4h × 4w`` logits (256 × 256), covering the model input.

Intensity pipeline (MedSAM): CT slices are windowed with a preset (:func:`window_ct`, presets in ``ml_worker.windows``), other modalities
clipped to the 0.5–99.5 percentiles of the volume's non-zero voxels (:func:`percentile_scale`); both give
uint8 in [0, 255], which :func:`to_model_input` turns into three channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ImageInputError

# SAM's ImageNet statistics on the 0–255 scale (used by the original SAM checkpoints only).
SAM_PIXEL_MEAN = (123.675, 116.28, 103.53)
SAM_PIXEL_STD = (58.395, 57.12, 57.375)


def _round_to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def window_ct(hu_slice: np.ndarray, level: float, width: float) -> np.ndarray:
    """Map Hounsfield units through a window to uint8: ``level − width/2`` → 0, ``level + width/2`` → 255.

    Linear in between, clipped outside, rounded to the nearest integer. Any shape.
    """
    if not (np.isfinite(level) and np.isfinite(width)) or width <= 0:
        raise ImageInputError(f"window needs a finite level and a positive width, got {level}/{width}")
    lo = level - width / 2.0
    scaled = (np.asarray(hu_slice, dtype=np.float64) - lo) * 255.0 / width  # exact at k/2 levels
    return _round_to_uint8(np.nan_to_num(scaled, nan=0.0))


def percentile_scale(
    volume_or_slice: np.ndarray, low: float = 0.5, high: float = 99.5, nonzero_only: bool = True
) -> np.ndarray:
    """Clip to the ``[low, high]`` percentiles and scale to uint8 [0, 255] (MedSAM's non-CT preprocessing).

    With ``nonzero_only`` the percentiles are taken over non-zero voxels and zero voxels stay 0 (background
    outside the body stays black), as MedSAM does. Pass the whole volume so every slice gets the same mapping.
    A constant input maps to 0.
    """
    data = np.asarray(volume_or_slice, dtype=np.float64)
    if not 0 <= low < high <= 100:
        raise ImageInputError(f"need 0 <= low < high <= 100, got {low}, {high}")
    finite = np.isfinite(data)
    sample = data[finite & (data != 0)] if nonzero_only else data[finite]
    if sample.size == 0:
        return np.zeros(data.shape, dtype=np.uint8)
    lo, hi = np.percentile(sample, [low, high])
    if hi <= lo:
        return np.zeros(data.shape, dtype=np.uint8)
    out = (np.clip(np.nan_to_num(data, nan=lo), lo, hi) - lo) * 255.0 / (hi - lo)
    if nonzero_only:
        out[data == 0] = 0
    return _round_to_uint8(out)


def to_model_input(slice2d_uint8: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, 1)`` uint8 → ``(H, W, 3)`` uint8 (grey repeated); ``(H, W, 3)`` passes through."""
    image = np.asarray(slice2d_uint8)
    if image.dtype != np.uint8:
        raise ImageInputError(f"expected uint8 (window or scale the slice first), got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim != 2 or min(image.shape) < 1:
        raise ImageInputError(f"expected an (H, W) slice, got shape {image.shape}")
    return np.repeat(image[:, :, None], 3, axis=2)


def get_preprocess_shape(height: int, width: int, long_side: int) -> tuple[int, int]:
    """Size after scaling the longest side to ``long_side`` (rounded half up, as OpenCV and SAM)."""
    scale = long_side / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def _resample_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` weights reproducing OpenCV ``INTER_AREA`` along one axis.

    Shrinking: each output pixel averages the input interval ``[i·s, (i+1)·s)``, ``s = n_in / n_out``,
    weighting partly covered pixels by their overlap. Enlarging: OpenCV's area-style linear weights.
    """
    m = np.zeros((n_out, n_in), dtype=np.float64)
    if n_out <= n_in:
        s = n_in / n_out
        starts = np.arange(n_out)[:, None] * s
        j = np.arange(n_in)[None, :]
        overlap = np.minimum(starts + s, j + 1) - np.maximum(starts, j)
        return np.clip(overlap, 0, None) / s
    inv = n_out / n_in
    for dx in range(n_out):
        sx = int(np.floor(dx * n_in / n_out))
        fx = (dx + 1) - (sx + 1) * inv
        fx = 0.0 if fx <= 0 else fx - np.floor(fx)
        if sx >= n_in - 1:
            sx, fx = n_in - 1, 0.0
        m[dx, sx] += 1 - fx
        if fx:
            m[dx, sx + 1] += fx
    return m


def resize_area(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``(H, W)`` or ``(H, W, C)`` to ``size = (h, w)`` with OpenCV-``INTER_AREA`` weights.

    uint8 input gives uint8 output rounded to nearest; other dtypes give float32.
    """
    h, w = size
    src = np.asarray(image)
    ry = _resample_matrix(src.shape[0], h)
    rx = _resample_matrix(src.shape[1], w)
    # Channels first so that both passes are BLAS matrix products (einsum over "..." was 30x slower).
    chw = np.moveaxis(src, 2, 0) if src.ndim == 3 else src[None]
    out = ry @ chw.astype(np.float64) @ rx.T
    out = np.moveaxis(out, 0, 2) if src.ndim == 3 else out[0]
    return _round_to_uint8(out) if src.dtype == np.uint8 else out.astype(np.float32)


def resize_longest_side(image: np.ndarray, long_side: int = 256) -> np.ndarray:
    """LiteMedSAM resize: keep the aspect ratio, longest side → ``long_side`` (area interpolation)."""
    return resize_area(image, get_preprocess_shape(image.shape[0], image.shape[1], long_side))


def pad_to_square(image: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad ``(h, w[, C])`` at the bottom and right to ``(size, size[, C])``."""
    h, w = image.shape[:2]
    if h > size or w > size:
        raise ImageInputError(f"cannot pad {h}x{w} to {size}x{size}")
    pad = [(0, size - h), (0, size - w)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad)


def normalize_minmax(image: np.ndarray) -> np.ndarray:
    """``(x − min) / max(max − min, 1e-8)`` over the whole array → float32 in [0, 1] (LiteMedSAM, MedSAM)."""
    x = image.astype(np.float32)
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / max(hi - lo, 1e-8)


@dataclass(frozen=True)
class Preprocessing:
    """How one model family turns an ``(H, W, 3)`` uint8 slice into its input."""

    input_size: int
    resize: Literal["longest_side", "stretch"]
    normalize: Literal["minmax", "sam_pixel"]
    version: str  # part of the embedding signature: bump when any step here changes


@dataclass(frozen=True)
class InputGeometry:
    """Where a slice sits in the model input: sizes are ``(rows, cols)``, scales map image → model-input."""

    original_size: tuple[int, int]
    resized_size: tuple[int, int]
    input_size: int
    scale_x: float
    scale_y: float


def input_geometry(original_size: tuple[int, int], prep: Preprocessing) -> InputGeometry:
    h, w = int(original_size[0]), int(original_size[1])
    if h < 1 or w < 1:
        raise ImageInputError(f"image size must be positive, got {original_size}")
    s = prep.input_size
    if prep.resize == "stretch":
        return InputGeometry((h, w), (s, s), s, s / w, s / h)
    scale = s / max(h, w)  # LiteMedSAM scales boxes by S / longest side on both axes
    return InputGeometry((h, w), get_preprocess_shape(h, w, s), s, scale, scale)


def preprocess(image: np.ndarray, prep: Preprocessing) -> tuple[np.ndarray, InputGeometry]:
    """``(H, W, 3)`` uint8 → model input ``(1, 3, S, S)`` float32 and its geometry.

    LiteMedSAM: area-resize longest side to 256 (rounded to uint8), min-max normalise to [0, 1], zero-pad
    bottom/right. MedSAM: resized to S × S, min-max normalised. SAM: longest side, ImageNet mean/std, padded.
    """
    image = to_model_input(image)
    geom = input_geometry(image.shape[:2], prep)
    resized = resize_area(image, geom.resized_size)
    if prep.normalize == "minmax":
        x = normalize_minmax(resized)
    else:
        x = (resized.astype(np.float32) - np.asarray(SAM_PIXEL_MEAN, np.float32)) / np.asarray(
            SAM_PIXEL_STD, np.float32
        )
    x = pad_to_square(x, prep.input_size)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32), geom


ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def _scale_xy(coords: ArrayT, sx: float, sy: float) -> ArrayT:
    if isinstance(coords, torch.Tensor):
        factor = torch.tensor([sx, sy], dtype=coords.dtype, device=coords.device)
        return coords * factor
    return np.asarray(coords, dtype=np.float64) * np.array([sx, sy])


def apply_coords(coords: ArrayT, geom: InputGeometry) -> ArrayT:
    """Points ``(..., 2)`` (x, y) image frame → model-input frame. numpy (float64) or torch (same dtype)."""
    return _scale_xy(coords, geom.scale_x, geom.scale_y)


def unapply_coords(coords: ArrayT, geom: InputGeometry) -> ArrayT:
    """Points ``(..., 2)`` model-input frame → image frame (inverse of :func:`apply_coords`)."""
    return _scale_xy(coords, 1.0 / geom.scale_x, 1.0 / geom.scale_y)


def apply_boxes(boxes: ArrayT, geom: InputGeometry) -> ArrayT:
    """Boxes ``(..., 4)`` xyxy image frame → model-input frame."""
    return apply_coords(boxes.reshape(*boxes.shape[:-1], 2, 2), geom).reshape(boxes.shape)


def unapply_boxes(boxes: ArrayT, geom: InputGeometry) -> ArrayT:
    """Boxes ``(..., 4)`` xyxy model-input frame → image frame."""
    return unapply_coords(boxes.reshape(*boxes.shape[:-1], 2, 2), geom).reshape(boxes.shape)


def mask_to_low_res(mask: np.ndarray, geom: InputGeometry, low_res: int = 256) -> np.ndarray:
    """A boolean ``(H, W)`` mask → ``(low_res, low_res)`` logits-like input (+/−8) in the low-res frame.

    Lets a user-drawn mask be fed back as a prompt; the decoder's own ``low_res_logits`` can be used as is.
    """
    resized = resize_area(mask.astype(np.float32), geom.resized_size)
    padded = pad_to_square(resized, geom.input_size)
    if geom.input_size != low_res:
        padded = resize_area(padded, (low_res, low_res))
    return np.where(padded >= 0.5, 8.0, -8.0).astype(np.float32)


def postprocess_logits(low_res_logits: torch.Tensor, geom: InputGeometry) -> torch.Tensor:
    """Low-res logits ``(N, K, l, l)`` → logits at the original size ``(N, K, H, W)``.

    Upsample to the model input if it is larger than ``l`` (SAM ViT-B), crop the unpadded part, resize
    bilinearly (align_corners=False) to ``original_size``; threshold at 0 for the mask (sigmoid > 0.5).
    """
    x = low_res_logits.float()
    s = geom.input_size
    if x.shape[-1] != s:
        x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)
    h, w = geom.resized_size
    x = x[..., :h, :w]
    if (h, w) != tuple(geom.original_size):
        x = F.interpolate(x, size=geom.original_size, mode="bilinear", align_corners=False)
    return x
