"""The active-learning steps a job calls: annotate (first prediction + correction), train a candidate.

:func:`train_candidate` is *the* training entry point: the fine-tuning job on the ``train`` queue and
``manage.py bench_active_learning`` both call it, so the bench measures the product's own recipe.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..evaluation.clicks import box_from_mask
from ..sam.modeling import SamModel
from ..training.cases import TrainingCase
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
