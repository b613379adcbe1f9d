"""SAM's mask decoder: an IoU token and 4 mask tokens (1 single-mask + 3 multi-mask outputs)."""

from __future__ import annotations

import torch
from torch import nn

from .common import MLP, LayerNorm2d
from .transformer import TwoWayTransformer


class MaskDecoder(nn.Module):
    def __init__(
        self,
        transformer_dim: int,
        transformer: TwoWayTransformer,
        num_multimask_outputs: int = 3,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
    ) -> None:
        super().__init__()
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_mask_tokens = num_multimask_outputs + 1
        self.iou_token = nn.Embedding(1, transformer_dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(transformer_dim, transformer_dim, transformer_dim // 8, 3)
            for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(
            transformer_dim, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth
        )

    def predict_all(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse: torch.Tensor,
        dense: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Every mask token's output.

        Args:
            image_embeddings: ``(1 or N, C, h, w)``; a single embedding is shared by all N prompts.
            image_pe: ``(1, C, h, w)``.
            sparse: ``(N, T, C)`` prompt tokens; dense: ``(N, C, h, w)``.
        Returns:
            logits ``(N, 4, 4h, 4w)`` and predicted IoU ``(N, 4)``; index 0 is the single-mask output.
        """
        n = sparse.shape[0]
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        tokens = torch.cat([output_tokens.unsqueeze(0).expand(n, -1, -1), sparse], dim=1)
        src = image_embeddings.expand(n, -1, -1, -1) + dense
        # The positional encoding stays (1, C, h, w) and broadcasts: a constant that exporters fold away
        # (expanding it to N first cost ~1.6 ms of transposes per OpenVINO decode, measured).
        pos = image_pe
        b, c, h, w = src.shape
        hs, src = self.transformer(src, pos, tokens)
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1 : 1 + self.num_mask_tokens, :]
        upscaled = self.output_upscaling(src.transpose(1, 2).reshape(b, c, h, w))
        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )
        b, c, h, w = upscaled.shape
        masks = (hyper_in @ upscaled.reshape(b, c, h * w)).reshape(b, -1, h, w)
        return masks, self.iou_prediction_head(iou_token_out)

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Upstream-compatible: 3 masks ``(N, 3, 4h, 4w)`` when ``multimask_output`` else 1 mask."""
        masks, iou = self.predict_all(
            image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings
        )
        sel = slice(1, None) if multimask_output else slice(0, 1)
        return masks[:, sel], iou[:, sel]
