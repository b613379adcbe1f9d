"""Stateful façade over a built model and a backend: embed a slice once, decode many prompts against it.

    predictor = SamPredictor("lite_medsam")            # backend "auto": OpenVINO on CPU, torch on CUDA
    emb = predictor.embed(image)                      # (H, W, 3) uint8 → (256, 64, 64) float32
    result = predictor.decode(emb, image.shape[:2], boxes=[[x0, y0, x1, y1]])
    result.masks[0, 0]                                # (H, W) bool

All prompt coordinates are in the *image frame* (pixels of the original slice, x = column, y = row); the
predictor maps them into the model-input frame (see ``transforms``). Bad prompts raise :class:`PromptError`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import SupportsInt

import numpy as np
import numpy.typing as npt
import torch

from .build import build_model, encoder_sha256, get_spec, model_dir, model_version
from .errors import BackendUnavailable, ImageInputError, PromptError
from .modeling import SamModel
from .modeling.prompt_encoder import BOX_BOTTOM_RIGHT, BOX_TOP_LEFT, PAD_LABEL
from .runtime import OpenVINORunner, Runner, TorchRunner, resolve_device
from .transforms import (
    InputGeometry,
    apply_boxes,
    apply_coords,
    input_geometry,
    postprocess_logits,
    preprocess,
)

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "openvino")


@dataclass(frozen=True)
class DecodeResult:
    """``masks`` bool ``(N, K, H, W)`` in the image frame; ``iou`` float32 ``(N, K)`` predicted IoU;
    ``low_res_logits`` float32 ``(N, K, 256, 256)`` in the low-res frame (feed back as ``mask_input``).
    K is 1, 3 with ``multimask``, or 4 with ``all_masks``."""

    masks: np.ndarray
    iou: np.ndarray
    low_res_logits: np.ndarray


class SamPredictor:
    def __init__(
        self,
        model_name: str = "lite_medsam",
        backend: str = "auto",
        device: str = "auto",
        *,
        checkpoint: str | os.PathLike[str] | None = None,
        model_dir_path: str | os.PathLike[str] | None = None,
        registry_file: str | os.PathLike[str] | None = None,
        model: SamModel | None = None,
        decoder_precision: str | None = None,
    ) -> None:
        """Build (or take) the model and pick the backend.

        ``backend``: ``auto`` (OpenVINO on CPU, torch on CUDA), ``torch`` or ``openvino``; an unavailable
        OpenVINO falls back to torch with a logged reason (see :meth:`describe`). ``device``: auto|cpu|cuda.
        ``decoder_precision``: OpenVINO's inference precision for the prompt decoder (``f32`` / ``bf16``;
        None: the CPU's default, :func:`~ml_worker.sam.runtime.openvino_precision`).
        """
        if backend not in BACKENDS:
            raise ValueError(f"INFERENCE_BACKEND must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.spec = get_spec(model_name)
        self.model_name = model_name
        self.model = (
            model
            if model is not None
            else build_model(
                model_name, checkpoint, model_dir_path=model_dir_path, registry_file=registry_file
            )
        )
        self.checkpoint_sha256: str = getattr(self.model, "checkpoint_sha256", "unknown")
        # What embeddings depend on: the image encoder's weights only (computed once, here or at load).
        self.encoder_sha256: str = getattr(self.model, "encoder_sha256", None) or encoder_sha256(
            self.model.state_dict()
        )
        self.fallback_reason: str | None = None
        self._decoder_precision = decoder_precision
        try:
            dev = resolve_device(device)
        except BackendUnavailable as exc:
            log.warning("falling back to CPU: %s", exc)
            self.fallback_reason = str(exc)
            dev = torch.device("cpu")
        self.runner: Runner = self._make_runner(backend, dev, Path(model_dir(model_dir_path)))

    def _make_runner(self, backend: str, dev: torch.device, cache_root: Path) -> Runner:
        want_openvino = backend == "openvino" or (backend == "auto" and dev.type == "cpu")
        if want_openvino:
            try:
                return OpenVINORunner(
                    self.model,
                    cache_root=cache_root,
                    key=f"{self.model_name}-{self.checkpoint_sha256[:16]}",
                    decoder_precision=self._decoder_precision,
                )
            except BackendUnavailable as exc:
                self.fallback_reason = str(exc)
                log.warning("OpenVINO backend unavailable, using torch on %s: %s", dev, exc)
        return TorchRunner(self.model, dev)

    @property
    def model_version(self) -> str:
        """What a saved mask records as the model behind its first prediction (``name@checkpoint-prefix``)."""
        return model_version(self.model_name, self.checkpoint_sha256)

    @property
    def clicks_trained(self) -> bool:
        """Whether this model follows corrective clicks; when not, point prompts are guarded
        (``ml_worker.click_guard``)."""
        return bool(getattr(self.model, "clicks_trained", self.spec.clicks_trained))

    @property
    def preprocessing_version(self) -> str:
        return self.spec.preprocessing.version

    @property
    def low_res_size(self) -> tuple[int, int]:
        return self.model.low_res_size

    def describe(self) -> dict:
        return {
            "name": self.model_name,
            "checkpoint_sha256": self.checkpoint_sha256,
            "encoder_sha256": self.encoder_sha256,
            "model_version": self.model_version,
            "device": self.runner.device,
            "backend": self.runner.name,
            "precision": self.runner.precision,
            "decoder_precision": getattr(self.runner, "decoder_precision", self.runner.precision),
            "preprocessing_version": self.preprocessing_version,
            "clicks_trained": self.clicks_trained,
            "fallback_reason": self.fallback_reason,
        }

    # -- encoder -------------------------------------------------------------------------------------
    def embed(self, image: np.ndarray) -> np.ndarray:
        """Image embedding of one slice.

        Args:
            image: ``(H, W, 3)`` uint8, already windowed / percentile-scaled (``transforms``); ``(H, W)``
                is accepted and repeated to three channels.
        Returns:
            float32 ``(C, h, w)``: ``(256, 64, 64)`` for every registered model.
        """
        image = np.asarray(image)
        if (
            image.dtype != np.uint8
            or image.ndim not in (2, 3)
            or (image.ndim == 3 and image.shape[2] not in (1, 3))
        ):
            raise ImageInputError(f"expected an (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
        if min(image.shape[:2]) < 1:
            raise ImageInputError(f"empty image {image.shape}")
        x, _ = preprocess(image, self.spec.preprocessing)
        return self.runner.encode(x)[0].astype(np.float32, copy=False)

    # -- decoder -------------------------------------------------------------------------------------
    def decode(
        self,
        embedding: np.ndarray,
        image_size: tuple[int, int],
        boxes: npt.ArrayLike | None = None,
        points: npt.ArrayLike | None = None,
        point_labels: npt.ArrayLike | None = None,
        mask_input: npt.ArrayLike | None = None,
        multimask: bool = False,
        all_masks: bool = False,
    ) -> DecodeResult:
        """Masks for N prompts against one embedding, decoded in one batch.

        Args:
            embedding: ``(C, h, w)`` or ``(1, C, h, w)`` from :meth:`embed` (float16 from the cache is fine).
            image_size: ``(H, W)`` of the slice that was embedded.
            boxes: ``(N, 4)`` or ``(4,)`` xyxy, image frame; clipped to the image.
            points: ``(N, P, 2)`` or ``(P, 2)`` x, y, image frame; requires ``point_labels``.
            point_labels: ``(N, P)`` or ``(P,)``: 1 foreground, 0 background, −1 ignored (padding).
            mask_input: ``(N, 1, 256, 256)`` low-res logits, typically a previous ``low_res_logits``.
            multimask: return 3 candidate masks per prompt instead of 1.
            all_masks: return the single-mask output followed by the 3 candidates (K = 4). LiteMedSAM was
                trained on the single output: its candidates can be better masks for ambiguous prompts, but
                their predicted IoU is uninformative (≈0.24 against ≈0.85 for the single output on lung1).
        Returns:
            :class:`DecodeResult` with K = 4 if ``all_masks``, 3 if ``multimask``, else 1.
        Raises:
            PromptError: empty/inverted/outside boxes, NaN coordinates, points without labels, shape mismatch.
        """
        emb = self._check_embedding(embedding)
        geom = input_geometry(_image_size(image_size), self.spec.preprocessing)
        coords, labels, masks = self._encode_prompts(geom, boxes, points, point_labels, mask_input)
        logits, iou = self.runner.decode(emb, coords, labels, masks)
        sel = slice(0, None) if all_masks else slice(1, None) if multimask else slice(0, 1)
        logits, iou = logits[:, sel], iou[:, sel]
        full = postprocess_logits(torch.from_numpy(logits), geom)
        return DecodeResult(masks=(full > 0).numpy(), iou=iou.astype(np.float32), low_res_logits=logits)

    def _check_embedding(self, embedding: np.ndarray) -> np.ndarray:
        emb = np.asarray(embedding)
        expected = self.model.embedding_shape
        if emb.ndim == 3:
            emb = emb[None]
        if emb.shape != (1, *expected) or not np.issubdtype(emb.dtype, np.floating):
            raise ImageInputError(
                f"expected an embedding of shape {expected}, got {emb.dtype} {np.shape(embedding)}"
            )
        return np.asarray(emb, dtype=np.float32)  # no copy when it already is float32

    def _encode_prompts(
        self,
        geom: InputGeometry,
        boxes: npt.ArrayLike | None,
        points: npt.ArrayLike | None,
        point_labels: npt.ArrayLike | None,
        mask_input: npt.ArrayLike | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        h, w = geom.original_size
        n_sources: dict[str, int] = {}
        box_arr: np.ndarray | None = None
        if boxes is not None:
            box_arr = _finite(boxes, "boxes")
            if box_arr.ndim == 1:
                box_arr = box_arr[None]
            if box_arr.ndim != 2 or box_arr.shape[1] != 4 or box_arr.shape[0] == 0:
                raise PromptError(f"boxes must have shape (N, 4), got {np.shape(boxes)}")
            for i, (x0, y0, x1, y1) in enumerate(box_arr):
                if x1 < x0 or y1 < y0:
                    raise PromptError(f"box {i} {[x0, y0, x1, y1]} is inverted (need x0 <= x1 and y0 <= y1)")
            box_arr = np.clip(box_arr, 0, [w, h, w, h])
            for i, (x0, y0, x1, y1) in enumerate(box_arr):
                if x1 <= x0 or y1 <= y0:
                    raise PromptError(f"box {i} is empty after clipping to the {w}x{h} image")
            n_sources["boxes"] = box_arr.shape[0]
        pts: np.ndarray | None = None
        lbl: np.ndarray | None = None
        if points is not None or point_labels is not None:
            if points is None:
                raise PromptError("point_labels given without points")
            if point_labels is None:
                raise PromptError("points need point_labels (1 foreground, 0 background)")
            pts = _finite(points, "points")
            lbl = _finite(point_labels, "point_labels")
            if pts.ndim == 2:
                pts = pts[None]
            if lbl.ndim == 1:
                lbl = lbl[None]
            if pts.ndim != 3 or pts.shape[2] != 2 or pts.shape[1] == 0:
                raise PromptError(f"points must have shape (N, P, 2), got {np.shape(points)}")
            if lbl.shape != pts.shape[:2]:
                raise PromptError(
                    f"point_labels shape {np.shape(point_labels)} does not match points {pts.shape[:2]}"
                )
            if not np.isin(lbl, (PAD_LABEL, 0, 1)).all():
                raise PromptError("point labels must be 1 (foreground), 0 (background) or -1 (ignore)")
            real = lbl != PAD_LABEL
            outside = real & ((pts[..., 0] < 0) | (pts[..., 0] > w) | (pts[..., 1] < 0) | (pts[..., 1] > h))
            if outside.any():
                raise PromptError(f"points must lie inside the {w}x{h} image")
            n_sources["points"] = pts.shape[0]
        masks: np.ndarray | None = None
        if mask_input is not None:
            masks = _finite(mask_input, "mask_input").astype(np.float32)
            lh, lw = self.model.low_res_size
            if masks.ndim == 2:
                masks = masks[None, None]
            elif masks.ndim == 3:
                masks = masks[:, None]
            if masks.ndim != 4 or masks.shape[1:] != (1, lh, lw):
                raise PromptError(
                    f"mask_input must have shape (N, 1, {lh}, {lw}), got {np.shape(mask_input)}"
                )
            n_sources["mask_input"] = masks.shape[0]
        if not n_sources:
            raise PromptError("give at least one prompt: boxes, points or mask_input")
        if len(set(n_sources.values())) > 1:
            raise PromptError(f"prompt batch sizes differ: {n_sources}")
        n = next(iter(n_sources.values()))

        coord_parts: list[np.ndarray] = []
        label_parts: list[np.ndarray] = []
        if pts is not None and lbl is not None:
            coord_parts.append(apply_coords(pts, geom))
            label_parts.append(lbl)
        if box_arr is not None:
            coord_parts.append(apply_boxes(box_arr, geom).reshape(n, 2, 2))
            label_parts.append(np.tile([BOX_TOP_LEFT, BOX_BOTTOM_RIGHT], (n, 1)))
        else:  # as upstream: without a box, one padding point ends the sequence
            coord_parts.append(np.zeros((n, 1, 2)))
            label_parts.append(np.full((n, 1), PAD_LABEL))
        coords = np.concatenate(coord_parts, axis=1).astype(np.float32)
        labels = np.concatenate(label_parts, axis=1).astype(np.float32)
        return coords, labels, masks


def _finite(values: npt.ArrayLike, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"{what} must be numeric: {exc}") from exc
    if not np.isfinite(arr).all():
        raise PromptError(f"{what} contain NaN or infinite values")
    return arr


def _image_size(size: Iterable[SupportsInt]) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError) as exc:
        raise ImageInputError(f"image_size must be (H, W), got {size!r}") from exc
    if h < 1 or w < 1:
        raise ImageInputError(f"image_size must be positive, got {size!r}")
    return h, w
