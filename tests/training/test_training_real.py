"""Fine-tuning on real embeddings with the real LiteMedSAM weights: the loss goes down, the candidate
checkpoint keeps the parent's encoder byte for byte, loads strictly, serves through OpenVINO like through
torch, and a cancelled run leaves nothing behind."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_worker.active_learning.loop import export_for_openvino, first_prediction, train_candidate
from ml_worker.sam.build import build_model_version, load_checkpoint
from ml_worker.sam.errors import CheckpointError
from ml_worker.sam.predictor import SamPredictor
from ml_worker.sam.runtime import OpenVINORunner, export_key
from ml_worker.training.checkpoint import encoder_digest, tensor_digest
from ml_worker.training.trainer import (
    Recipe,
    Trainer,
    TrainingCancelled,
    TrainingProgress,
    fine_tune,
    prepare_cases,
)

pytestmark = pytest.mark.slow

TINY = dict(
    batch_size=4, max_epochs=1, max_clicks=2, validation_fraction=0.3, min_validation_groups=2, lr=1e-4
)


def losses_over_steps(parent, cases, recipe: Recipe, steps: int) -> list[float]:
    trainer = Trainer(parent, "lite_medsam", recipe, torch.device("cpu"))
    data = prepare_cases(cases, "lite_medsam", parent.embedding_shape, 256)
    rng = np.random.default_rng(0)
    idx = np.arange(len(cases))
    return [trainer.step(data, idx, rng)["loss"] for _ in range(steps)]


def test_training_steps_lower_the_box_loss_on_a_real_batch(lite_parent, real_cases):
    recipe = Recipe(
        lr=1e-4, box_jitter_px=0.0, box_only_fraction=1.0, mask_only_fraction=0.0
    )  # same boxes each step
    losses = losses_over_steps(lite_parent, real_cases[:2], recipe, steps=3)
    assert losses[-1] < 0.9 * losses[0], losses


def test_training_steps_lower_the_loss_after_a_corrective_click(lite_parent, real_cases):
    # One click at the deepest error of the current mask, the previous logits fed back: a click round.
    recipe = Recipe(
        lr=1e-4,
        box_jitter_px=0.0,
        box_only_fraction=0.0,
        mask_only_fraction=0.0,
        max_clicks=1,
        click_mode="deepest",
    )
    losses = losses_over_steps(lite_parent, real_cases[:2], recipe, steps=3)
    assert losses[-1] < 0.9 * losses[0], losses


def test_a_step_per_interactive_round_lowers_the_loss_on_a_real_batch(lite_parent, real_cases):
    # SAM-Med2D's schedule: an optimiser update after the box and after every corrective click.
    recipe = Recipe(lr=1e-4, box_jitter_px=0.0, box_only_fraction=0.0, max_clicks=2, grad_rounds="each")
    trainer = Trainer(lite_parent, "lite_medsam", recipe, torch.device("cpu"))
    data = prepare_cases(real_cases[:2], "lite_medsam", lite_parent.embedding_shape, 256)
    rng = np.random.default_rng(0)
    first = trainer.step(data, np.arange(2), rng)
    later = [trainer.step(data, np.arange(2), rng) for _ in range(2)]
    assert first["updates"] >= 2  # the box round and at least one click round each made an update
    assert later[-1]["loss_box"] < 0.9 * first["loss_box"], (first, later)


def test_all_click_rounds_train_every_corrective_click_of_each_batch(lite_parent, real_cases):
    # SAM's schedule: a click batch runs every corrective round, so the 2nd click trains as often as the 1st.
    recipe = Recipe(lr=1e-4, box_only_fraction=0.0, max_clicks=2, click_rounds="all", click_mode="deepest")
    trainer = Trainer(lite_parent, "lite_medsam", recipe, torch.device("cpu"))
    data = prepare_cases(real_cases[:2], "lite_medsam", lite_parent.embedding_shape, 256)
    rng = np.random.default_rng(0)
    parts = [trainer.step(data, np.arange(2), rng) for _ in range(3)]
    # box, 2 clicks, a mask-only round among the clicks and one at the end: 5 updates every time
    assert [(p["clicks"], p["updates"]) for p in parts] == [(2.0, 5.0)] * 3
    with pytest.raises(ValueError, match="click_rounds"):
        Recipe(click_rounds="some")  # type: ignore[arg-type]


def test_too_few_series_for_early_stopping_train_on_every_case(lite_parent, real_cases, tmp_path):
    # Two series (brain1, brain2) are fewer than the 4 a validation split needs: nothing is set aside.
    recipe = Recipe(**{**TINY, "min_validation_groups": 4, "max_clicks": 1})
    result = fine_tune(lite_parent, real_cases[:4] + real_cases[-2:], tmp_path / "v.pth", recipe)
    assert result.validation_case_ids == [] and len(result.case_ids) == 6
    assert result.stop_reason == "max-epochs" and result.best_epoch == 1


@pytest.fixture(scope="module")
def candidate(lite_parent, real_cases, tmp_path_factory):
    parent_before = tensor_digest(lite_parent.state_dict(), ("",))
    labelled = [
        first_prediction(SamPredictor("lite_medsam", "torch", "cpu", model=lite_parent), c)
        for c in real_cases
    ]
    events: list[TrainingProgress] = []
    path = tmp_path_factory.mktemp("versions") / "v2.pth"
    result = train_candidate(lite_parent, labelled, path, Recipe(**TINY), on_progress=events.append)
    assert tensor_digest(lite_parent.state_dict(), ("",)) == parent_before  # the serving model is untouched
    return result, events


def test_the_candidate_keeps_the_parents_encoder_bytes_and_loads_strictly(
    candidate, lite_weights_file, lite_parent
):
    result, _ = candidate
    saved = torch.load(result.checkpoint_path, map_location="cpu", weights_only=True)
    original = torch.load(lite_weights_file, map_location="cpu", weights_only=True)

    assert sorted(saved) == sorted(original)  # the same keys
    encoder_keys = [k for k in original if k.startswith("image_encoder.")]
    assert encoder_keys
    for key in encoder_keys:
        assert saved[key].dtype == original[key].dtype
        assert saved[key].numpy().tobytes() == original[key].numpy().tobytes(), key
    assert encoder_digest(saved) == encoder_digest(original) == result.encoder_sha256
    changed = [k for k in original if not torch.equal(saved[k], original[k])]
    assert changed and all(k.startswith(("prompt_encoder.", "mask_decoder.")) for k in changed)

    model = build_model_version(
        "lite_medsam", result.checkpoint_path, result.sha256, clicks_trained=result.clicks_trained
    )
    assert model.checkpoint_sha256 == result.sha256
    # Trained with corrective clicks: the worker's click guard (for box-only models) is off for it.
    assert not lite_parent.clicks_trained
    assert result.clicks_trained and model.clicks_trained
    load_checkpoint(model, result.checkpoint_path, "lite_medsam")  # strict: every key, every shape
    with pytest.raises(CheckpointError, match="SHA-256"):
        build_model_version("lite_medsam", result.checkpoint_path, "0" * 64)


def test_the_run_reports_progress_curves_and_its_recipe(candidate, real_cases):
    result, events = candidate
    steps = [e for e in events if e.validation is None]
    validations = [e for e in events if e.validation is not None]

    assert result.steps == len(steps) == len(result.loss_curve) >= 1
    assert [e.step for e in steps] == list(range(1, result.steps + 1))
    assert all(e.loss is not None and np.isfinite(e.loss) for e in steps)
    assert [v.epoch for v in validations] == [0, 1]  # the parent, then each epoch
    assert len(validations[0].validation["dice_per_click"]) == 1 + Recipe().validation_clicks
    assert {e["epoch"] for e in result.validation_curve} == {0, 1}
    assert (
        result.recipe["lr"] == TINY["lr"] and result.recipe["oversampling"]["strategy"] == "hardest-corrected"
    )
    assert sorted(result.case_ids + result.validation_case_ids) == sorted(c.case_id for c in real_cases)
    assert not {c.split(":")[0] for c in result.case_ids} & {
        c.split(":")[0] for c in result.validation_case_ids
    }


def test_the_candidate_gives_the_same_masks_through_openvino_as_through_torch(
    candidate, serving_parent, real_cases, tmp_path, monkeypatch
):
    from annotator import model_serving

    result, _ = candidate
    model = build_model_version("lite_medsam", result.checkpoint_path, result.sha256)
    export = export_for_openvino(model, serving_parent, tmp_path)
    assert export is not None and export.name.startswith(f"lite_medsam-{result.sha256[:16]}")
    # A worker serving the promoted version (annotator/model_serving.py) on OpenVINO, its MODEL_DIR here
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("INFERENCE_BACKEND", "openvino")
    served = model_serving.build_predictor("lite_medsam", result.checkpoint_path, result.sha256)
    assert served.describe()["backend"] == "openvino" and served.runner.export_dir == export
    assert served.describe()["decoder_precision"] == "f32"
    # The same export with the decoder in bf16, as the base model is served on this CPU
    rounded_runner = OpenVINORunner(
        model, cache_root=tmp_path, key=export_key("lite_medsam", result.sha256), decoder_precision="bf16"
    )
    assert rounded_runner.export_dir == export
    rounded = SamPredictor("lite_medsam", backend="torch", device="cpu", model=model)
    rounded.runner = rounded_runner
    reference = SamPredictor("lite_medsam", backend="torch", device="cpu", model=model)

    def agreement(predictor: SamPredictor) -> list[float]:
        scores = []
        for case in real_cases:
            ys, xs = np.nonzero(case.final_mask)
            box = np.array([[xs.min(), ys.min(), xs.max(), ys.max()]], dtype=float)
            a = predictor.decode(case.embedding, case.image_size, boxes=box).masks[0, 0]
            b = reference.decode(case.embedding, case.image_size, boxes=box).masks[0, 0]
            scores.append(float(2 * (a & b).sum() / (a.sum() + b.sum())))
        return scores

    # The served version's masks are its torch masks (a bf16 decoder would round them visibly: measured
    # 0.946 mean here; scripts/bench_decoder_precision.py measures both)
    exact = agreement(served)
    assert np.mean(exact) >= 0.99 and min(exact) >= 0.97, exact
    assert np.mean(agreement(rounded)) >= 0.9  # only guards the export itself against breaking


def test_cancelling_stops_training_and_writes_no_checkpoint(lite_parent, real_cases, tmp_path):
    events: list[TrainingProgress] = []

    def should_stop() -> bool:  # the job's row says "cancelled" once the first step is done
        return any(e.validation is None for e in events)

    target = tmp_path / "out" / "cancelled.pth"
    parent_before = tensor_digest(lite_parent.state_dict(), ("",))
    with pytest.raises(TrainingCancelled):
        fine_tune(
            lite_parent,
            real_cases[:4],
            target,
            Recipe(**{**TINY, "max_epochs": 5, "validation_fraction": 0.0}),
            on_progress=events.append,
            should_stop=should_stop,
        )
    assert len([e for e in events if e.validation is None]) == 1
    assert tensor_digest(lite_parent.state_dict(), ("",)) == parent_before  # the active version untouched
    assert not target.exists()
    assert not target.parent.exists() or list(target.parent.iterdir()) == []
