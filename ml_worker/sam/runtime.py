"""Inference backends that run a :class:`SamModel`'s two graphs: plain PyTorch and OpenVINO (CPU).

Both take and return numpy arrays with the shapes of :meth:`SamModel.embed` / :meth:`SamModel.decode`,
so the predictor never knows which one it talks to.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from .errors import BackendUnavailable
from .modeling import DecoderGraph, EncoderGraph, SamModel

if TYPE_CHECKING:
    import openvino as ov

log = logging.getLogger(__name__)

# Bump when the exported graphs change (module code, input layout): old conversions are then ignored.
EXPORT_VERSION = 4


class Runner(Protocol):
    name: str
    device: str
    precision: str

    def encode(self, images: np.ndarray) -> np.ndarray: ...

    def decode(
        self,
        embedding: np.ndarray,
        coords: np.ndarray,
        labels: np.ndarray,
        mask_input: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]: ...


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"DEVICE must be auto, cpu or cuda, got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackendUnavailable("DEVICE=cuda but torch sees no CUDA device")
    return torch.device(device)


class TorchRunner:
    """Reference backend. On CUDA the forward passes run under bf16 (or fp16) autocast, scoped to the call."""

    name = "torch"

    def __init__(self, model: SamModel, device: torch.device) -> None:
        self.model = model.to(device).eval()
        self.torch_device = device
        self.device = device.type
        self._amp_dtype: torch.dtype | None = None
        if device.type == "cuda":
            self._amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.precision = {None: "f32", torch.bfloat16: "bf16", torch.float16: "f16"}[self._amp_dtype]

    def _autocast(self) -> AbstractContextManager[object]:
        if self._amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self._amp_dtype)

    def _t(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(self.torch_device)

    def encode(self, images: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), self._autocast():
            out = self.model.embed(self._t(images))
        return out.float().cpu().numpy()

    def decode(
        self, embedding: np.ndarray, coords: np.ndarray, labels: np.ndarray, mask_input: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        masks = None if mask_input is None else self._t(mask_input)
        with torch.inference_mode(), self._autocast():
            logits, iou = self.model.decode(self._t(embedding), self._t(coords), self._t(labels), masks)
        return logits.float().cpu().numpy(), iou.float().cpu().numpy()


def openvino_precision(core: ov.Core) -> str:
    """``bf16`` when the CPU has native bf16 (AVX512_BF16 / AMX: ``BF16`` in its capabilities), else ``f32``.

    On this 2-core AMD EPYC (avx512_bf16) bf16 runs the encoder ~2.5x and the decoder ~1.5x faster than f32
    (OpenVINO, same process, measured). Without native bf16 the CPU would emulate it: slower than f32.
    """
    caps = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "bf16" if "BF16" in caps else "f32"


def _export_dir(cache_root: Path, key: str) -> Path:
    return cache_root / "openvino" / f"{key}-e{EXPORT_VERSION}"


GRAPHS = ("encoder_head", "encoder_tail", "decoder", "decoder_mask")


def _convert(model: SamModel, target: Path) -> None:
    """Convert the four graphs with ``ov.convert_model`` and save them into ``target`` atomically."""
    import openvino as ov

    c, h, w = model.embedding_shape
    s = model.input_size
    lh, lw = model.low_res_size
    model = model.cpu().eval()
    graphs = {}
    with torch.no_grad():
        images = torch.zeros(1, 3, s, s)
        head_out = EncoderGraph(model, "head")(images)
        graphs["encoder_head"] = ov.convert_model(
            EncoderGraph(model, "head"), example_input=(images,), input=[[1, 3, s, s]]
        )
        graphs["encoder_tail"] = ov.convert_model(
            EncoderGraph(model, "tail"), example_input=(head_out,), input=[list(head_out.shape)]
        )
        example = (
            torch.zeros(1, c, h, w),
            torch.zeros(2, 3, 2),
            torch.tensor([[1.0, 2.0, 3.0], [0.0, 2.0, 3.0]]),
        )
        shapes = [
            ("image_embeddings", [1, c, h, w]),
            ("point_coords", [-1, -1, 2]),
            ("point_labels", [-1, -1]),
        ]
        graphs["decoder"] = ov.convert_model(
            DecoderGraph(model, with_mask=False), example_input=example, input=shapes
        )
        graphs["decoder_mask"] = ov.convert_model(
            DecoderGraph(model, with_mask=True),
            example_input=(*example, torch.zeros(2, 1, lh, lw)),
            input=[*shapes, ("mask_input", [-1, 1, lh, lw])],
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        for name, graph in graphs.items():
            ov.save_model(graph, tmp / f"{name}.xml", compress_to_fp16=False)
        tmp.chmod(0o755)  # mkdtemp makes it private; the export is shared by every worker
        try:
            os.replace(tmp, target)
        except OSError:
            if not _export_complete(target):  # another process won the race only if it finished
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _export_complete(export: Path) -> bool:
    return all((export / f"{name}.xml").exists() and (export / f"{name}.bin").exists() for name in GRAPHS)


class OpenVINORunner:
    """OpenVINO on CPU. Converts once per (model, checkpoint SHA-256, export version) into
    ``MODEL_DIR/openvino/<key>-e<version>/`` and compiles with ``CACHE_DIR`` (``MODEL_DIR/openvino/compiled``)
    so that later processes load in about a second instead of converting (~20 s).

    Precision: the encoder head (stem + first stage at full resolution) always runs in f32, everything else
    at ``precision`` (default :func:`openvino_precision`). Measured on pyradiomics lung1/brain1 box prompts
    vs the PyTorch fp32 reference: all-bf16 encoder → mask Dice mean 0.992 (min 0.90); f32 head + bf16 tail
    → 0.996 (min 0.96) for ~+25 ms (~+13%). The bf16 decoder alone costs ~0.01 Dice but keeps it near 20 ms
    (f32: ~1.5x slower); pass ``decoder_precision="f32"`` to trade speed for fidelity, as the serving side
    does for fine-tuned versions (annotator/model_serving.py: their bf16 masks agree visibly less).
    """

    name = "openvino"
    device = "cpu"

    def __init__(
        self,
        model: SamModel,
        *,
        cache_root: Path,
        key: str,
        precision: str | None = None,
        decoder_precision: str | None = None,
    ) -> None:
        try:
            import openvino as ov
        except ImportError as exc:
            raise BackendUnavailable(f"openvino is not installed: {exc}") from exc
        core = ov.Core()
        self.precision = precision or openvino_precision(core)
        self.decoder_precision = decoder_precision or self.precision
        export = _export_dir(cache_root, key)
        if not _export_complete(export):
            log.info("converting %s to OpenVINO into %s", key, export)
            try:
                _convert(model, export)
            except Exception as exc:
                raise BackendUnavailable(f"OpenVINO conversion failed: {exc}") from exc
        compiled_cache = cache_root / "openvino" / "compiled"
        compiled_cache.mkdir(parents=True, exist_ok=True)

        def compile_graph(name: str, precision: str) -> ov.InferRequest:
            config = {
                "CACHE_DIR": str(compiled_cache),
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_PRECISION_HINT": precision,
            }
            return core.compile_model(str(export / f"{name}.xml"), "CPU", config).create_infer_request()

        try:
            self._head = compile_graph("encoder_head", "f32")
            self._tail = compile_graph("encoder_tail", self.precision)
            self._dec = compile_graph("decoder", self.decoder_precision)
            self._dec_mask = compile_graph("decoder_mask", self.decoder_precision)
        except Exception as exc:
            raise BackendUnavailable(f"OpenVINO compilation failed: {exc}") from exc
        self._tail.set_input_tensor(0, self._head.get_output_tensor(0))  # hand over without a copy
        self._lock = threading.Lock()  # infer requests are not thread-safe
        self.export_dir = export

    def encode(self, images: np.ndarray) -> np.ndarray:
        with self._lock:
            self._head.infer({0: np.ascontiguousarray(images, dtype=np.float32)}, share_inputs=True)
            self._tail.infer()
            return self._tail.get_output_tensor(0).data.copy()

    def decode(
        self, embedding: np.ndarray, coords: np.ndarray, labels: np.ndarray, mask_input: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        arrays = (
            (embedding, coords, labels) if mask_input is None else (embedding, coords, labels, mask_input)
        )
        inputs = {i: np.ascontiguousarray(a, dtype=np.float32) for i, a in enumerate(arrays)}
        req = self._dec if mask_input is None else self._dec_mask
        with self._lock:
            req.infer(inputs, share_inputs=True)  # no copy of the 4 MiB embedding
            return req.get_output_tensor(0).data.copy(), req.get_output_tensor(1).data.copy()


def export_key(model_name: str, checkpoint_sha256: str) -> str:
    """The export folder key :class:`~ml_worker.sam.predictor.SamPredictor` uses for a checkpoint."""
    return f"{model_name}-{checkpoint_sha256[:16]}"


ENCODER_GRAPHS = ("encoder_head", "encoder_tail")


def share_encoder_export(model: SamModel, cache_root: Path, key: str, parent_export: Path) -> Path:
    """Prepare the OpenVINO export of a model version whose image encoder is byte-identical to the one
    converted in ``parent_export`` (a decoder-only fine-tune; the caller checks the encoder digests): the
    encoder graphs are linked (or copied) from the parent's export and only the decoder graphs are converted
    (about a quarter of a full conversion's CPU time, measured: 12 s vs 45 s). Atomic like a conversion;
    returns the export folder, which :class:`OpenVINORunner` then finds complete. A complete export is
    left as it is."""
    import openvino as ov

    target = _export_dir(cache_root, key)
    if _export_complete(target):
        return target
    if not _export_complete(parent_export):
        raise BackendUnavailable(f"the parent export {parent_export} is missing or incomplete")
    c, h, w = model.embedding_shape
    lh, lw = model.low_res_size
    model = model.cpu().eval()
    with torch.no_grad():
        example = (
            torch.zeros(1, c, h, w),
            torch.zeros(2, 3, 2),
            torch.tensor([[1.0, 2.0, 3.0], [0.0, 2.0, 3.0]]),
        )
        shapes = [
            ("image_embeddings", [1, c, h, w]),
            ("point_coords", [-1, -1, 2]),
            ("point_labels", [-1, -1]),
        ]
        graphs = {
            "decoder": ov.convert_model(
                DecoderGraph(model, with_mask=False), example_input=example, input=shapes
            ),
            "decoder_mask": ov.convert_model(
                DecoderGraph(model, with_mask=True),
                example_input=(*example, torch.zeros(2, 1, lh, lw)),
                input=[*shapes, ("mask_input", [-1, 1, lh, lw])],
            ),
        }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        for name in ENCODER_GRAPHS:
            for suffix in (".xml", ".bin"):
                source, dest = parent_export / f"{name}{suffix}", tmp / f"{name}{suffix}"
                try:
                    os.link(source, dest)
                except OSError:  # another file system, or links not allowed
                    shutil.copyfile(source, dest)
        for name, graph in graphs.items():
            ov.save_model(graph, tmp / f"{name}.xml", compress_to_fp16=False)
        tmp.chmod(0o755)
        try:
            os.replace(tmp, target)
        except OSError:
            if not _export_complete(target):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
