"""How a fine-tuned decoder's masks through OpenVINO agree with its torch fp32 masks, with the decoder
compiled in bf16 and in f32, and what each decode costs (issue 11: which precision serves trained versions).

    .venv/bin/python -m scripts.bench_decoder_precision [--epochs N] [--json OUT]

Fine-tunes LiteMedSAM briefly on the pyradiomics brain1/brain2 tumour slices (the cases of
tests/training/conftest.py, the recipe of tests/training/test_training_real.py unless ``--epochs``), converts it
for OpenVINO next to the base model's export, and decodes every case's tight box through torch fp32 (the
reference), OpenVINO with a bf16 decoder and OpenVINO with an f32 decoder. Prints mean/min mask Dice against
torch and the median decode time of each, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ml_worker.active_learning.loop import export_for_openvino, first_prediction, train_candidate
from ml_worker.evaluation.clicks import box_from_mask
from ml_worker.evaluation.dataset import find_pairs, iter_cases
from ml_worker.sam.build import build_model, build_model_version
from ml_worker.sam.predictor import SamPredictor
from ml_worker.training.cases import TrainingCase
from ml_worker.training.trainer import Recipe
from ml_worker.weights import ensure_lite_medsam

REPEATS = 5  # decodes per case and backend for the timing (the median over all of them is printed)


def brain_cases(encoder: SamPredictor) -> list[TrainingCase]:
    """The 10 axial tumour slices of pyradiomics brain1 (7) and brain2 (3), embedded by ``encoder`` (also the
    real cases of the slow training tests, tests/training/conftest.py)."""
    from scripts.fetch_data import pyradiomics_lesions

    root = pyradiomics_lesions()
    pairs = [p for p in find_pairs(root) if p.name in ("brain1.nrrd", "brain2.nrrd")]
    cases = []
    for case in iter_cases(root, axis="axial", pairs=pairs):
        rgb = np.repeat(case.image[:, :, None], 3, axis=2)
        cases.append(
            TrainingCase(
                case_id=case.case_id,
                series_id=case.source,
                slice_index=case.slice_index,
                label=case.label,
                embedding=encoder.embed(rgb),
                image_size=case.reference.shape,
                final_mask=case.reference,
                spacing=case.spacing,
            )
        )
    return cases


def measure(predictor: SamPredictor, reference: SamPredictor, cases: list[TrainingCase]) -> dict[str, float]:
    dice, seconds = [], []
    for case in cases:
        box = box_from_mask(case.final_mask)[None]
        want = reference.decode(case.embedding, case.image_size, boxes=box).masks[0, 0]
        for _ in range(REPEATS):
            start = time.perf_counter()
            got = predictor.decode(case.embedding, case.image_size, boxes=box).masks[0, 0]
            seconds.append(time.perf_counter() - start)
        dice.append(float(2 * (got & want).sum() / max(1, got.sum() + want.sum())))
    return {
        "mean_dice": round(statistics.fmean(dice), 4),
        "min_dice": round(min(dice), 4),
        "decode_ms_median": round(1000 * statistics.median(seconds), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    ensure_lite_medsam()
    parent = build_model("lite_medsam")
    serving = SamPredictor("lite_medsam", backend="openvino", device="cpu")
    cases = brain_cases(serving)
    torch_parent = SamPredictor("lite_medsam", "torch", "cpu", model=parent)
    labelled = [first_prediction(torch_parent, c) for c in cases]
    recipe = Recipe(
        batch_size=4,
        max_epochs=args.epochs,
        max_clicks=2,
        validation_fraction=0.3,
        min_validation_groups=2,
        lr=1e-4,
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = train_candidate(parent, labelled, Path(tmp) / "candidate.pth", recipe)
        model = build_model_version("lite_medsam", result.checkpoint_path, result.sha256)
        export_for_openvino(model, serving, Path(tmp))
        reference = SamPredictor("lite_medsam", backend="torch", device="cpu", model=model)
        report: dict[str, object] = {"cases": len(cases), "epochs": result.epochs_run}
        for precision in ("bf16", "f32"):
            served = SamPredictor(
                "lite_medsam",
                backend="openvino",
                model=model,
                model_dir_path=tmp,
                decoder_precision=precision,
            )
            report[f"decoder_{precision}"] = measure(served, reference, cases)
        report["torch_fp32"] = {"decode_ms_median": measure(reference, reference, cases)["decode_ms_median"]}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
