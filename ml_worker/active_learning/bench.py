"""The active-learning loop on a dataset with reference masks, to measure what fine-tuning buys.

Used by ``manage.py bench_active_learning`` (and ``make bench-al``). On a folder in the ``manage.py
evaluate`` layout it:

1. embeds every slice holding a case once with the serving encoder (cached on disk, so reruns skip it);
2. splits the cases into a training pool and a held-out set: by whole volumes (a frozen hash of the
   series, or ``holdout_series``), or by labels (``holdout_labels``: e.g. train left, test right);
3. for each round: picks ``cases_per_round`` new cases from the pool with a queue strategy, "annotates"
   them (the reference mask stands in for the team's correction; the current model's box mask is the first
   prediction, which gives the correction effort), trains a candidate with
   :func:`~ml_worker.active_learning.loop.train_candidate` (the job's own function) on every case labelled
   so far, evaluates the active version and the candidate on the held-out cases in one run and applies the
   promotion rule; a promoted candidate becomes the parent of the next round.

``dsc_before`` / ``dice_per_click_before`` are LiteMedSAM's (the first round's parent);
``..._after`` are the last round's candidate's, promoted or not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.clicks import box_from_mask
from ..evaluation.dataset import AXES, find_pairs, iter_cases
from ..evaluation.runner import EvalConfig, Report
from ..sam.build import build_model, build_model_version
from ..sam.modeling import SamModel
from ..sam.predictor import SamPredictor
from ..training.cases import TrainingCase, split_by_labels, split_heldout, summarize_cases
from ..training.checkpoint import encoder_digest
from ..training.trainer import Recipe, TrainingProgress
from .loop import DEFAULT_OVERSAMPLING_BOOST, DEFAULT_TRAINING_STRATEGY, first_prediction, train_candidate
from .promotion import PromotionRule, decide, evaluate_version
from .selection import UnlabelledSlice, get_strategy, rank

Log = Callable[[str], None]


class BenchError(ValueError):
    """The bench cannot run as asked (no cases on one side of the split, unknown label...)."""


def default_cache_dir() -> Path:
    """``<repo>/var/cache/al-embeddings`` (``AL_EMBEDDING_CACHE`` overrides)."""
    env = os.environ.get("AL_EMBEDDING_CACHE")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "var" / "cache" / "al-embeddings"


@dataclass(frozen=True)
class BenchConfig:
    data: Path
    axes: tuple[str, ...] = ("axial",)
    # Coronal and sagittal slices resampled to square pixels, as the app shows them to the model.
    square_pixels: bool = True
    labels: tuple[int, ...] | None = None  # training labels (None: all but the held-out labels)
    holdout_labels: tuple[int, ...] | None = None
    holdout_series: tuple[str, ...] | None = None  # file names of held-out volumes
    holdout_fraction: float = 0.3  # hash split by volume when neither of the two above is given
    rounds: int = 1
    cases_per_round: int = 200
    queue_strategy: str = "random"
    training_strategy: str = DEFAULT_TRAINING_STRATEGY
    boost: float = DEFAULT_OVERSAMPLING_BOOST
    recipe: Recipe = field(default_factory=Recipe)
    rule: PromotionRule = field(default_factory=PromotionRule)
    eval_clicks: int = 5
    tolerance_mm: float = 2.0
    min_area: int = 20
    modality: str = "auto"
    window: str = "soft_tissue"
    model: str = "lite_medsam"
    embed_backend: str = "auto"  # the serving encoder (OpenVINO on CPU)
    device: str = "auto"  # training and evaluation decodes (torch)
    max_heldout: int | None = None
    seed: int = 0
    cache_dir: Path | None = None
    checkpoint_dir: Path | None = None  # keep candidates here (default: a temporary folder)

    def __post_init__(self) -> None:
        bad = [a for a in self.axes if a not in AXES]
        if not self.axes or bad:
            raise BenchError(f"axes must be among {', '.join(AXES)}, got {list(self.axes)}")
        if self.rounds < 1 or self.cases_per_round < 1:
            raise BenchError("rounds and cases per round must be >= 1")
        if self.eval_clicks < self.rule.clicks:
            raise BenchError(
                f"the promotion rule needs {self.rule.clicks} clicks; evaluating {self.eval_clicks}"
            )
        if self.holdout_labels is not None and self.holdout_series is not None:
            raise BenchError("hold out by labels or by volumes, not both")
        if (
            self.labels is not None
            and self.holdout_labels is not None
            and set(self.labels) & set(self.holdout_labels)
        ):
            raise BenchError("a label cannot be both trained on and held out")


# -- embeddings -------------------------------------------------------------------------------------


def _image_sha256(image: np.ndarray) -> str:
    arr = np.ascontiguousarray(image)
    digest = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    digest.update(arr.tobytes())
    return digest.hexdigest()


class EmbeddingStore:
    """Slice embeddings on disk (float16 ``.npy``), keyed by the model-input pixels and by what made them:
    model, image-encoder digest, backend and precision, preprocessing version. Atomic writes."""

    def __init__(self, root: Path, predictor: SamPredictor, encoder_sha256: str) -> None:
        runner = predictor.runner
        self.predictor = predictor
        self.dir = Path(root) / (
            f"{predictor.model_name}-{encoder_sha256[:16]}-{runner.name}-{runner.precision}-"
            f"{predictor.preprocessing_version}"
        )
        self.computed = 0
        self.loaded = 0
        self.seconds = 0.0

    def get(self, image: np.ndarray) -> np.ndarray:
        sha = _image_sha256(image)
        path = self.dir / sha[:2] / f"{sha}.npy"
        if path.exists():
            self.loaded += 1
            return np.load(path)
        start = time.perf_counter()
        rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
        embedding = self.predictor.embed(rgb).astype(np.float16)
        self.seconds += time.perf_counter() - start
        self.computed += 1
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{sha[:8]}-", suffix=".npy")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.save(handle, embedding)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return embedding


def load_cases(config: BenchConfig, store: EmbeddingStore, log: Log) -> list[TrainingCase]:
    """Every case of the dataset along each axis, with its slice embedding (one per slice, shared)."""
    labels = None
    if config.labels is not None:
        labels = tuple(sorted(set(config.labels) | set(config.holdout_labels or ())))
    pairs = find_pairs(config.data)
    out: list[TrainingCase] = []
    seen: set[str] = set()
    for axis in config.axes:
        embeddings: dict[str, np.ndarray] = {}
        for case in iter_cases(
            config.data,
            axis=axis,  # type: ignore[arg-type]
            labels=labels,
            min_area=config.min_area,
            modality=config.modality,  # type: ignore[arg-type]
            window=config.window,
            pairs=pairs,
            square_pixels=config.square_pixels,
        ):
            if case.case_id in seen:  # 2D images do not depend on the axis
                continue
            seen.add(case.case_id)
            if case.image_key not in embeddings:
                embeddings[case.image_key] = store.get(case.image)
            out.append(
                TrainingCase(
                    case_id=case.case_id,
                    series_id=case.source,
                    slice_index=case.slice_index,
                    label=case.label,
                    embedding=embeddings[case.image_key],
                    image_size=case.reference.shape,
                    final_mask=case.reference,
                    spacing=case.spacing,
                    meta={"axis": axis, "preprocessing": case.preprocessing},
                )
            )
        log(f"{axis}: {sum(1 for c in out if c.meta['axis'] == axis)} cases, {len(embeddings)} slices")
    return out


def split(
    config: BenchConfig, cases: Sequence[TrainingCase]
) -> tuple[list[TrainingCase], list[TrainingCase]]:
    """``(pool, heldout)`` as configured; raises :class:`BenchError` when a side is empty."""
    if config.holdout_labels is not None:
        pool, heldout = split_by_labels(cases, config.holdout_labels)
        how = f"labels {list(config.holdout_labels)}"
    elif config.holdout_series is not None:
        names = set(config.holdout_series)
        unknown = names - {c.series_id for c in cases}
        if unknown:
            raise BenchError(f"no cases in held-out volumes {sorted(unknown)}")
        pool = [c for c in cases if c.series_id not in names]
        heldout = [c for c in cases if c.series_id in names]
        how = f"volumes {sorted(names)}"
    else:
        pool, heldout = split_heldout(cases, config.holdout_fraction, salt=f"bench:{config.seed}")
        how = f"a hash of the volume (fraction {config.holdout_fraction}, seed {config.seed})"
    if config.labels is not None:
        pool = [c for c in pool if c.label in set(config.labels)]
    if not pool or not heldout:
        raise BenchError(
            f"holding out {how} leaves {len(pool)} training and {len(heldout)} held-out cases: "
            "choose other held-out volumes or labels"
        )
    if config.max_heldout is not None and len(heldout) > config.max_heldout:
        step = len(heldout) / config.max_heldout
        heldout = [heldout[int(i * step)] for i in range(config.max_heldout)]
    return pool, heldout


# -- the loop -------------------------------------------------------------------------------------


def _summary(report: Report) -> dict[str, Any]:
    s = report.summary
    keys = (
        "n",
        "mean_dsc",
        "median_dsc",
        "mean_nsd",
        "noc90",
        "reached90",
        "mean_dsc_final",
        "mean_nsd_final",
    )
    out = {k: s[k] for k in keys}
    out["dice_per_click"] = out["mean_dice_per_click"] = s["mean_dice_per_click"]  # the rule reads the latter
    out["by_label"] = s["by_label"]
    by_axis: dict[str, list[list[float]]] = {}
    for case in report.cases:
        parts = case.case_id.split(":")
        axis = parts[1] if len(parts) >= 4 and parts[1] in AXES else "2d"
        by_axis.setdefault(axis, []).append(case.dice_per_click)
    out["by_axis"] = {
        axis: {"n": len(curves), "dice_per_click": [float(v) for v in np.mean(curves, axis=0)]}
        for axis, curves in by_axis.items()
    }
    return out


def _torch_predictor(config: BenchConfig, model: SamModel) -> SamPredictor:
    return SamPredictor(config.model, backend="torch", device=config.device, model=model)


def _progress_logger(log: Log, every: int = 10) -> Callable[[TrainingProgress], None]:
    def on_progress(p: TrainingProgress) -> None:
        if p.validation is not None:
            curve = " ".join(f"{v:.3f}" for v in p.validation["dice_per_click"])
            log(f"  epoch {p.epoch}: validation Dice per click {curve} (score {p.validation['score']:.4f})")
        elif p.step % every == 0:
            log(f"  epoch {p.epoch} step {p.step}: loss {p.loss:.4f} ({p.seconds:.0f} s)")

    return on_progress


def run_bench(config: BenchConfig, log: Log = print) -> dict[str, Any]:
    """Run the loop; returns the JSON-ready result (see the module docstring)."""
    started = time.perf_counter()
    load_start = os.getloadavg()
    find_pairs(config.data)  # a bad folder fails before the model is loaded
    parent_model = build_model(config.model)
    encoder_sha = encoder_digest(parent_model.state_dict())
    embedder = SamPredictor(config.model, backend=config.embed_backend, device="auto")
    store = EmbeddingStore(config.cache_dir or default_cache_dir(), embedder, encoder_sha)
    cases = load_cases(config, store, log)
    log(
        f"embeddings: {store.computed} computed ({store.seconds:.1f} s, {embedder.runner.name} "
        f"{embedder.runner.precision}), {store.loaded} from {store.dir}"
    )
    pool, heldout = split(config, cases)
    log(f"training pool {len(pool)} cases, held-out {len(heldout)} cases")
    eval_config = EvalConfig(
        model=config.model, clicks=config.eval_clicks, tolerance_mm=config.tolerance_mm, seed=config.seed
    )
    tmp_dir = None
    checkpoint_dir = config.checkpoint_dir
    if checkpoint_dir is None:
        tmp_dir = tempfile.TemporaryDirectory(prefix="bench-al-")
        checkpoint_dir = Path(tmp_dir.name)
    active_model = parent_model
    active_predictor = _torch_predictor(config, active_model)
    reports: dict[str, dict[str, Any]] = {}  # checkpoint SHA-256 → held-out summary

    def heldout_summary(sha: str, predictor: SamPredictor) -> dict[str, Any]:
        if sha not in reports:
            t = time.perf_counter()
            reports[sha] = _summary(evaluate_version(predictor, heldout, eval_config))
            reports[sha]["seconds"] = time.perf_counter() - t
        return reports[sha]

    labelled: list[TrainingCase] = []
    remaining = list(pool)
    rounds: list[dict[str, Any]] = []
    try:
        for r in range(1, config.rounds + 1):
            if not remaining:
                log(f"round {r}: the training pool is used up")
                break
            t_select = time.perf_counter()
            queue = get_strategy(config.queue_strategy, decoder=active_predictor)
            slices = [
                UnlabelledSlice(c.case_id, c.embedding, c.image_size, box_from_mask(c.final_mask))
                for c in remaining
            ]
            order = rank(queue, slices)[: config.cases_per_round]
            picked = [remaining[i] for i in order]
            chosen = set(order)
            remaining = [c for i, c in enumerate(remaining) if i not in chosen]
            # The first prediction is the served model's (OpenVINO on this CPU) while LiteMedSAM is active.
            annotator = embedder if active_model is parent_model else active_predictor
            labelled += [first_prediction(annotator, c) for c in picked]
            select_seconds = time.perf_counter() - t_select
            stats = summarize_cases(labelled)
            log(
                f"round {r}: {len(picked)} new cases by {config.queue_strategy} ({select_seconds:.1f} s), "
                f"{len(labelled)} labelled, mean correction effort {stats['mean_correction_effort']:.3f}"
            )
            load_before = os.getloadavg()
            path = checkpoint_dir / f"round{r}.pth"
            result = train_candidate(
                active_model,
                labelled,
                path,
                config.recipe,
                strategy=config.training_strategy,
                boost=config.boost,
                device=config.device,
                on_progress=_progress_logger(log),
            )
            load_after = os.getloadavg()
            log(
                f"round {r}: trained {result.steps} steps in {result.seconds:.1f} s, {result.cpu_seconds:.0f} CPU s "
                f"({result.stop_reason}, "
                f"best epoch {result.best_epoch}); load average {load_before[0]:.2f} → {load_after[0]:.2f}"
            )
            candidate_model = build_model_version(
                config.model, path, result.sha256, clicks_trained=result.clicks_trained
            )
            candidate_predictor = _torch_predictor(config, candidate_model)
            parent_sha = str(getattr(active_model, "checkpoint_sha256", "parent"))
            parent_summary = heldout_summary(parent_sha, active_predictor)
            candidate_summary = heldout_summary(result.sha256, candidate_predictor)
            log(f"round {r}: held-out Dice per click {_curve(parent_summary)} → {_curve(candidate_summary)}")
            decision = decide(parent_summary, candidate_summary, config.rule)
            log(
                f"round {r}: held-out DSC {parent_summary['mean_dsc']:.4f} → {candidate_summary['mean_dsc']:.4f}, "
                f"Dice per click {_curve(parent_summary)} → {_curve(candidate_summary)}; "
                f"{'promoted' if decision.promote else 'not promoted: ' + '; '.join(decision.reasons)}"
            )
            rounds.append(
                {
                    "round": r,
                    "new_cases": len(picked),
                    "cases_train": len(result.case_ids),
                    "cases_validation": len(result.validation_case_ids),
                    "cases_labelled": len(labelled),
                    "mean_correction_effort": stats["mean_correction_effort"],
                    "select_seconds": select_seconds,
                    "train_seconds": result.seconds,
                    "train_cpu_seconds": result.cpu_seconds,
                    "steps": result.steps,
                    "epochs_run": result.epochs_run,
                    "best_epoch": result.best_epoch,
                    "stop_reason": result.stop_reason,
                    "precision": result.precision,
                    "device": result.device,
                    "load_average_before": load_before,
                    "load_average_after": load_after,
                    "parent_sha256": parent_sha,
                    "candidate_sha256": result.sha256,
                    "parent": parent_summary,
                    "candidate": candidate_summary,
                    "decision": decision.to_dict(),
                    "validation_curve": result.validation_curve,
                    "loss_curve": [{k: e[k] for k in ("epoch", "step", "loss")} for e in result.loss_curve],
                }
            )
            if decision.promote:
                active_model, active_predictor = candidate_model, candidate_predictor
    finally:
        if tmp_dir is not None:
            tmp_dir.cleanup()
    if not rounds:
        raise BenchError("no round ran")
    first, last = rounds[0], rounds[-1]
    return {
        "dataset": str(config.data),
        "dsc_before": first["parent"]["mean_dsc"],
        "dsc_after": last["candidate"]["mean_dsc"],
        "nsd_before": first["parent"]["mean_nsd"],
        "nsd_after": last["candidate"]["mean_nsd"],
        "dice_per_click_before": first["parent"]["dice_per_click"],
        "dice_per_click_after": last["candidate"]["dice_per_click"],
        "noc90_before": first["parent"]["noc90"],
        "noc90_after": last["candidate"]["noc90"],
        "train_seconds": float(sum(r["train_seconds"] for r in rounds)),
        "train_cpu_seconds": float(sum(r["train_cpu_seconds"] for r in rounds)),
        "cases_train": last["cases_labelled"],
        "cases_heldout": len(heldout),
        "rounds": rounds,
        "heldout": summarize_cases(heldout),
        "config": _jsonable(dataclasses.asdict(config)),
        "embeddings": {
            "computed": store.computed,
            "loaded": store.loaded,
            "seconds": store.seconds,
            "backend": embedder.runner.name,
            "precision": embedder.runner.precision,
        },
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "seconds": time.perf_counter() - started,
    }


def _curve(summary: dict[str, Any]) -> str:
    return " ".join(f"{v:.3f}" for v in summary["dice_per_click"])


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
