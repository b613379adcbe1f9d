"""Simulated-prompt evaluation of a promptable segmentation model on an image + label dataset.

For every case (:mod:`.dataset`): a box from the reference mask (tight, or jittered outwards as in MedSAM
training), then up to ``clicks`` corrective clicks placed as in the SAM experimental study
(:func:`.clicks.next_click`). Each corrective decode gets the box, every click so far and the previous
low-res logits as ``mask_input``, as SAM's interactive loop does. Reported per case and in aggregate:
DSC and NSD of the box prompt (the protocol of the MedSAM paper) and after the last click, Dice after each
click, clicks to reach Dice 0.9 (NoC@90) and wall-clock time. ``click_guard`` simulates the viewer's guard
for models not trained on clicks (:mod:`ml_worker.click_guard`) as the user's policy.

The library has no Django in it: ``manage.py evaluate`` and the active-learning loop both call
:func:`evaluate`.
"""

from __future__ import annotations

import dataclasses
import json
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ..click_guard import correction_region, keeps_quality
from .cases import CaseLike, EmbeddedCase
from .clicks import box_from_mask, next_click
from .dataset import Axis, Case, Modality, find_pairs, iter_cases
from .metrics import dice, normalized_surface_dice

DICE_TARGET = 0.9  # NoC@90: the standard interactive-segmentation target (RITM, SimpleClick, SAM study)


class EvaluationError(RuntimeError):
    """The evaluation cannot run (unknown model, no cases); the message says what to change."""


class DecodeOutput(Protocol):
    # Read-only, so that a frozen dataclass (the predictor's DecodeResult) satisfies it.
    @property
    def masks(self) -> np.ndarray: ...  # bool (N, K, H, W)
    @property
    def iou(self) -> np.ndarray: ...  # float (N, K)
    @property
    def low_res_logits(self) -> np.ndarray: ...  # float (N, K, 256, 256)


class Predictor(Protocol):
    """What the evaluation needs from ``ml_worker.sam.predictor.SamPredictor``."""

    def embed(self, image: np.ndarray) -> np.ndarray: ...

    def decode(
        self,
        embedding: np.ndarray,
        image_size: tuple[int, int],
        boxes: npt.ArrayLike | None = None,
        points: npt.ArrayLike | None = None,
        point_labels: npt.ArrayLike | None = None,
        mask_input: npt.ArrayLike | None = None,
        multimask: bool = False,
    ) -> DecodeOutput: ...

    def describe(self) -> dict: ...


# -- which model -----------------------------------------------------------------------------------

PredictorResolver = Callable[[str], Predictor | None]
# Tried in order by :func:`load_predictor`; a resolver returns ``None`` for names it does not know.
# The active-learning work adds one for registered model versions (e.g. ``lite_medsam@v3``).
PREDICTOR_RESOLVERS: list[PredictorResolver] = []


def _registry_model(name: str) -> Predictor | None:
    from ml_worker.sam.build import MODEL_REGISTRY
    from ml_worker.sam.predictor import SamPredictor

    if name not in MODEL_REGISTRY:
        return None
    return SamPredictor(model_name=name)


PREDICTOR_RESOLVERS.append(_registry_model)


def load_predictor(model: str) -> Predictor:
    """The predictor for a model name (``lite_medsam``, ``medsam_vit_b``, ...) or, later, a model version."""
    for resolve in PREDICTOR_RESOLVERS:
        predictor = resolve(model)
        if predictor is not None:
            return predictor
    from ml_worker.sam.build import MODEL_REGISTRY

    raise EvaluationError(f"unknown model {model!r}; known: {', '.join(sorted(MODEL_REGISTRY))}")


# -- configuration and results ---------------------------------------------------------------------


