"""Click-aware fine-tuning of the prompt encoder + mask decoder on cached embeddings.

The image encoder is frozen and never run: every case brings its slice embedding. One training step on a
batch follows SAM's interactive training (SAM paper, appendix A; SAM-Med2D ``train.py``):

1. a box jittered outwards from the final mask (about 5 px at 256², MedSAM's ``bbox_shift``) → loss;
2. corrective rounds: each adds one click sampled from the current error region (missed foreground →
   positive, false positive → negative) to the box and the clicks so far, and feeds the previous low-res
   logits back as the mask prompt, exactly as the app and the evaluation decode a click;
3. one round with the previous logits as the only prompt.

Updates (:attr:`.recipe.Recipe.grad_rounds`): the default ``each`` is SAM-Med2D's schedule: the number of
clicks is drawn per batch from 1..``max_clicks`` and the optimiser steps after every round (box, each
click, a mask-only round among the clicks and one at the end), so no forward pass is spent on simulation
alone, which is what a CPU worker can afford. ``one``/``last``/``all`` make one update per batch instead
(``last``: all but the last corrective round without gradients, as RITM's iterative training does).
``box_only_fraction`` of the batches stop after the box round, so box accuracy does not regress. Without
enough series for a validation split (``min_validation_groups``) the run trains ``max_epochs`` passes.

Loss: focal ×20 + Dice + MSE(predicted IoU, actual IoU) on the single-mask output (LiteMedSAM's serving
output). AdamW. Early stopping on a validation split carved from the training cases by whole series
(see :mod:`.cases`); the best epoch's weights are kept. The epoch before training (the parent) competes
too, so a run that only makes things worse returns the parent's decoder.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..sam.modeling import SamModel
from ..sam.runtime import resolve_device
from .cases import TrainingCase, split_validation
from .checkpoint import encoder_digest, merge_state, write_checkpoint
from .recipe import GradRounds, Recipe, TrainingCancelled, TrainingError, TrainModules
from .steps import PreparedCases, TrainableSam, Trainer, prepare_cases

__all__ = [
    "GradRounds",
    "PreparedCases",
    "Recipe",
    "TrainModules",
    "TrainableSam",
    "Trainer",
    "TrainingCancelled",
    "TrainingError",
    "TrainingProgress",
    "TrainingResult",
    "fine_tune",
    "prepare_cases",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingProgress:
    """Sent to ``on_progress`` after every step (``validation`` None) and after every epoch's validation."""

    epoch: int  # 1-based; 0 for the validation of the parent before training
    max_epochs: int
    step: int  # steps done in total
    steps_per_epoch: int
    seconds: float
    loss: float | None
    parts: dict[str, float] = field(default_factory=dict)
    validation: dict[str, Any] | None = None


