"""One training step: the trainable copy of the decoder, cases as arrays, the simulated interactive rounds.

:class:`Trainer` holds the optimiser; :meth:`Trainer.step` runs one batch through a box round and corrective
click rounds (see :mod:`.trainer` for the recipe), :meth:`Trainer.validate` the deterministic validation.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..evaluation.clicks import box_from_mask
from ..sam.build import get_spec
from ..sam.modeling import SamModel
from ..sam.modeling.prompt_encoder import BOX_BOTTOM_RIGHT, BOX_TOP_LEFT, PAD_LABEL
from ..sam.transforms import InputGeometry, apply_boxes, input_geometry, mask_to_low_res
from .cases import TrainingCase
from .checkpoint import TRAINABLE_PREFIXES
from .losses import sam_loss
from .prompts import ClickMode, jitter_boxes, sample_click
from .recipe import Recipe, TrainingCancelled, TrainingError, TrainModules

# -- model wrapper ------------------------------------------------------------------------------------


class TrainableSam(torch.nn.Module):
    """The prompt encoder and mask decoder of a parent model, copied so that training never touches the
    serving model. Decodes batches of *different* embeddings (one per prompt)."""

    def __init__(self, parent: SamModel, train_modules: TrainModules = "prompt_and_decoder") -> None:
        super().__init__()
        self.model = SamModel(
            torch.nn.Identity(),
            copy.deepcopy(parent.prompt_encoder),
            copy.deepcopy(parent.mask_decoder),
            parent.input_size,
        )
        self.model.requires_grad_(False)
        self.model.mask_decoder.requires_grad_(True)
        if train_modules == "prompt_and_decoder":
            self.model.prompt_encoder.requires_grad_(True)

    @property
    def low_res_size(self) -> tuple[int, int]:
        return self.model.low_res_size

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def forward(
        self,
        embeddings: torch.Tensor,
        coords: torch.Tensor,
        labels: torch.Tensor,
        mask_input: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Single-mask output for N prompts on N embeddings.

        Args:
            embeddings: ``(N, C, h, w)``.
            coords: ``(N, P, 2)`` x, y in the model-input frame; labels ``(N, P)`` (1, 0, -1 pad, 2/3 box).
            mask_input: ``(N, 1, L, L)`` low-res logits or None.
        Returns:
            logits ``(N, 1, L, L)`` (low-res frame) and predicted IoU ``(N,)``.
        """
        logits, iou = self.model.decode(embeddings, coords, labels, mask_input)
        return logits[:, :1], iou[:, 0]

    def state_for_checkpoint(self) -> dict[str, torch.Tensor]:
        """Trained tensors under the full model's names (``prompt_encoder.*``, ``mask_decoder.*``)."""
        return {k: v for k, v in self.model.state_dict().items() if k.startswith(TRAINABLE_PREFIXES)}


# -- prepared cases ------------------------------------------------------------------------------------


@dataclass
class PreparedCases:
    """Cases turned into arrays in the frames the decoder works in.

    ``embeddings`` float16 ``(N, C, h, w)``; ``targets`` and ``valid`` bool ``(N, L, L)`` (low-res frame:
    the final mask, and the unpadded part of the slice); ``boxes`` ``(N, 4)`` tight boxes and ``bounds``
    ``(N, 2)`` largest x, y in the model-input frame; ``click_scale`` maps low-res pixels to model-input.
    """

    case_ids: list[str]
    embeddings: np.ndarray
    targets: np.ndarray
    valid: np.ndarray
    boxes: np.ndarray
    bounds: np.ndarray
    click_scale: float

    def __len__(self) -> int:
        return len(self.case_ids)


def _valid_low_res(geom: InputGeometry, low_res: int) -> np.ndarray:
    valid = np.zeros((low_res, low_res), dtype=bool)
    h = math.ceil(geom.resized_size[0] * low_res / geom.input_size)
    w = math.ceil(geom.resized_size[1] * low_res / geom.input_size)
    valid[:h, :w] = True
    return valid


