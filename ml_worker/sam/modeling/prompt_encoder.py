"""SAM's prompt encoder: points, boxes and masks → sparse tokens and a dense embedding.

Coordinate frame: every coordinate here is in the *model input* frame (pixels of the resized, padded
``input_size × input_size`` image, x to the right, y down). Pixel ``i`` is centred at ``i + 0.5`` (the
encoder adds the half pixel itself, as upstream).

Point labels: ``1`` foreground, ``0`` background, ``-1`` padding ("not a point"), ``2``/``3`` the
top-left / bottom-right corners of a box. A box is therefore the same thing as two labelled points, which
lets one exported graph serve every prompt combination.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .common import LayerNorm2d

PAD_LABEL = -1
BOX_TOP_LEFT = 2
BOX_BOTTOM_RIGHT = 3


class PositionEmbeddingRandom(nn.Module):
    """Random Fourier features of normalised ``(x, y)`` coordinates (buffer name as upstream)."""

    positional_encoding_gaussian_matrix: torch.Tensor  # registered buffer

    def __init__(self, num_pos_feats: int = 64) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn((2, num_pos_feats)))

    def _encode(self, coords: torch.Tensor) -> torch.Tensor:
        """``(..., 2)`` in ``[0, 1]`` → ``(..., 2·num_pos_feats)``."""
        coords = 2 * coords - 1
        coords = coords @ self.positional_encoding_gaussian_matrix.to(coords.dtype)
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def forward(self, size: tuple[int, int]) -> torch.Tensor:
        """Dense encoding of an ``h × w`` grid → ``(C, h, w)``."""
        h, w = size
        grid = torch.ones((h, w), device=self.positional_encoding_gaussian_matrix.device)
        y = (grid.cumsum(dim=0) - 0.5) / h
        x = (grid.cumsum(dim=1) - 0.5) / w
        return self._encode(torch.stack([x, y], dim=-1)).permute(2, 0, 1)

    def forward_with_coords(self, coords: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        """Pixel coordinates ``(..., 2)`` (x, y) in an ``image_size = (H, W)`` frame → ``(..., C)``."""
        coords = coords.to(torch.float32)
        x = coords[..., 0:1] / image_size[1]
        y = coords[..., 1:2] / image_size[0]
        return self._encode(torch.cat([x, y], dim=-1))


class PromptEncoder(nn.Module):
    def __init__(
        self,
        embed_dim: int,
        image_embedding_size: tuple[int, int],
        input_image_size: tuple[int, int],
        mask_in_chans: int = 16,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.image_embedding_size = image_embedding_size
        self.input_image_size = input_image_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        # 0: background point, 1: foreground point, 2: box top-left, 3: box bottom-right.
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> torch.Tensor:
        """Positional encoding of the embedding grid, ``(1, C, h, w)``."""
        return self.pe_layer(self.image_embedding_size).unsqueeze(0)

    def embed_labelled_points(self, coords: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``coords (N, P, 2)`` (model-input pixels), ``labels (N, P)`` in {-1, 0, 1, 2, 3} → ``(N, P, C)``.

        Written with masks and sums rather than in-place indexing so that it traces into a static graph.
        """
        pe = self.pe_layer.forward_with_coords(coords + 0.5, self.input_image_size)
        labels = labels.to(pe.dtype).unsqueeze(-1)
        out = pe * (labels != PAD_LABEL).to(pe.dtype)
        out = out + self.not_a_point_embed.weight * (labels == PAD_LABEL).to(pe.dtype)
        for i, emb in enumerate(self.point_embeddings):
            assert isinstance(emb, nn.Embedding)
            out = out + emb.weight * (labels == i).to(pe.dtype)
        return out

    def embed_masks(self, masks: torch.Tensor) -> torch.Tensor:
        """Low-res mask logits ``(N, 1, 4h, 4w)`` → dense embedding ``(N, C, h, w)``."""
        return self.mask_downscaling(masks)

    def no_mask_dense(self, batch: int) -> torch.Tensor:
        h, w = self.image_embedding_size
        return self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(batch, -1, h, w)

    def forward(
        self,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        boxes: torch.Tensor | None,
        masks: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Upstream-compatible entry point.

        Args:
            points: ``(coords (N, P, 2), labels (N, P))`` in the model-input frame, or None.
            boxes: ``(N, 4)`` xyxy in the model-input frame, or None.
            masks: ``(N, 1, 4h, 4w)`` low-res mask logits, or None.
        Returns:
            sparse ``(N, T, C)`` tokens and dense ``(N, C, h, w)`` embedding. As upstream, points without a
            box get one padding point appended.
        """
        if points is not None:
            n = points[0].shape[0]
        elif boxes is not None:
            n = boxes.shape[0]
        elif masks is not None:
            n = masks.shape[0]
        else:
            n = 1
        device = self.no_mask_embed.weight.device
        coords_parts: list[torch.Tensor] = []
        label_parts: list[torch.Tensor] = []
        if points is not None:
            coords_parts.append(points[0].to(torch.float32))
            label_parts.append(points[1].to(torch.float32))
            if boxes is None:
                coords_parts.append(torch.zeros((n, 1, 2), device=device))
                label_parts.append(torch.full((n, 1), float(PAD_LABEL), device=device))
        if boxes is not None:
            coords_parts.append(boxes.to(torch.float32).reshape(-1, 2, 2))
            corner = torch.tensor([BOX_TOP_LEFT, BOX_BOTTOM_RIGHT], dtype=torch.float32, device=device)
            label_parts.append(corner.expand(n, 2))
        if coords_parts:
            sparse = self.embed_labelled_points(torch.cat(coords_parts, 1), torch.cat(label_parts, 1))
        else:
            sparse = torch.empty((n, 0, self.embed_dim), device=device)
        dense = self.embed_masks(masks) if masks is not None else self.no_mask_dense(n)
        return sparse, dense