@dataclass
class TrainingResult:
    checkpoint_path: str
    sha256: str
    parent_sha256: str
    encoder_sha256: str
    model_name: str
    recipe: dict[str, Any]
    case_ids: list[str]
    validation_case_ids: list[str]
    epochs_run: int
    best_epoch: int  # 0: no epoch beat the parent on validation (the candidate keeps the parent's decoder)
    stop_reason: str  # max-epochs | early-stopping | time-budget
    steps: int
    seconds: float  # wall clock
    cpu_seconds: float  # CPU time of this process (all threads): comparable on a shared machine
    device: str
    precision: str
    loss_curve: list[dict[str, Any]]  # per step: epoch, step, loss and parts
    validation_curve: list[dict[str, Any]]  # per epoch (0 = parent): Dice per round, score
    # Trained with corrective clicks (recipe.max_clicks > 0, or a parent that was): the version follows
    # clicks, so the serving side's click guard is off for it (``build_model_version(..., clicks_trained=)``).
    clicks_trained: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def fine_tune(
    parent: SamModel,
    cases: Sequence[TrainingCase],
    output_path: str | os.PathLike[str],
    recipe: Recipe | None = None,
    *,
    model_name: str | None = None,
    weights: Sequence[float] | None = None,
    device: str = "auto",
    on_progress: Callable[[TrainingProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainingResult:
    """Fine-tune ``parent``'s prompt encoder + mask decoder on ``cases`` and write the candidate checkpoint.

    Args:
        parent: the model to start from (the active version); it is not modified.
        cases: training cases with embeddings made by ``parent``'s image encoder; a validation split is
            carved from them by whole groups (``recipe.split_by``).
        output_path: where the candidate checkpoint goes (written atomically, only on success).
        model_name: registry name of the architecture (default ``parent.model_name``).
        weights: one sampling weight per case (hard cases over-sampled); None samples every case once per
            epoch.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        on_progress: called after every step and every validation (live loss curve).
        should_stop: polled before every step; when it returns True, :class:`TrainingCancelled` is raised
            and no checkpoint is written.
    Returns:
        :class:`TrainingResult` with the checkpoint's SHA-256, the recipe and the curves.
    """
    recipe = recipe or Recipe()
    start = time.perf_counter()
    cpu_start = time.process_time()
    model_name = model_name or getattr(parent, "model_name", None)
    if not model_name:
        raise TrainingError("the parent model has no model_name: pass model_name")
    if not cases:
        raise TrainingError("no training cases")
    if weights is not None and len(weights) != len(cases):
        raise TrainingError(f"{len(weights)} weights for {len(cases)} cases")
    weight_of = (
        {id(c): float(w) for c, w in zip(cases, weights, strict=True)} if weights is not None else None
    )
    groups = len({c.group(recipe.split_by) for c in cases})
    if recipe.validation_fraction > 0 and groups >= recipe.min_validation_groups:
        fit, val = split_validation(
            cases, recipe.validation_fraction, salt=f"validation:{recipe.seed}", by=recipe.split_by
        )
    else:  # too few series to spare one: fixed epochs, no early stopping
        fit, val = list(cases), []
    low_res = parent.low_res_size[0]
    fit_data = prepare_cases(fit, model_name, parent.embedding_shape, low_res)
    val_data = prepare_cases(val, model_name, parent.embedding_shape, low_res) if val else None
    probabilities = None
    if weight_of is not None:
        w = np.array([max(weight_of[id(c)], 0.0) for c in fit])
        if w.sum() <= 0:
            raise TrainingError("every sampling weight is zero")
        probabilities = w / w.sum()

    parent_state = parent.state_dict()
    parent_encoder = encoder_digest(parent_state)
    dev = resolve_device(device)
    trainer = Trainer(parent, model_name, recipe, dev)
    rng = np.random.default_rng(recipe.seed)
    steps_per_epoch = math.ceil(len(fit) / recipe.batch_size)
    loss_curve: list[dict[str, Any]] = []
    validation_curve: list[dict[str, Any]] = []

    def report(
        epoch: int,
        step: int,
        loss: float | None = None,
        parts: dict[str, float] | None = None,
        validation: dict[str, Any] | None = None,
    ) -> None:
        if on_progress is not None:
            on_progress(
                TrainingProgress(
                    epoch,
                    recipe.max_epochs,
                    step,
                    steps_per_epoch,
                    time.perf_counter() - start,
                    loss,
                    parts or {},
                    validation,
                )
            )

    def check_stop() -> None:
        if should_stop is not None and should_stop():
            raise TrainingCancelled("training was cancelled")

    best_state = copy.deepcopy(trainer.net.state_for_checkpoint())
    best_score = -math.inf
    best_epoch = 0
    if val_data is not None:
        check_stop()
        v = trainer.validate(val_data, should_stop)
        validation_curve.append({"epoch": 0, **v})
        best_score = v["score"]
        report(0, 0, validation=v)
    stop_reason = "max-epochs"
    step = 0
    epochs_run = 0
    since_best = 0
    for epoch in range(1, recipe.max_epochs + 1):
        if probabilities is None:
            order = rng.permutation(len(fit))
        else:
            order = rng.choice(len(fit), size=len(fit), replace=True, p=probabilities)
        epoch_losses = []
        for b in range(steps_per_epoch):
            check_stop()
            idx = np.sort(order[b * recipe.batch_size : (b + 1) * recipe.batch_size])
            parts = trainer.step(fit_data, idx, rng)
            step += 1
            epoch_losses.append(parts["loss"])
            loss_curve.append({"epoch": epoch, "step": step, **parts})
            report(epoch, step, parts["loss"], parts)
        epochs_run = epoch
        entry: dict[str, Any] = {"epoch": epoch, "train_loss": float(np.mean(epoch_losses))}
        if val_data is not None:
            check_stop()
            v = trainer.validate(val_data, should_stop)
            entry.update(v)
            if v["score"] > best_score:
                best_score, best_epoch, since_best = v["score"], epoch, 0
                best_state = copy.deepcopy(trainer.net.state_for_checkpoint())
            else:
                since_best += 1
            report(epoch, step, validation=v)
        else:
            best_epoch = epoch
            best_state = trainer.net.state_for_checkpoint()
        validation_curve.append(entry)
        if val_data is not None and since_best >= recipe.patience:
            stop_reason = "early-stopping"
            break
        if recipe.max_seconds is not None and time.perf_counter() - start >= recipe.max_seconds:
            stop_reason = "time-budget"
            break

    check_stop()
    merged = merge_state(parent_state, best_state)
    sha = write_checkpoint(merged, output_path, encoder_sha256=parent_encoder)
    return TrainingResult(
        checkpoint_path=str(Path(output_path)),
        sha256=sha,
        parent_sha256=str(getattr(parent, "checkpoint_sha256", "unknown")),
        encoder_sha256=parent_encoder,
        model_name=model_name,
        recipe=recipe.to_dict(),
        case_ids=[c.case_id for c in fit],
        validation_case_ids=[c.case_id for c in val],
        epochs_run=epochs_run,
        best_epoch=best_epoch,
        stop_reason=stop_reason,
        steps=step,
        seconds=time.perf_counter() - start,
        cpu_seconds=time.process_time() - cpu_start,
        device=str(dev),
        precision=trainer.precision,
        loss_curve=loss_curve,
        validation_curve=validation_curve,
        clicks_trained=recipe.max_clicks > 0 or bool(getattr(parent, "clicks_trained", False)),
    )
