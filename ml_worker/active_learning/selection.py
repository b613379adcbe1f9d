"""Selection strategies: which corrected cases to train on most, which unlabelled slice to annotate next.

Each strategy is a small class with one method, ``scores(items) -> (N,) float``: a higher score means
"pick first" (train on it more, show it to an annotator sooner). :func:`rank` and
:func:`oversampling_weights` turn scores into an order and into sampling weights. ``STRATEGIES`` maps the
name a project stores to the class.

Training strategies score :class:`~ml_worker.training.cases.TrainingCase` s. Queue strategies score
:class:`UnlabelledSlice` s, using only the decoder on the cached embedding (never the image encoder).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from ..evaluation.runner import DecodeOutput
from ..training.cases import TrainingCase


@dataclass(frozen=True)
class UnlabelledSlice:
    """A slice waiting for annotation: its cached embedding and a box around the structure to label (image
    frame ``[x0, y0, x1, y1]``; e.g. propagated from a neighbouring slice, or drawn by the user)."""

    slice_id: str
    embedding: np.ndarray  # (C, h, w)
    image_size: tuple[int, int]
    box: np.ndarray


class Decoder(Protocol):
    """What queue strategies need from ``ml_worker.sam.predictor.SamPredictor``."""

    def decode(
        self,
        embedding: np.ndarray,
        image_size: tuple[int, int],
        boxes: npt.ArrayLike | None = None,
        points: npt.ArrayLike | None = None,
        point_labels: npt.ArrayLike | None = None,
        mask_input: npt.ArrayLike | None = None,
    ) -> DecodeOutput: ...


class Strategy(Protocol):
    name: ClassVar[str]
    kind: ClassVar[str]  # "training" or "queue"

    def scores(self, items: Sequence[Any]) -> np.ndarray: ...


# -- training cases ----------------------------------------------------------------------------------


class HardestCorrectedFirst:
    """Cases the team corrected most come first: score = correction effort ``1 − Dice(first, final)``.
    A mask drawn without a model proposal counts as fully corrected (1.0)."""

    name: ClassVar[str] = "hardest-corrected"
    kind: ClassVar[str] = "training"

    def scores(self, items: Sequence[TrainingCase]) -> np.ndarray:
        return np.array(
            [1.0 if c.correction_effort is None else c.correction_effort for c in items], dtype=np.float64
        )


class UniformTraining:
    """Every case alike (the baseline for hard-case over-sampling)."""

    name: ClassVar[str] = "uniform"
    kind: ClassVar[str] = "training"

    def scores(self, items: Sequence[TrainingCase]) -> np.ndarray:
        return np.zeros(len(items), dtype=np.float64)


# -- unlabelled slices --------------------------------------------------------------------------------


class LowestPredictedIoU:
    """The model's own doubt: score = −(predicted IoU of its box mask). One decode per slice."""

    name: ClassVar[str] = "lowest-iou"
    kind: ClassVar[str] = "queue"

    def __init__(self, decoder: Decoder) -> None:
        self.decoder = decoder

    def scores(self, items: Sequence[UnlabelledSlice]) -> np.ndarray:
        out = np.empty(len(items), dtype=np.float64)
        for i, item in enumerate(items):
            result = self.decoder.decode(item.embedding, item.image_size, boxes=np.asarray(item.box)[None])
            out[i] = -float(np.asarray(result.iou)[0, 0])
        return out


def _pairwise_iou(masks: np.ndarray) -> float:
    """Mean IoU over every pair of ``(K, H, W)`` boolean masks (1 when both of a pair are empty)."""
    if masks.shape[0] < 2:
        raise ValueError(f"disagreement needs at least 2 masks, got {masks.shape[0]}")
    flat = masks.reshape(masks.shape[0], -1).astype(np.float32)
    inter = flat @ flat.T
    area = flat.sum(axis=1)
    union = area[:, None] + area[None, :] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    k = masks.shape[0]
    return float((iou.sum() - np.trace(iou)) / (k * (k - 1)))


