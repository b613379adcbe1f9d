"""Which model serves a project's prompts, on a worker: the project's active version, swapped in without a
restart.

Prompts, embeddings and queue scoring ask ``annotator.inference.project_predictor`` (project id), which
reads :func:`active_for` and :func:`predictor_of`. The active version's row is read from the database at
most once per ``ACTIVE_TTL_S`` per project; a promotion or rollback therefore reaches every worker within
that time. Predictors of trained versions are built on first use (strict load, SHA-256 checked against the
row) and kept in a small LRU, so switching back and forth costs nothing; the base model is the process's
serving predictor (ml_worker.serving). Versions share the image encoder (decoder-only fine-tuning), so
the embeddings cached for one are valid for the others: the embedding signature names the encoder's weights
(ml_worker.embeddings), and the same store serves every version.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from annotator.models import ModelVersion

if TYPE_CHECKING:
    from ml_worker.sam.predictor import SamPredictor

# A worker looks the active version up at most this often per project (a query costs ~0.3 ms; a prompt
# ~25 ms): a promotion reaches the workers within a second.
ACTIVE_TTL_S = 1.0
# Predictors of trained versions kept per process: each holds the model (~40 MB for LiteMedSAM) and its
# compiled runtime; two covers "promote, then roll back" without a reload.
MAX_VERSION_PREDICTORS = 3
# OpenVINO precision of a trained version's prompt decoder. bf16 rounds a fine-tuned decoder's logits visibly:
# its masks agreed 0.946 (mean Dice) with its own torch fp32 masks, against >= 0.99 in f32
# (tests/training/test_training_real.py; scripts/bench_decoder_precision.py measures both and their cost).
# The image encoder, shared with the base model, keeps the worker's precision.
TRAINED_DECODER_PRECISION = "f32"


@dataclass(frozen=True)
class ServedVersion:
    """What a worker needs to serve a version: None fields mean the base model."""

    version_id: int | None
    model_name: str | None
    checkpoint: str | None
    sha256: str | None
    # Fine-tuned with corrective clicks (click-aware rounds): the corrective-point guard stands down.
    clicks_trained: bool = False

    @property
    def is_base(self) -> bool:
        return self.checkpoint is None


BASE = ServedVersion(None, None, None, None)

_lock = threading.Lock()
_active: dict[int, tuple[float, ServedVersion]] = {}
_predictors: OrderedDict[str, SamPredictor] = OrderedDict()


def checkpoint_path(relative_or_absolute: str) -> Path:
    path = Path(relative_or_absolute)
    return path if path.is_absolute() else Path(settings.MODEL_DIR) / path


def served_version(version: ModelVersion | None) -> ServedVersion:
    if version is None or version.parent_id is None:
        return BASE
    clicks = int((version.recipe or {}).get("max_clicks") or 0) > 0
    return ServedVersion(version.pk, version.model_name, version.checkpoint, version.sha256, clicks)


def active_for(project_id: int) -> ServedVersion:
    """The project's active version (cached for ACTIVE_TTL_S)."""
    now = time.monotonic()
    with _lock:
        hit = _active.get(project_id)
    if hit is not None and now - hit[0] < ACTIVE_TTL_S:
        return hit[1]
    row = ModelVersion.objects.filter(project_id=project_id, active=True).first()
    served = served_version(row)
    with _lock:
        _active[project_id] = (now, served)
    return served


def predictor_of(served: ServedVersion) -> SamPredictor:
    """The predictor of a version, built once per process (the base model: the serving predictor)."""
    from ml_worker import serving

    if served.is_base:
        return serving.get_predictor()
    assert served.checkpoint is not None and served.sha256 is not None and served.model_name is not None
    with _lock:
        predictor = _predictors.get(served.sha256)
        if predictor is not None:
            _predictors.move_to_end(served.sha256)
            return predictor
    predictor = build_predictor(
        served.model_name, checkpoint_path(served.checkpoint), served.sha256, served.clicks_trained
    )
    with _lock:
        _predictors[served.sha256] = predictor
        while len(_predictors) > MAX_VERSION_PREDICTORS:
            _predictors.popitem(last=False)
    return predictor


def build_predictor(model_name: str, path: Path, sha256: str, clicks_trained: bool = False) -> SamPredictor:
    """A predictor of a trained version on this worker's backend and device, its decoder in
    ``TRAINED_DECODER_PRECISION`` on OpenVINO (refuses a file whose SHA-256 is not the recorded one).
    ``clicks_trained``: the version learnt corrective clicks (the predictor's ``clicks_trained`` reads the
    model's attribute; the base LiteMedSAM's spec says it did not)."""
    from ml_worker import serving
    from ml_worker.sam.build import build_model_version
    from ml_worker.sam.predictor import SamPredictor

    config = serving.settings_from_env()
    model = build_model_version(model_name, path, sha256)
    if clicks_trained:
        model.clicks_trained = True
    return SamPredictor(
        model_name,
        backend=config.backend,
        device=config.device,
        model_dir_path=config.model_dir,
        model=model,
        decoder_precision=TRAINED_DECODER_PRECISION,
    )


def predictor_for(project_id: int) -> SamPredictor:
    """The predictor serving ``project_id``'s prompts now."""
    return predictor_of(active_for(project_id))


def forget() -> None:
    """Drop the cached lookups and predictors (tests; a worker never needs to)."""
    with _lock:
        _active.clear()
        _predictors.clear()
