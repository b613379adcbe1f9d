"""Benchmark the model backends against the PyTorch fp32 reference, in one run, on real slices.

    .venv/bin/python -m scripts.bench_model [--model lite_medsam] [--encoder-runs 7] [--decoder-runs 30]

For each backend (OpenVINO on CPU; torch on CUDA when a GPU is present) and for the torch fp32 CPU
reference it prints encoder ms per slice (``predictor.embed``: preprocessing + encoder) and decoder ms per
box prompt (``predictor.decode``: prompt encoding + decoder + resizing to the slice), as medians of warm
runs. Backend and reference calls are interleaved so that both see the same load on a shared machine.
It also prints the Dice between each backend's masks and the reference's masks over box prompts (the
ground-truth box and jittered boxes) on two real slices (pyradiomics lung1 CT, brain1 MR).

The last line is one JSON object: backend, encoder_ms, decoder_ms, reference_encoder_ms,
reference_decoder_ms, dice_vs_reference (the mean; the minimum is printed above it).
Targets on the 2-core CPU: encoder <= 350 ms (>= 4x the reference), decoder <= 25 ms, Dice >= 0.99.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import nrrd
import numpy as np
import torch

from ml_worker.sam.predictor import SamPredictor
from ml_worker.sam.transforms import percentile_scale, to_model_input, window_ct
from ml_worker.windows import WINDOW_PRESETS
from scripts.fetch_data import pyradiomics


def load_slices() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, (H, W, 3) uint8 model input, (H, W) bool lesion)`` for one lesion slice per case."""
    root = pyradiomics()
    out = []
    for case, z in (("lung1", 33), ("brain1", 15)):
        image, _ = nrrd.read(str(root / f"{case}_image.nrrd"))
        label, _ = nrrd.read(str(root / f"{case}_label.nrrd"))
        image, label = image.transpose(2, 1, 0), label.transpose(2, 1, 0)  # (z, y, x)
        scaled = (
            window_ct(image, *WINDOW_PRESETS["lung"]) if case.startswith("lung") else percentile_scale(image)
        )
        out.append((f"{case}[z={z}]", to_model_input(scaled[z]), label[z] > 0))
    return out


def prompt_boxes(mask: np.ndarray, n_jitter: int, rng: np.random.Generator) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float64)
    jitter = rng.uniform(-5, 5, size=(n_jitter, 4))
    return np.vstack([box, box + jitter])


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * (a & b).sum() / total)


def timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="lite_medsam")
    parser.add_argument("--encoder-runs", type=int, default=7)
    parser.add_argument("--decoder-runs", type=int, default=30)
    args = parser.parse_args()

    t0 = time.perf_counter()
    reference = SamPredictor(args.model, backend="torch", device="cpu")
    print(f"reference: {reference.describe()} (built in {time.perf_counter() - t0:.1f} s)")
    backends: list[SamPredictor] = []
    t0 = time.perf_counter()
    ov = SamPredictor(args.model, backend="openvino", model=reference.model)
    print(
        f"openvino: {ov.describe()} (ready in {time.perf_counter() - t0:.1f} s, conversion cached after the first run)"
    )
    if ov.runner.name == "openvino":
        backends.append(ov)
    if torch.cuda.is_available():
        backends.append(SamPredictor(args.model, backend="torch", device="cuda"))

    slices = load_slices()
    rng = np.random.default_rng(0)
    results = []
    for backend in backends:
        label = f"{backend.runner.name}/{backend.runner.device}/{backend.runner.precision}"
        enc_b, enc_r, dec_b, dec_r, dices = [], [], [], [], []
        for name, image, mask in slices:
            emb_r, emb_b = reference.embed(image), backend.embed(image)  # warm-up
            if name == slices[0][0]:
                for _ in range(args.encoder_runs):
                    enc_r.append(timed(reference.embed, image))
                    enc_b.append(timed(backend.embed, image))
            boxes = prompt_boxes(mask, 4, rng)
            ref_masks = reference.decode(emb_r, mask.shape, boxes=boxes).masks[:, 0]
            out_masks = backend.decode(emb_b, mask.shape, boxes=boxes).masks[:, 0]
            per_box = [dice(r, o) for r, o in zip(ref_masks, out_masks, strict=True)]
            dices.extend(per_box)
            gt = [dice(m, mask) for m in (ref_masks[0], out_masks[0])]
            print(
                f"{label} {name}: Dice vs reference per box {np.round(per_box, 4).tolist()}; "
                f"vs ground truth: reference {gt[0]:.3f}, backend {gt[1]:.3f}"
            )
            if name == slices[0][0]:
                box = boxes[:1]
                for _ in range(3):
                    (
                        reference.decode(emb_r, mask.shape, boxes=box),
                        backend.decode(emb_b, mask.shape, boxes=box),
                    )
                for _ in range(args.decoder_runs):
                    dec_r.append(timed(reference.decode, emb_r, mask.shape, boxes=box))
                    dec_b.append(timed(backend.decode, emb_b, mask.shape, boxes=box))
        row = {
            "backend": backend.runner.name
            if backend.runner.device == "cpu"
            else f"torch-{backend.runner.device}",
            "encoder_ms": round(statistics.median(enc_b), 1),
            "decoder_ms": round(statistics.median(dec_b), 1),
            "reference_encoder_ms": round(statistics.median(enc_r), 1),
            "reference_decoder_ms": round(statistics.median(dec_r), 1),
            "dice_vs_reference": round(float(np.mean(dices)), 4),
        }
        speedup = row["reference_encoder_ms"] / row["encoder_ms"]
        print(
            f"{label}: encoder {row['encoder_ms']} ms/slice (reference {row['reference_encoder_ms']} ms, "
            f"{speedup:.1f}x), decoder {row['decoder_ms']} ms/prompt (reference {row['reference_decoder_ms']} ms), "
            f"Dice vs reference mean {row['dice_vs_reference']} min {min(dices):.4f} over {len(dices)} prompts"
        )
        results.append(row)
    if not results:
        raise SystemExit(f"no optimised backend available: {ov.describe()['fallback_reason']}")
    print(json.dumps(results[0]))


if __name__ == "__main__":
    main()