def prepare_cases(
    cases: Sequence[TrainingCase], model_name: str, embedding_shape: tuple[int, int, int], low_res: int
) -> PreparedCases:
    """Check the embeddings and compute targets, valid regions and tight boxes once per case."""
    prep = get_spec(model_name).preprocessing
    n = len(cases)
    embeddings = np.empty((n, *embedding_shape), dtype=np.float16)
    targets = np.zeros((n, low_res, low_res), dtype=bool)
    valid = np.zeros((n, low_res, low_res), dtype=bool)
    boxes = np.zeros((n, 4))
    bounds = np.zeros((n, 2))
    for i, case in enumerate(cases):
        if case.embedding.shape != embedding_shape:
            raise TrainingError(
                f"{case.case_id}: embedding {case.embedding.shape} does not fit {model_name} {embedding_shape}"
            )
        geom = input_geometry(case.image_size, prep)
        embeddings[i] = case.embedding
        targets[i] = mask_to_low_res(case.final_mask, geom, low_res) > 0
        valid[i] = _valid_low_res(geom, low_res)
        boxes[i] = apply_boxes(box_from_mask(case.final_mask), geom)
        h, w = case.image_size
        bounds[i] = ((w - 1) * geom.scale_x, (h - 1) * geom.scale_y)
    return PreparedCases(
        [c.case_id for c in cases], embeddings, targets, valid, boxes, bounds, prep.input_size / low_res
    )


# -- the interactive rounds -------------------------------------------------------------------------------


@dataclass
class _Batch:
    embeddings: torch.Tensor
    targets: torch.Tensor  # (B, 1, L, L) float
    targets_np: np.ndarray  # (B, L, L) bool
    valid_np: np.ndarray
    boxes: np.ndarray  # (B, 4) model-input frame