@dataclass(frozen=True)
class EvalConfig:
    model: str = "lite_medsam"
    axis: Axis = "axial"
    labels: tuple[int, ...] | None = None  # None: every non-zero label present
    min_area: int = 20  # pixels of a label on a slice for it to be a case
    box_jitter: int = 0  # pixels each box side may move outwards (0: tight box)
    clicks: int = 5  # corrective clicks after the box (N of NoC@90)
    # Feed the previous low-res logits back with each click, as SAM's interactive loop does. LiteMedSAM was
    # trained on boxes alone: on the 27 pyradiomics lesion slices its mean Dice goes 0.784 (box) → 0.658
    # after 5 clicks with the logits fed back, → 0.708 without them. False measures the latter.
    feed_mask: bool = True
    modality: Modality = "auto"
    window: str = "soft_tissue"  # CT window preset
    tolerance_mm: float = 2.0  # NSD tolerance τ in mm (the MedSAM paper reports NSD at τ = 2)
    seed: int = 0  # box jitter is drawn per case from (seed, case id): reproducible and order-free
    max_cases: int | None = None
    # Simulate the serving side's corrective-point guard (ml_worker/click_guard.py): a click outside the
    # region around the current mask, or one whose mask the model rates lower, is refused and the mask kept.
    # The simulated user stops clicking then (the next click would be the same one, refused again).
    click_guard: bool = False

    def __post_init__(self) -> None:
        if self.clicks < 0:
            raise ValueError(f"clicks must be >= 0, got {self.clicks}")
        if self.box_jitter < 0:
            raise ValueError(f"box jitter must be >= 0 pixels, got {self.box_jitter}")
        if self.tolerance_mm < 0:
            raise ValueError(f"NSD tolerance must be >= 0 mm, got {self.tolerance_mm}")
        if self.max_cases is not None and self.max_cases < 1:
            raise ValueError(f"max_cases must be >= 1, got {self.max_cases}")


@dataclass
class CaseResult:
    case_id: str
    source: str
    slice_index: int | None
    label: int
    area_px: int
    spacing_mm: tuple[float, float]
    preprocessing: str
    box: list[float]  # [x0, y0, x1, y1], image pixels
    dsc: float  # box prompt alone
    nsd: float
    dsc_final: float  # after the last click
    nsd_final: float
    dice_per_click: list[float]  # [box, after click 1, ...], always clicks + 1 long
    clicks: list[dict[str, Any]]  # [{"x", "y", "positive"}, ...] actually placed
    noc90: int
    reached90: bool
    seconds: float  # wall time of the case: embedding (if not shared), decodes, click placement
    embed_seconds: float  # 0 when the slice's embedding was computed for an earlier case
    decode_seconds: float
    # With ``click_guard``: why the clicks stopped early ("outside_region", "iou_dropped"), else None.
    guard_stop: str | None = None


@dataclass
class Report:
    summary: dict[str, Any]
    cases: list[CaseResult] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "cases": [dataclasses.asdict(c) for c in self.cases],
            "config": self.config,
            "model": self.model,
        }

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")


# -- the loop --------------------------------------------------------------------------------------


def case_rng(seed: int, case_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(case_id.encode())])


def noc(dice_per_click: Sequence[float], target: float = DICE_TARGET) -> tuple[int, bool]:
    """Clicks until Dice ≥ ``target`` (the box alone is 0 clicks) and whether it was reached; the maximum
    number of clicks when it never is."""
    for k, value in enumerate(dice_per_click):
        if value >= target:
            return k, True
    return len(dice_per_click) - 1, False


