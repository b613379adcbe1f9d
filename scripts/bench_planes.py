"""Box → mask on coronal and sagittal slices of thick-slice volumes, with and without resampling to square
pixels: the numbers behind the planes' design (issue 15) and the threshold of tests/browser/test_viewer_planes.py.

    .venv/bin/python -m scripts.bench_planes [--cases lung1 lung2 brain1] [--planes coronal sagittal]

For every coronal or sagittal slice through a pyradiomics lesion (at least ``--min-area`` voxels), the
model gets a tight box around the lesion twice: on the slice as stored (one row per 5–6.5 mm slice) and on
the slice resampled to square pixels as the viewer and the workers do (``ml_worker.planes``: linear
intensities, box on the display grid, mask mapped back to the voxels by majority). Dice is against the
reference on the voxel grid in both cases. CT uses the lung window, MR the volume's 0.5–99.5 percentiles.
The last line is one JSON object: per case and plane, the mean Dice of each way and the number of slices.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from ml_worker import planes, serving
from ml_worker.evaluation.dataset import load_volume, model_intensities
from ml_worker.sam.predictor import SamPredictor
from ml_worker.sam.transforms import to_model_input, window_ct
from ml_worker.windows import WINDOW_PRESETS
from scripts.fetch_data import pyradiomics


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum() + b.sum())
    return 2 * float((a & b).sum()) / total if total else 1.0


def box_of(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.asarray([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], dtype=np.float64)


def segment(predictor: SamPredictor, image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The model's mask for a tight box around ``reference`` on a uint8 ``image`` of the same grid."""
    embedding = predictor.embed(to_model_input(np.ascontiguousarray(image)))
    return predictor.decode(embedding, image.shape[:2], boxes=box_of(reference)).masks[0, 0]


def measure(predictor: SamPredictor, case: str, plane: str, min_area: int) -> list[dict[str, float]]:
    root = pyradiomics()
    image, labels = load_volume(root / f"{case}_image.nrrd"), load_volume(root / f"{case}_label.nrrd")
    reference = labels.data > 0
    ct = case.startswith("lung")
    lung = WINDOW_PRESETS["lung"]
    scaled = None if ct else model_intensities(image.data, "other")[0]
    grid = planes.plane_grid(image.data.shape, image.spacing, plane)
    normal = {"coronal": 1, "sagittal": 2}[plane]
    areas = reference.sum(axis=tuple(a for a in range(3) if a != normal))
    rows = []
    for index in np.flatnonzero(areas >= min_area):
        truth = planes.voxel_plane(reference, plane, int(index))
        if ct:
            hu = planes.voxel_plane(image.data, plane, int(index))
            stored = window_ct(hu, lung.level, lung.width)
            resampled = window_ct(planes.resample_image(hu, grid.display_shape), lung.level, lung.width)
        else:
            stored = planes.voxel_plane(scaled, plane, int(index))
            resampled = planes.resample_image(stored, grid.display_shape)
        on_voxels = segment(predictor, stored, truth)
        on_display = segment(predictor, resampled, planes.mask_to_display(truth, grid))
        back = planes.mask_to_voxels(on_display, grid)
        rows.append({"index": int(index), "stored": dice(on_voxels, truth), "resampled": dice(back, truth)})
        print(
            f"{case} {plane} {int(index)}: stored {rows[-1]['stored']:.3f}  resampled {rows[-1]['resampled']:.3f}"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=["lung1", "lung2", "brain1"])
    parser.add_argument(
        "--planes", nargs="+", default=["coronal", "sagittal"], choices=["coronal", "sagittal"]
    )
    parser.add_argument("--min-area", type=int, default=20, help="voxels of the lesion on a slice")
    args = parser.parse_args()
    predictor = serving.get_predictor()
    summary = {}
    for case in args.cases:
        for plane in args.planes:
            rows = measure(predictor, case, plane, args.min_area)
            summary[f"{case}:{plane}"] = {
                "slices": len(rows),
                "stored_dice": round(float(np.mean([r["stored"] for r in rows])), 3),
                "resampled_dice": round(float(np.mean([r["resampled"] for r in rows])), 3),
            }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
