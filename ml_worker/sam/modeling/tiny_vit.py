"""TinyViT image encoder in the LiteMedSAM variant (parameter names follow the official checkpoint).

LiteMedSAM changed TinyViT-5M so that a 256×256 input gives SAM's 64×64 embedding: the patch embedding
uses 1×1 convolutions with stride 1 (no 4× downsampling), and the last patch merging keeps the
resolution (stride 1). Resolutions through the network for the default config::

    (B, 3, 256, 256) → stem → (B, 64, 256, 256) → MBConv ×2 → merge → (B, 128², 128) tokens
    → window-attention blocks (7) → merge → (B, 64², 160) → blocks (14) → merge, stride 1 → (B, 64², 320)
    → blocks (7) → neck → (B, 256, 64, 64)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .common import LayerNorm2d


@dataclass(frozen=True)
class TinyViTConfig:
    img_size: int = 256
    in_chans: int = 3
    embed_dims: tuple[int, ...] = (64, 128, 160, 320)
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (2, 4, 5, 10)
    window_sizes: tuple[int, ...] = (7, 7, 14, 7)
    mlp_ratio: float = 4.0
    mbconv_expand_ratio: float = 4.0
    local_conv_size: int = 3
    # Stride of the stem and of each patch merging (one per stage boundary). LiteMedSAM: stem 1, (2, 2, 1).
    stem_stride: int = 1
    downsample_strides: tuple[int, ...] = (2, 2, 1)
    out_chans: int = 256


class ConvBN(nn.Sequential):
    """Conv2d without bias followed by BatchNorm2d; children are named ``c`` and ``bn`` as upstream."""

    def __init__(
        self, cin: int, cout: int, kernel: int = 1, stride: int = 1, padding: int = 0, groups: int = 1
    ):
        super().__init__()
        self.c = nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)


class PatchEmbed(nn.Module):
    def __init__(self, in_chans: int, embed_dim: int, stride: int) -> None:
        super().__init__()
        # Upstream TinyViT: two 3×3 stride-2 convs; LiteMedSAM: two 1×1 stride-1 convs.
        kernel, pad = (1, 0) if stride == 1 else (3, 1)
        self.seq = nn.Sequential(
            ConvBN(in_chans, embed_dim // 2, kernel, stride, pad),
            nn.GELU(),
            ConvBN(embed_dim // 2, embed_dim, kernel, stride, pad),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class MBConv(nn.Module):
    """Inverted residual block on ``(B, C, H, W)``."""

    def __init__(self, dim: int, expand_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * expand_ratio)
        self.conv1 = ConvBN(dim, hidden)
        self.conv2 = ConvBN(hidden, hidden, 3, 1, 1, groups=hidden)
        self.conv3 = ConvBN(hidden, dim)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.conv1(x))
        y = self.act(self.conv2(y))
        return self.act(self.conv3(y) + x)


class PatchMerging(nn.Module):
    """``(B, C, H, W)`` or tokens → tokens ``(B, H'·W', out_dim)`` with ``H' = H / stride``."""

    def __init__(self, resolution: int, dim: int, out_dim: int, stride: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.conv1 = ConvBN(dim, out_dim)
        self.conv2 = ConvBN(out_dim, out_dim, 3, stride, 1, groups=out_dim)
        self.conv3 = ConvBN(out_dim, out_dim)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            b, _, c = x.shape
            x = x.transpose(1, 2).reshape(b, c, self.resolution, self.resolution)
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        x = self.conv3(x)
        return x.flatten(2).transpose(1, 2)


class ConvStage(nn.Module):
    def __init__(self, dim: int, depth: int, expand_ratio: float, downsample: nn.Module | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(MBConv(dim, expand_ratio) for _ in range(depth))
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x


class WindowAttention(nn.Module):
    """Multi-head attention inside one ``window × window`` window with a learned relative-offset bias.

    Input and output: ``(B·windows, window², dim)``. The qkv projection is laid out per head as
    ``[q, k, v]`` chunks (LeViT layout), not as three blocks.
    """

    attention_bias_idxs: torch.Tensor  # registered buffer

    def __init__(self, dim: int, num_heads: int, window: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = dim // num_heads
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        points = list(itertools.product(range(window), range(window)))
        offsets: dict[tuple[int, int], int] = {}
        idxs = []
        for p1 in points:
            for p2 in points:
                off = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
                idxs.append(offsets.setdefault(off, len(offsets)))
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, len(offsets)))
        self.register_buffer(
            "attention_bias_idxs",
            torch.tensor(idxs, dtype=torch.long).view(len(points), len(points)),
            persistent=False,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        qkv = self.qkv(self.norm(x)).view(b, n, self.num_heads, 3 * self.key_dim)
        q, k, v = qkv.permute(0, 2, 1, 3).split(self.key_dim, dim=3)  # each (B, heads, N, key_dim)
        bias = self.attention_biases[:, self.attention_bias_idxs].to(q.dtype)  # (heads, N, N)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Module):
    """Pre-norm MLP of a TinyViT block (``norm``, ``fc1``, ``fc2``)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(self.norm(x))))


class TinyViTBlock(nn.Module):
    """Window attention → depthwise 3×3 conv → MLP, on tokens ``(B, H·W, dim)`` at a fixed resolution."""

    def __init__(
        self, dim: int, resolution: int, num_heads: int, window: int, mlp_ratio: float, conv_size: int
    ):
        super().__init__()
        self.resolution = resolution
        self.window = window
        self.attn = WindowAttention(dim, num_heads, window)
        self.mlp = FeedForward(dim, int(dim * mlp_ratio))
        self.local_conv = ConvBN(dim, dim, conv_size, 1, conv_size // 2, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = w = self.resolution
        b, n, c = x.shape
        ws = self.window
        if h == ws and w == ws:
            attn = self.attn(x)
        else:
            pad_b, pad_r = (ws - h % ws) % ws, (ws - w % ws) % ws
            y = x.view(b, h, w, c)
            if pad_b or pad_r:
                y = F.pad(y, (0, 0, 0, pad_r, 0, pad_b))
            ph, pw = h + pad_b, w + pad_r
            nh, nw = ph // ws, pw // ws
            y = y.view(b, nh, ws, nw, ws, c).transpose(2, 3).reshape(b * nh * nw, ws * ws, c)
            y = self.attn(y)
            y = y.view(b, nh, nw, ws, ws, c).transpose(2, 3).reshape(b, ph, pw, c)
            if pad_b or pad_r:
                y = y[:, :h, :w].contiguous()
            attn = y.view(b, n, c)
        x = x + attn
        x = self.local_conv(x.transpose(1, 2).reshape(b, c, h, w)).view(b, c, n).transpose(1, 2)
        return x + self.mlp(x)


class AttentionStage(nn.Module):
    def __init__(
        self,
        dim: int,
        resolution: int,
        depth: int,
        num_heads: int,
        window: int,
        mlp_ratio: float,
        conv_size: int,
        downsample: nn.Module | None,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TinyViTBlock(dim, resolution, num_heads, window, mlp_ratio, conv_size) for _ in range(depth)
        )
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x


class TinyViT(nn.Module):
    """LiteMedSAM image encoder: ``(B, 3, S, S)`` normalised image → ``(B, out_chans, S/4, S/4)`` embedding."""

    def __init__(self, config: TinyViTConfig) -> None:
        super().__init__()
        cfg = config
        self.config = cfg
        self.patch_embed = PatchEmbed(cfg.in_chans, cfg.embed_dims[0], cfg.stem_stride)
        resolution = cfg.img_size // (cfg.stem_stride**2)
        layers: list[nn.Module] = []
        for i, dim in enumerate(cfg.embed_dims):
            last = i == len(cfg.embed_dims) - 1
            down = None
            if not last:
                down = PatchMerging(resolution, dim, cfg.embed_dims[i + 1], cfg.downsample_strides[i])
            if i == 0:
                layers.append(ConvStage(dim, cfg.depths[0], cfg.mbconv_expand_ratio, down))
            else:
                layers.append(
                    AttentionStage(
                        dim,
                        resolution,
                        cfg.depths[i],
                        cfg.num_heads[i],
                        cfg.window_sizes[i],
                        cfg.mlp_ratio,
                        cfg.local_conv_size,
                        down,
                    )
                )
            if not last:
                resolution //= cfg.downsample_strides[i]
        self.layers = nn.ModuleList(layers)
        self.out_resolution = resolution
        self.neck = nn.Sequential(
            nn.Conv2d(cfg.embed_dims[-1], cfg.out_chans, kernel_size=1, bias=False),
            LayerNorm2d(cfg.out_chans),
            nn.Conv2d(cfg.out_chans, cfg.out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(cfg.out_chans),
        )

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Stem and the convolutional stage: ``(B, 3, S, S)`` → tokens ``(B, (S/2)², C1)``.

        Split out because this high-resolution part is the one sensitive to bf16 (run alone in bf16 it
        moves the embedding by ~4% and box-prompt masks to Dice ~0.994 vs fp32; measured on pyradiomics slices).
        """
        return self.layers[0](self.patch_embed(x))

    def forward_tail(self, x: torch.Tensor) -> torch.Tensor:
        """Attention stages and neck: tokens from :meth:`forward_head` → ``(B, out_chans, h, w)``."""
        for layer in self.layers[1:]:
            x = layer(x)
        b, _, c = x.shape
        r = self.out_resolution
        return self.neck(x.view(b, r, r, c).permute(0, 3, 1, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_tail(self.forward_head(x))