class JitteredBoxDisagreement:
    """How much the mask changes when the box moves a little: score = 1 − mean pairwise IoU of the masks
    from ``n_boxes`` boxes (the given one and jittered copies, each side moved by up to ``shift_px`` pixels
    at 256², in or out). One batched decode per slice, no encoder pass."""

    name: ClassVar[str] = "jitter-disagreement"
    kind: ClassVar[str] = "queue"

    def __init__(self, decoder: Decoder, n_boxes: int = 5, shift_px: float = 5.0, seed: int = 0) -> None:
        if n_boxes < 2:
            raise ValueError(f"disagreement needs at least 2 boxes, got {n_boxes}")
        self.decoder = decoder
        self.n_boxes = n_boxes
        self.shift_px = shift_px
        self.seed = seed

    def boxes(self, item: UnlabelledSlice, rng: np.random.Generator) -> np.ndarray:
        h, w = item.image_size
        shift = self.shift_px * max(h, w) / 256.0
        box = np.asarray(item.box, dtype=np.float64)
        jittered = box + rng.uniform(-shift, shift, size=(self.n_boxes - 1, 4))
        jittered = np.clip(jittered, 0, [w - 1, h - 1, w - 1, h - 1])
        # Keep every box valid: at least one pixel wide and tall, corners in order.
        x0 = np.minimum(jittered[:, 0], jittered[:, 2] - 1)
        y0 = np.minimum(jittered[:, 1], jittered[:, 3] - 1)
        jittered = np.stack([np.maximum(x0, 0), np.maximum(y0, 0), jittered[:, 2], jittered[:, 3]], axis=1)
        return np.vstack([box[None], jittered])

    def scores(self, items: Sequence[UnlabelledSlice]) -> np.ndarray:
        out = np.empty(len(items), dtype=np.float64)
        for i, item in enumerate(items):
            rng = np.random.default_rng([self.seed, i])
            result = self.decoder.decode(item.embedding, item.image_size, boxes=self.boxes(item, rng))
            out[i] = 1.0 - _pairwise_iou(np.asarray(result.masks)[:, 0])
        return out


class RandomOrder:
    """The baseline: a seeded random order."""

    name: ClassVar[str] = "random"
    kind: ClassVar[str] = "queue"

    def __init__(self, decoder: Decoder | None = None, seed: int = 0) -> None:
        self.seed = seed

    def scores(self, items: Sequence[Any]) -> np.ndarray:
        return np.random.default_rng(self.seed).random(len(items))


StrategyClass = (
    type[HardestCorrectedFirst]
    | type[UniformTraining]
    | type[LowestPredictedIoU]
    | type[JitteredBoxDisagreement]
    | type[RandomOrder]
)
STRATEGIES: dict[str, StrategyClass] = {
    cls.name: cls
    for cls in (
        HardestCorrectedFirst,
        UniformTraining,
        LowestPredictedIoU,
        JitteredBoxDisagreement,
        RandomOrder,
    )
}
TRAINING_STRATEGIES = tuple(n for n, c in STRATEGIES.items() if c.kind == "training")
QUEUE_STRATEGIES = tuple(n for n, c in STRATEGIES.items() if c.kind == "queue")


def get_strategy(name: str, **kwargs: Any) -> Strategy:
    """An instance of the strategy registered as ``name`` (queue strategies take ``decoder=``)."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}") from None
    return cls(**kwargs)


def rank(strategy: Strategy, items: Sequence[Any]) -> list[int]:
    """Indices of ``items`` by decreasing score; ties keep the given order."""
    scores = np.asarray(strategy.scores(items), dtype=np.float64)
    return [int(i) for i in np.argsort(-scores, kind="stable")]


def oversampling_weights(scores: np.ndarray, boost: float = 3.0) -> np.ndarray:
    """Sampling weights ``1 + boost · s`` with the scores min-max scaled to [0, 1]: the hardest case is
    drawn ``1 + boost`` times as often as the easiest, and every case still appears."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return s
    span = s.max() - s.min()
    scaled = (s - s.min()) / span if span > 0 else np.zeros_like(s)
    return 1.0 + boost * scaled
