"""SAM's training loss: focal ×20 + Dice on the mask logits, plus MSE between predicted and actual IoU.

All functions take low-res logits ``(N, 1, L, L)`` and float targets in {0, 1} of the same shape; every
loss is a per-sample mean, then a batch mean, so a large structure does not outweigh a small one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

FOCAL_ALPHA = 0.25  # SAM / RetinaNet defaults
FOCAL_GAMMA = 2.0


def focal_loss(
    logits: torch.Tensor, target: torch.Tensor, alpha: float = FOCAL_ALPHA, gamma: float = FOCAL_GAMMA
) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al.), mean over pixels and batch."""
    ce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * target + (1 - p) * (1 - target)
    weight = (alpha * target + (1 - alpha) * (1 - target)) * (1 - p_t) ** gamma
    return (weight * ce).flatten(1).mean(1).mean()


def dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """``1 − soft Dice`` per sample (sigmoid probabilities), mean over the batch."""
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    inter = (p * t).sum(1)
    return (1 - (2 * inter + smooth) / (p.sum(1) + t.sum(1) + smooth)).mean()


def mask_iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU ``(N,)`` of the thresholded prediction (logit > 0) with the target; 1 when both are empty."""
    pred = (logits > 0).flatten(1)
    t = target.flatten(1) > 0.5
    inter = (pred & t).sum(1).float()
    union = (pred | t).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


@dataclass(frozen=True)
class LossWeights:
    focal: float = 20.0  # SAM: focal ×20 + Dice (appendix A)
    dice: float = 1.0
    iou: float = 1.0


def sam_loss(
    logits: torch.Tensor, iou_pred: torch.Tensor, target: torch.Tensor, weights: LossWeights = LossWeights()
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts. ``iou_pred`` ``(N,)`` is the decoder's IoU estimate for these logits; its
    target is the actual IoU of the thresholded mask (no gradient through the target)."""
    logits = logits.float()
    with torch.no_grad():
        actual_iou = mask_iou(logits, target)
    focal = focal_loss(logits, target)
    dsc = dice_loss(logits, target)
    iou_mse = torch.mean((iou_pred.float() - actual_iou) ** 2)
    total = weights.focal * focal + weights.dice * dsc + weights.iou * iou_mse
    parts = {"focal": float(focal.detach()), "dice": float(dsc.detach()), "iou_mse": float(iou_mse.detach())}
    return total, parts