def evaluate_case(
    predictor: Predictor, case: CaseLike, config: EvalConfig, embedding: np.ndarray | None = None
) -> tuple[CaseResult, np.ndarray]:
    """Run the box + corrective-click protocol on one case; returns the result and the slice's embedding
    (pass it back for the next case on the same image to skip the encoder)."""
    start = time.perf_counter()
    embed_seconds = 0.0
    if embedding is None:
        if not isinstance(case, Case):
            raise EvaluationError(f"{case.case_id}: no image and no embedding to evaluate")
        embedding = predictor.embed(_three_channels(case.image))
        embed_seconds = time.perf_counter() - start
    reference = case.reference
    size = reference.shape
    box = box_from_mask(reference, config.box_jitter, case_rng(config.seed, case.case_id))

    decode_start = time.perf_counter()
    out = predictor.decode(embedding, size, boxes=box[None])
    decode_seconds = time.perf_counter() - decode_start
    mask, logits, iou = out.masks[0, 0], out.low_res_logits[:, :1], float(out.iou[0, 0])
    box_mask = mask
    guard_stop: str | None = None
    dice_curve = [dice(mask, reference)]
    points: list[tuple[int, int]] = []
    labels: list[int] = []
    placed: list[dict[str, Any]] = []
    for _ in range(config.clicks):
        click = next_click(mask, reference)
        if click is None:  # perfect: nothing left to correct
            break
        region = correction_region(mask) if config.click_guard else None
        if region is not None and not region.contains(click.x, click.y):
            guard_stop = "outside_region"
            break
        points.append((click.x, click.y))
        labels.append(click.label)
        placed.append({"x": click.x, "y": click.y, "positive": click.positive})
        decode_start = time.perf_counter()
        out = predictor.decode(
            embedding,
            size,
            boxes=box[None],
            points=np.asarray(points, dtype=np.float64)[None],
            point_labels=np.asarray(labels, dtype=np.int64)[None],
            mask_input=logits if config.feed_mask else None,
        )
        decode_seconds += time.perf_counter() - decode_start
        if config.click_guard and not keeps_quality(iou, float(out.iou[0, 0])):
            guard_stop = "iou_dropped"
            del points[-1], labels[-1], placed[-1]
            break
        mask, logits, iou = out.masks[0, 0], out.low_res_logits[:, :1], float(out.iou[0, 0])
        dice_curve.append(dice(mask, reference))
    seconds = time.perf_counter() - start
    # A case that became perfect early keeps its Dice for the clicks it did not need.
    dice_curve += [dice_curve[-1]] * (config.clicks + 1 - len(dice_curve))
    clicks_to_target, reached = noc(dice_curve)
    result = CaseResult(
        case_id=case.case_id,
        source=case.source,
        slice_index=case.slice_index,
        label=case.label,
        area_px=int(reference.sum()),
        spacing_mm=case.spacing,
        preprocessing=case.preprocessing,
        box=[float(v) for v in box],
        dsc=dice_curve[0],
        nsd=normalized_surface_dice(box_mask, reference, case.spacing, config.tolerance_mm),
        dsc_final=dice_curve[-1],
        nsd_final=normalized_surface_dice(mask, reference, case.spacing, config.tolerance_mm),
        dice_per_click=dice_curve,
        clicks=placed,
        noc90=clicks_to_target,
        reached90=reached,
        seconds=seconds,
        embed_seconds=embed_seconds,
        decode_seconds=decode_seconds,
        guard_stop=guard_stop,
    )
    return result, embedding


def _warm_up(predictor: Predictor) -> None:
    """Untimed first calls (embed, box decode, box + point + mask decode), so the first case's time does not
    include the runtime's first-call set-up (without it brain1's first case took 0.94 s, the next 0.70 s)."""
    image = np.zeros((64, 64, 3), np.uint8)
    embedding = predictor.embed(image)
    box = np.array([[8.0, 8.0, 40.0, 40.0]])
    first = predictor.decode(embedding, (64, 64), boxes=box)
    predictor.decode(
        embedding,
        (64, 64),
        boxes=box,
        points=np.array([[[20.0, 20.0]]]),
        point_labels=np.array([[1]]),
        mask_input=first.low_res_logits[:, :1],
    )


