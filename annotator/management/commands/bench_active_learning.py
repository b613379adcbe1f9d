"""``manage.py bench_active_learning``: the active-learning loop on a labelled dataset (ml_worker.active_learning.bench)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml_worker.active_learning.bench import BenchConfig, BenchError, run_bench
from ml_worker.active_learning.promotion import PromotionRule
from ml_worker.active_learning.selection import QUEUE_STRATEGIES, TRAINING_STRATEGIES
from ml_worker.evaluation.dataset import AXES, MODALITIES, DatasetError
from ml_worker.evaluation.runner import EvaluationError
from ml_worker.sam.errors import SamError
from ml_worker.training.prompts import CLICK_MODES
from ml_worker.training.recipe import CLICK_ROUNDS, GRAD_ROUNDS
from ml_worker.training.trainer import Recipe, TrainingError
from ml_worker.windows import WINDOW_PRESETS


def _int_list(value: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one value")
    return values


def _name_list(value: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    if not names:
        raise argparse.ArgumentTypeError("give at least one name")
    return names


def _axes(value: str) -> tuple[str, ...]:
    axes = _name_list(value)
    bad = [a for a in axes if a not in AXES]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown axes {bad}; choose from {', '.join(AXES)}")
    return axes


class Command(BaseCommand):
    help = (
        "Active-learning bench: embed a labelled dataset once, fine-tune LiteMedSAM on rounds of 'annotated' "
        "cases with the training job's own function, evaluate held-out cases before and after each round."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", required=True, help="dataset folder holding images/ and labels/")
        parser.add_argument("--json", required=True, dest="json_out", help="write the result here")
        parser.add_argument("--labels", type=_int_list, default=None, help="labels to train on, e.g. 1,2")
        parser.add_argument(
            "--holdout-labels", type=_int_list, default=None, help="evaluate on these labels only"
        )
        parser.add_argument(
            "--holdout-volumes", type=_name_list, default=None, help="file names of held-out volumes"
        )
        parser.add_argument("--holdout-fraction", type=float, default=0.3, help="hash split by volume")
        parser.add_argument("--axis", type=_axes, default=("axial",), help="one or more, e.g. axial,coronal")
        parser.add_argument(
            "--stored-grid",
            action="store_true",
            help="coronal/sagittal slices on the voxel grid (default: square pixels, as the app shows them)",
        )
        parser.add_argument("--rounds", type=int, default=1)
        parser.add_argument("--cases-per-round", type=int, default=200)
        parser.add_argument("--strategy", choices=QUEUE_STRATEGIES, default="random", help="next-case order")
        parser.add_argument("--training-strategy", choices=TRAINING_STRATEGIES, default="hardest-corrected")
        parser.add_argument("--boost", type=float, default=3.0, help="over-sampling of the hardest cases")
        parser.add_argument("--lr", type=float, default=Recipe.lr)
        parser.add_argument("--epochs", type=int, default=Recipe.max_epochs)
        parser.add_argument("--patience", type=int, default=Recipe.patience)
        parser.add_argument("--batch-size", type=int, default=Recipe.batch_size)
        parser.add_argument("--max-clicks", type=int, default=Recipe.max_clicks)
        parser.add_argument("--click-mode", choices=CLICK_MODES, default=Recipe.click_mode)
        parser.add_argument("--click-rounds", choices=CLICK_ROUNDS, default=Recipe.click_rounds)
        parser.add_argument("--box-only-fraction", type=float, default=Recipe.box_only_fraction)
        parser.add_argument("--grad-rounds", choices=GRAD_ROUNDS, default=Recipe.grad_rounds)
        parser.add_argument(
            "--train-modules", choices=("decoder", "prompt_and_decoder"), default=Recipe.train_modules
        )
        parser.add_argument("--max-train-seconds", type=float, default=None, help="time budget per round")
        parser.add_argument("--bf16", action="store_true", help="bf16 autocast for training on CPU")
        parser.add_argument("--clicks", type=int, default=5, help="corrective clicks in the evaluation")
        parser.add_argument("--max-heldout", type=int, default=None, help="evaluate at most this many")
        parser.add_argument("--min-area", type=int, default=20)
        parser.add_argument("--modality", choices=MODALITIES, default="auto")
        parser.add_argument("--window", choices=sorted(WINDOW_PRESETS), default="soft_tissue")
        parser.add_argument("--tolerance", type=float, default=2.0, help="NSD tolerance in mm")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--cache-dir", default=None, help="embedding cache (default var/cache/al-embeddings)"
        )
        parser.add_argument("--keep-checkpoints", default=None, help="write candidate checkpoints here")

    def handle(self, *args: Any, **o: Any) -> None:
        try:
            recipe = Recipe(
                lr=o["lr"],
                max_epochs=o["epochs"],
                patience=o["patience"],
                batch_size=o["batch_size"],
                max_clicks=o["max_clicks"],
                click_mode=o["click_mode"],
                click_rounds=o["click_rounds"],
                box_only_fraction=o["box_only_fraction"],
                grad_rounds=o["grad_rounds"],
                train_modules=o["train_modules"],
                max_seconds=o["max_train_seconds"],
                cpu_bf16=o["bf16"],
                seed=o["seed"],
                split_by="structure" if o["holdout_labels"] else "series",
            )
            config = BenchConfig(
                data=Path(o["data"]),
                axes=o["axis"],
                square_pixels=not o["stored_grid"],
                labels=o["labels"],
                holdout_labels=o["holdout_labels"],
                holdout_series=o["holdout_volumes"],
                holdout_fraction=o["holdout_fraction"],
                rounds=o["rounds"],
                cases_per_round=o["cases_per_round"],
                queue_strategy=o["strategy"],
                training_strategy=o["training_strategy"],
                boost=o["boost"],
                recipe=recipe,
                rule=PromotionRule(),
                eval_clicks=o["clicks"],
                tolerance_mm=o["tolerance"],
                min_area=o["min_area"],
                modality=o["modality"],
                window=o["window"],
                max_heldout=o["max_heldout"],
                seed=o["seed"],
                cache_dir=Path(o["cache_dir"]) if o["cache_dir"] else None,
                checkpoint_dir=Path(o["keep_checkpoints"]) if o["keep_checkpoints"] else None,
            )
            result = run_bench(config, log=self.stdout.write)
        except (ValueError, BenchError, DatasetError, EvaluationError, SamError, TrainingError) as exc:
            raise CommandError(str(exc)) from exc
        Path(o["json_out"]).write_text(json.dumps(result, indent=2) + "\n")
        before = " ".join(f"{v:.3f}" for v in result["dice_per_click_before"])
        after = " ".join(f"{v:.3f}" for v in result["dice_per_click_after"])
        self.stdout.write("")
        self.stdout.write(f"cases: {result['cases_train']} trained on, {result['cases_heldout']} held out")
        self.stdout.write(f"held-out box DSC: {result['dsc_before']:.4f} → {result['dsc_after']:.4f}")
        self.stdout.write(f"Dice per click before: {before}")
        self.stdout.write(f"Dice per click after:  {after}")
        self.stdout.write(f"NoC@90: {result['noc90_before']:.2f} → {result['noc90_after']:.2f}")
        self.stdout.write(
            f"training: {result['train_seconds']:.1f} s wall, {result['train_cpu_seconds']:.0f} CPU s "
            f"(load average {result['load_average_start'][0]:.2f} at the start, "
            f"{result['load_average_end'][0]:.2f} at the end)"
        )
        self.stdout.write(f"report: {o['json_out']}")
        self.stdout.write(
            json.dumps({k: v for k, v in result.items() if k not in ("rounds", "config", "heldout")})
        )
