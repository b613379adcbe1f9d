"""The active-learning steps a job calls: annotate (first prediction + correction), train a candidate.

:func:`train_candidate` is *the* training entry point: the fine-tuning job on the ``train`` queue and
``manage.py bench_active_learning`` both call it, so the bench measures the product's own recipe.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.clicks import box_from_mask
from ..sam.modeling import SamModel
from ..sam.predictor import SamPredictor
from ..sam.runtime import export_key, share_encoder_export
from ..training.cases import TrainingCase
from ..training.checkpoint import encoder_digest
from ..training.trainer import Recipe, TrainingProgress, TrainingResult, fine_tune
from .selection import Decoder, get_strategy, oversampling_weights

DEFAULT_TRAINING_STRATEGY = "hardest-corrected"
DEFAULT_OVERSAMPLING_BOOST = 3.0  # the hardest case is drawn 4× as often as the easiest


def first_prediction(decoder: Decoder, case: TrainingCase, box: np.ndarray | None = None) -> TrainingCase:
    """The case with the model's box-prompt mask as its first prediction (what the annotator started
    from) and the box as its prompt; ``box`` (image frame) defaults to the tight box of the final mask."""
    box = box_from_mask(case.final_mask) if box is None else np.asarray(box, dtype=np.float64)
    result = decoder.decode(case.embedding, case.image_size, boxes=box[None])
    return dataclasses.replace(
        case,
        first_prediction=np.asarray(result.masks)[0, 0],
        prompts={"boxes": [[float(v) for v in box]]},
    )


def train_candidate(
    parent: SamModel,
    cases: Sequence[TrainingCase],
    output_path: str | os.PathLike[str],
    recipe: Recipe | None = None,
    *,
    strategy: str = DEFAULT_TRAINING_STRATEGY,
    boost: float = DEFAULT_OVERSAMPLING_BOOST,
    device: str = "auto",
    on_progress: Callable[[TrainingProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainingResult:
    """Fine-tune a candidate version of ``parent`` on the project's training cases.

    Hard cases are over-sampled by ``strategy`` (a training strategy of :mod:`.selection`) with weights
    ``1 + boost · score``; the rest is :func:`~ml_worker.training.trainer.fine_tune` (click-aware rounds on
    cached embeddings, early stopping on a validation split by series, atomic checkpoint whose image encoder
    is the parent's, byte for byte). The recipe recorded in the result includes the over-sampling.
    """
    selector = get_strategy(strategy)
    if selector.kind != "training":
        raise ValueError(f"{strategy!r} orders unlabelled slices; training needs a training strategy")
    weights = oversampling_weights(selector.scores(cases), boost)
    result = fine_tune(
        parent,
        cases,
        output_path,
        recipe,
        weights=[float(w) for w in weights],
        device=device,
        on_progress=on_progress,
        should_stop=should_stop,
    )
    oversampling: dict[str, Any] = {"strategy": strategy, "boost": boost}
    result.recipe = {**result.recipe, "oversampling": oversampling}
    return result


def export_for_openvino(candidate: SamModel, parent: SamPredictor, cache_root: Path) -> Path | None:
    """Convert a candidate for the OpenVINO backend once, reusing the parent's converted image encoder.

    Only when the parent is served by OpenVINO and the candidate's image-encoder tensors are byte-identical
    to the parent's (always true for :func:`train_candidate`'s output, checked again here); otherwise
    returns None and the first :class:`SamPredictor` on the candidate converts everything itself.
    """
    parent_export = getattr(parent.runner, "export_dir", None)
    if parent_export is None:
        return None
    if encoder_digest(candidate.state_dict()) != encoder_digest(parent.model.state_dict()):
        return None
    key = export_key(parent.model_name, str(candidate.checkpoint_sha256))
    return share_encoder_export(candidate, Path(cache_root), key, Path(parent_export))