class _Rounds:
    """Builds prompts round after round for one batch: box corners, clicks so far, previous logits."""

    def __init__(self, batch: _Batch, click_scale: float, device: torch.device) -> None:
        self.batch = batch
        self.click_scale = click_scale
        self.device = device
        n = batch.boxes.shape[0]
        self.points = np.zeros((n, 0, 2), dtype=np.float32)
        self.labels = np.zeros((n, 0), dtype=np.float32)

    def add_clicks(self, logits: torch.Tensor, rng: np.random.Generator, mode: ClickMode) -> int:
        """Sample one click per case from the error of ``logits``; a case without error gets a padding
        point. Returns how many real clicks were added."""
        pred = (logits.detach()[:, 0] > 0).cpu().numpy()
        n = pred.shape[0]
        pts = np.zeros((n, 1, 2), dtype=np.float32)
        lbl = np.full((n, 1), float(PAD_LABEL), dtype=np.float32)
        added = 0
        for i in range(n):
            click = sample_click(pred[i], self.batch.targets_np[i], rng, mode, self.batch.valid_np[i])
            if click is not None:
                pts[i, 0] = (click.x * self.click_scale, click.y * self.click_scale)
                lbl[i, 0] = click.label
                added += 1
        self.points = np.concatenate([self.points, pts], axis=1)
        self.labels = np.concatenate([self.labels, lbl], axis=1)
        return added

    def prompt(self, with_box: bool = True, with_points: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``coords (B, P, 2)`` and ``labels (B, P)`` as the predictor builds them: points, then the box's
        two corners; without a box, one padding point ends the sequence."""
        n = self.batch.boxes.shape[0]
        coords = [self.points] if with_points else []
        labels = [self.labels] if with_points else []
        if with_box:
            coords.append(self.batch.boxes.reshape(n, 2, 2).astype(np.float32))
            labels.append(np.tile(np.array([BOX_TOP_LEFT, BOX_BOTTOM_RIGHT], dtype=np.float32), (n, 1)))
        else:
            coords.append(np.zeros((n, 1, 2), dtype=np.float32))
            labels.append(np.full((n, 1), float(PAD_LABEL), dtype=np.float32))
        c = torch.from_numpy(np.concatenate(coords, axis=1)).to(self.device)
        lab = torch.from_numpy(np.concatenate(labels, axis=1)).to(self.device)
        return c, lab


def _low_res_dice(logits: torch.Tensor, targets: np.ndarray, valid: np.ndarray) -> np.ndarray:
    pred = (logits.detach()[:, 0] > 0).cpu().numpy() & valid
    inter = (pred & targets).sum(axis=(1, 2))
    total = pred.sum(axis=(1, 2)) + targets.sum(axis=(1, 2))
    return np.where(total > 0, 2 * inter / np.maximum(total, 1), 1.0)


# -- the trainer ----------------------------------------------------------------------------------------


class Trainer:
    """The optimiser and the interactive rounds around a :class:`TrainableSam` (used by :func:`fine_tune`;
    public so that a single step can be tested and timed)."""

    def __init__(
        self,
        parent: SamModel,
        model_name: str,
        recipe: Recipe,
        device: torch.device,
    ) -> None:
        self.recipe = recipe
        self.device = device
        self.net = TrainableSam(parent, recipe.train_modules).to(device)
        self.optimizer = torch.optim.AdamW(
            self.net.trainable_parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay
        )
        spec = get_spec(model_name)
        self.jitter = recipe.box_jitter_px * spec.preprocessing.input_size / 256.0
        self.amp_dtype: torch.dtype | None = None
        if device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else None
        elif recipe.cpu_bf16:
            self.amp_dtype = torch.bfloat16
        self.precision = "bf16-autocast" if self.amp_dtype is not None else "f32"

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def batch(self, data: PreparedCases, idx: np.ndarray, boxes: np.ndarray) -> _Batch:
        emb = torch.from_numpy(data.embeddings[idx]).to(self.device, dtype=torch.float32)
        targets = torch.from_numpy(data.targets[idx]).to(self.device, dtype=torch.float32)[:, None]
        return _Batch(emb, targets, data.targets[idx], data.valid[idx], boxes)

    def forward(
        self,
        batch: _Batch,
        coords: torch.Tensor,
        labels: torch.Tensor,
        mask_input: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with self.autocast():
            logits, iou = self.net(batch.embeddings, coords, labels, mask_input)
        return logits.float(), iou.float()

    def _update(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        if self.recipe.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.net.trainable_parameters(), self.recipe.grad_clip)
        self.optimizer.step()

    def step(self, data: PreparedCases, idx: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        """Train on the cases ``idx`` (one batch); returns the mean loss and its parts."""
        if self.recipe.grad_rounds == "each":
            return self._step_each_round(data, idx, rng)
        r = self.recipe
        self.net.train()
        boxes = jitter_boxes(data.boxes[idx], data.bounds[idx], self.jitter, rng)
        batch = self.batch(data, idx, boxes)
        rounds = _Rounds(batch, data.click_scale, self.device)
        draw = rng.random()
        if r.max_clicks == 0 or draw < r.box_only_fraction:
            kind = "box"
        elif r.mask_only_round and draw < r.box_only_fraction + r.mask_only_fraction:
            kind = "mask_only"
        else:
            kind = "clicks"
        # Clicks of this step: 1..max for a click round; 0..max before a mask-only round.
        clicks = 0 if kind == "box" else int(rng.integers(1 if kind == "clicks" else 0, r.max_clicks + 1))
        every = r.grad_rounds == "all"
        graded: list[tuple[str, torch.Tensor, torch.Tensor]] = []

        def run(
            name: str,
            grad: bool,
            coords: torch.Tensor,
            labels: torch.Tensor,
            mask_input: torch.Tensor | None,
        ) -> torch.Tensor:
            with contextlib.nullcontext() if grad else torch.no_grad():
                logits, iou = self.forward(batch, coords, labels, mask_input)
            if grad:
                graded.append((name, logits, iou))
            return logits.detach()

        box_grad = kind == "box" or every or (r.grad_rounds == "last" and kind == "clicks")
        previous = run("box", box_grad, *rounds.prompt(), None)
        for k in range(1, clicks + 1):
            rounds.add_clicks(previous, rng, r.click_mode)
            grad = every or (kind == "clicks" and k == clicks)
            previous = run("clicks", grad, *rounds.prompt(), previous)
        if kind == "mask_only" or (kind == "clicks" and r.grad_rounds != "one" and r.mask_only_round):
            run("mask_only", True, *rounds.prompt(with_box=False, with_points=False), previous)

        losses = []
        parts: dict[str, float] = {"clicks": float(clicks)}
        for name, logits, iou in graded:
            loss, detail = sam_loss(logits, iou, batch.targets, r.loss_weights)
            losses.append(loss)
            parts[f"loss_{name}"] = float(loss.detach())
            for key, value in detail.items():
                parts[f"{name}_{key}"] = value
        total = torch.stack(losses).mean()
        self._update(total)
        parts["loss"] = float(total.detach())
        parts["round"] = {"box": 0.0, "clicks": 1.0, "mask_only": 2.0}[kind]
        return parts

    def _step_each_round(
        self, data: PreparedCases, idx: np.ndarray, rng: np.random.Generator
    ) -> dict[str, float]:
        """SAM-Med2D's schedule: one interaction on the batch, an optimiser step after every round (box,
        then 1..max_clicks corrective clicks, a mask-only round inserted among them and one at the end), so
        no forward pass is spent on simulation alone. A ``box_only_fraction`` of batches stop after the box."""
        r = self.recipe
        self.net.train()
        boxes = jitter_boxes(data.boxes[idx], data.bounds[idx], self.jitter, rng)
        batch = self.batch(data, idx, boxes)
        rounds = _Rounds(batch, data.click_scale, self.device)
        box_only = r.max_clicks == 0 or rng.random() < r.box_only_fraction
        if box_only:
            clicks = 0
        elif r.click_rounds == "all":  # SAM: every batch runs all the corrective rounds
            clicks = r.max_clicks
        else:  # SAM-Med2D: 1..max_clicks, drawn per batch
            clicks = int(rng.integers(1, r.max_clicks + 1))
        schedule = ["box"] + ["click"] * clicks
        if clicks and r.mask_only_round:
            if clicks >= 2:  # one among the clicks (after the first), as SAM
                schedule.insert(int(rng.integers(2, clicks + 1)), "mask_only")
            schedule.append("mask_only")
        losses: dict[str, list[float]] = {}
        previous: torch.Tensor | None = None
        for kind in schedule:
            if kind == "click":
                assert previous is not None  # the box round always comes first
                rounds.add_clicks(previous, rng, r.click_mode)
            if kind == "mask_only":
                prompt = rounds.prompt(with_box=False, with_points=False)
            else:
                prompt = rounds.prompt()
            logits, iou = self.forward(batch, *prompt, previous)
            loss, _ = sam_loss(logits, iou, batch.targets, r.loss_weights)
            self._update(loss)
            losses.setdefault(kind, []).append(float(loss.detach()))
            previous = logits.detach()
        every = [v for values in losses.values() for v in values]
        parts = {f"loss_{k}": float(np.mean(v)) for k, v in losses.items()}
        parts.update({"loss": float(np.mean(every)), "clicks": float(clicks), "updates": float(len(every))})
        return parts

    @torch.no_grad()
    def validate(self, data: PreparedCases, should_stop: Callable[[], bool] | None) -> dict[str, Any]:
        """Dice (low-res frame) of the tight box and after each of ``validation_clicks`` clicks placed at the
        deepest error pixel with the previous logits fed back; deterministic. ``score`` is the mean of the
        box Dice and the Dice after the last click (what the promotion rule compares)."""
        self.net.eval()
        r = self.recipe
        curves = []
        rng = np.random.default_rng(0)  # unused by "deepest" clicks; keeps the signature
        for start in range(0, len(data), r.batch_size):
            if should_stop is not None and should_stop():
                raise TrainingCancelled("cancelled during validation")
            idx = np.arange(start, min(start + r.batch_size, len(data)))
            batch = self.batch(data, idx, data.boxes[idx])
            rounds = _Rounds(batch, data.click_scale, self.device)
            logits, _ = self.forward(batch, *rounds.prompt(), None)
            curve = [_low_res_dice(logits, batch.targets_np, batch.valid_np)]
            for _ in range(r.validation_clicks):
                rounds.add_clicks(logits, rng, "deepest")
                logits, _ = self.forward(batch, *rounds.prompt(), logits)
                curve.append(_low_res_dice(logits, batch.targets_np, batch.valid_np))
            curves.append(np.stack(curve, axis=1))
        per_round = np.concatenate(curves).mean(axis=0)
        return {
            "dice_per_click": [float(v) for v in per_round],
            "score": float((per_round[0] + per_round[-1]) / 2),
        }