def _three_channels(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return float(np.mean(values)) if values else None


def summarize(results: Sequence[CaseResult], config: EvalConfig) -> dict[str, Any]:
    """Aggregate numbers: means over cases; ``noc90`` is the mean NoC@90 (unreached cases count
    ``clicks``), ``reached90`` the fraction of cases that reached Dice 0.9 within them."""
    curves = np.array([r.dice_per_click for r in results], dtype=np.float64).reshape(len(results), -1)
    by_label: dict[str, dict[str, Any]] = {}
    for lab in sorted({r.label for r in results}):
        subset = [r for r in results if r.label == lab]
        by_label[str(lab)] = {
            "n": len(subset),
            "mean_dsc": _mean(r.dsc for r in subset),
            "mean_nsd": _mean(r.nsd for r in subset),
            "noc90": _mean(r.noc90 for r in subset),
        }
    return {
        "n": len(results),
        "mean_dsc": _mean(r.dsc for r in results),
        "median_dsc": float(np.median([r.dsc for r in results])) if results else None,
        "mean_nsd": _mean(r.nsd for r in results),
        "noc90": _mean(r.noc90 for r in results),
        "reached90": _mean(float(r.reached90) for r in results),
        "max_clicks": config.clicks,
        "mean_dsc_final": _mean(r.dsc_final for r in results),
        "mean_nsd_final": _mean(r.nsd_final for r in results),
        "mean_dice_per_click": [float(v) for v in curves.mean(axis=0)] if results else [],
        "mean_seconds": _mean(r.seconds for r in results),
        "total_seconds": float(sum(r.seconds for r in results)),
        "nsd_tolerance_mm": config.tolerance_mm,
        "by_label": by_label,
        # the cases ending worse / better than their box prompt's Dice after the clicks
        "worse_than_box": sum(r.dsc_final < r.dsc for r in results),
        "better_than_box": sum(r.dsc_final > r.dsc for r in results),
        "click_guard": config.click_guard,
        "guard_stops": {
            reason: sum(r.guard_stop == reason for r in results)
            for reason in ("outside_region", "iou_dropped")
        },
    }


def evaluate(
    data_dir: str | Path,
    config: EvalConfig,
    predictor: Predictor | None = None,
    on_case: Callable[[CaseResult], None] | None = None,
    warm_up: bool = True,
) -> Report:
    """Evaluate ``config.model`` (or the given ``predictor``) on a dataset folder.

    The dataset is checked before the model is loaded, so a bad folder fails fast. ``on_case`` is called
    after each case (progress output). Raises :class:`EvaluationError` when no case qualifies.
    """
    pairs = find_pairs(data_dir)
    if predictor is None:
        predictor = load_predictor(config.model)
    cases = iter_cases(
        data_dir,
        axis=config.axis,
        labels=config.labels,
        min_area=config.min_area,
        modality=config.modality,
        window=config.window,
        pairs=pairs,
    )
    if warm_up:
        _warm_up(predictor)
    results: list[CaseResult] = []
    cached_key: str | None = None
    cached_embedding: np.ndarray | None = None
    for case in cases:
        if config.max_cases is not None and len(results) >= config.max_cases:
            break
        reuse = cached_embedding if case.image_key == cached_key else None
        result, cached_embedding = evaluate_case(predictor, case, config, reuse)
        cached_key = case.image_key
        results.append(result)
        if on_case is not None:
            on_case(result)
    if not results:
        labels = "every label" if config.labels is None else f"labels {list(config.labels)}"
        raise EvaluationError(
            f"no case in {data_dir}: no slice along {config.axis} has {config.min_area}+ pixels of {labels}"
        )
    return Report(
        summary=summarize(results, config),
        cases=results,
        config={**dataclasses.asdict(config), "data": str(data_dir)},
        model=predictor.describe(),
    )


def evaluate_embedded(
    predictor: Predictor,
    cases: Iterable[EmbeddedCase],
    config: EvalConfig,
    on_case: Callable[[CaseResult], None] | None = None,
) -> Report:
    """The same protocol and summary as :func:`evaluate`, on cases that bring their embedding: only the
    prompt encoder and mask decoder run (e.g. to compare two model versions sharing one image encoder on a
    held-out set). Raises :class:`EvaluationError` when ``cases`` is empty."""
    results: list[CaseResult] = []
    for case in cases:
        if config.max_cases is not None and len(results) >= config.max_cases:
            break
        result, _ = evaluate_case(predictor, case, config, np.asarray(case.embedding))
        results.append(result)
        if on_case is not None:
            on_case(result)
    if not results:
        raise EvaluationError("no case to evaluate")
    return Report(
        summary=summarize(results, config),
        cases=results,
        config=dataclasses.asdict(config),
        model=predictor.describe(),
    )
