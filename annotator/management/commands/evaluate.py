"""``manage.py evaluate``: simulated box + click prompts on an image/label dataset (ml_worker.evaluation)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml_worker.evaluation.dataset import AXES, MODALITIES, DatasetError
from ml_worker.evaluation.runner import CaseResult, EvalConfig, EvaluationError, evaluate
from ml_worker.evaluation.text import TABLE_HEADER, format_case, format_summary
from ml_worker.sam.errors import SamError
from ml_worker.windows import WINDOW_PRESETS


def _label_list(value: str) -> tuple[int, ...]:
    try:
        labels = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"labels must be comma-separated integers, got {value!r}") from None
    if not labels:
        raise argparse.ArgumentTypeError("give at least one label")
    return labels


class Command(BaseCommand):
    help = (
        "Evaluate a model on a dataset folder (images/ + labels/ with the same file names): box prompt from the "
        "reference, then corrective clicks; DSC, NSD, NoC@90 and time per case."
    )
    requires_system_checks: list[str] = []
    _header_done: bool

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", required=True, help="dataset folder holding images/ and labels/")
        parser.add_argument("--json", required=True, dest="json_out", help="write the report here")
        parser.add_argument(
            "--model", default="lite_medsam", help="model name or version (default lite_medsam)"
        )
        parser.add_argument("--axis", choices=AXES, default="axial", help="slicing axis for volumes")
        parser.add_argument("--labels", type=_label_list, default=None, help="e.g. 1,2 (default: all)")
        parser.add_argument(
            "--min-area", type=int, default=20, help="pixels of a label on a slice (default 20)"
        )
        parser.add_argument(
            "--box-jitter", type=int, default=0, help="max outward shift of each box side, px"
        )
        parser.add_argument(
            "--clicks", type=int, default=5, help="corrective clicks after the box (default 5)"
        )
        parser.add_argument(
            "--no-mask-input",
            action="store_true",
            help="do not feed the previous logits back with each click",
        )
        parser.add_argument(
            "--click-guard",
            action="store_true",
            help="refuse clicks as the viewer does for models not trained on clicks (ml_worker/click_guard.py)",
        )
        parser.add_argument(
            "--modality",
            choices=MODALITIES,
            default="auto",
            help="ct: window; other: percentile clipping; auto: CT when min <= -500",
        )
        parser.add_argument(
            "--window",
            choices=sorted(WINDOW_PRESETS),
            default="soft_tissue",
            help="CT window preset (default soft_tissue)",
        )
        parser.add_argument("--tolerance", type=float, default=2.0, help="NSD tolerance in mm (default 2)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the box jitter")
        parser.add_argument("--max-cases", type=int, default=None, help="stop after this many cases")

    def _print_case(self, result: CaseResult) -> None:
        if not self._header_done:
            self.stdout.write(TABLE_HEADER)
            self._header_done = True
        self.stdout.write(format_case(result))

    def handle(self, *args: Any, **options: Any) -> None:
        self._header_done = False
        try:
            config = EvalConfig(
                model=options["model"],
                axis=options["axis"],
                labels=options["labels"],
                min_area=options["min_area"],
                box_jitter=options["box_jitter"],
                clicks=options["clicks"],
                feed_mask=not options["no_mask_input"],
                modality=options["modality"],
                window=options["window"],
                tolerance_mm=options["tolerance"],
                seed=options["seed"],
                max_cases=options["max_cases"],
                click_guard=options["click_guard"],
            )
            report = evaluate(options["data"], config, on_case=self._print_case)
        except (ValueError, DatasetError, EvaluationError, SamError) as exc:
            raise CommandError(str(exc)) from exc
        report.write_json(options["json_out"])
        self.stdout.write("")
        self.stdout.write(format_summary(report.summary))
        self.stdout.write(f"report: {options['json_out']}")
