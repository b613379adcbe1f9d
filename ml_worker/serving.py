"""The process-wide predictor, configured from environment variables only (usable without Django).

    MODEL_DIR          checkpoints, registry and OpenVINO exports (default: <repo>/var/models)
    DEVICE             auto | cpu | cuda                     (default auto)
    INFERENCE_BACKEND  auto | torch | openvino               (default auto)
    DEFAULT_MODEL      a name from MODEL_REGISTRY            (default lite_medsam)

The model is loaded once per worker process and reused; a forked child builds its own (OpenVINO and CUDA
state must not cross a fork).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .sam.build import MODEL_REGISTRY
from .sam.predictor import BACKENDS, SamPredictor
from .weights import default_model_dir

DEVICES = ("auto", "cpu", "cuda")


class ServingConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ServingSettings:
    model_dir: Path
    device: str
    backend: str
    default_model: str


def _choice(name: str, default: str, allowed: Collection[str], *, lower: bool = True) -> str:
    value = (os.environ.get(name) or default).strip()
    value = value.lower() if lower else value
    if value not in allowed:
        raise ServingConfigError(f"{name}={value!r} is not one of {', '.join(sorted(allowed))}")
    return value


def settings_from_env() -> ServingSettings:
    """Read and validate the serving settings; an invalid value raises :class:`ServingConfigError`."""
    return ServingSettings(
        model_dir=default_model_dir(),
        device=_choice("DEVICE", "auto", DEVICES),
        backend=_choice("INFERENCE_BACKEND", "auto", BACKENDS),
        default_model=_choice("DEFAULT_MODEL", "lite_medsam", MODEL_REGISTRY, lower=False),
    )


_lock = threading.Lock()
_predictors: dict[tuple, SamPredictor] = {}


def get_predictor(model_name: str | None = None) -> SamPredictor:
    """The cached predictor for ``model_name`` (default ``DEFAULT_MODEL``), built on first use."""
    settings = settings_from_env()
    name = model_name or settings.default_model
    if name not in MODEL_REGISTRY:
        raise ServingConfigError(f"unknown model {name!r}")
    key = (os.getpid(), name, str(settings.model_dir), settings.device, settings.backend)
    with _lock:
        predictor = _predictors.get(key)
        if predictor is None:
            predictor = SamPredictor(
                name, backend=settings.backend, device=settings.device, model_dir_path=settings.model_dir
            )
            for stale in [k for k in _predictors if k[0] != key[0]]:
                del _predictors[stale]  # inherited from the parent process through fork
            _predictors[key] = predictor
        return predictor


def reset_predictors() -> None:
    """Forget every cached predictor (tests; after promoting a new model version)."""
    with _lock:
        _predictors.clear()


def warm_up(predictor: SamPredictor) -> None:
    """Run each decoder graph once (with and without a mask input) so the first real prompt does not pay
    for the runtime's lazy set-up (measured: 200–330 ms for the first prompt against 45–95 ms after)."""
    channels, height, width = predictor.model.embedding_shape
    embedding = np.zeros((channels, height, width), dtype=np.float32)
    box = np.asarray([[8.0, 8.0, 64.0, 64.0]])
    result = predictor.decode(embedding, (256, 256), boxes=box, all_masks=True)
    predictor.decode(embedding, (256, 256), boxes=box, mask_input=result.low_res_logits[:, :1])


def time_decode(
    predictor: SamPredictor,
    embedding: np.ndarray,
    image_size: tuple[int, int],
    box: list[float],
    repeats: int,
) -> dict[str, float]:
    """Milliseconds per bare ``predictor.decode`` call (one box, image frame) against ``embedding``, after
    five warm-up calls: the compute floor the benchmarks compare the whole pipeline with."""
    boxes = np.asarray([box], dtype=np.float64)
    for _ in range(5):
        predictor.decode(embedding, image_size, boxes=boxes)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        predictor.decode(embedding, image_size, boxes=boxes)
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": float(np.median(times)), "p99_ms": float(np.percentile(times, 99)), "n": repeats}
