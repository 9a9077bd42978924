"""Primitives shared by FCDM and every baseline: embedders, adaLN modulation and the CFG forward.

Written once here (docs/design.md, "Models"); DiT, DiC, DiCo and FCDM all condition on a sinusoidal
timestep embedding (GLIDE/ADM form: cos then sin, max period 1e4) plus a class embedding with one
extra row as the classifier-free-guidance null label.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CFGMixin",
    "ConvFinalLayer",
    "LabelEmbedder",
    "LayerNorm2d",
    "LevelledConvNet",
    "PixelShuffleUp",
    "PixelUnshuffleDown",
    "TimestepEmbedder",
    "cfg_forward",
    "modulate",
    "timestep_embedding",
]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features of (possibly fractional) timesteps: (N,) -> (N, dim), cos then sin."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device)
    freqs = torch.exp(exponent / half)
    args = t[:, None].float() * freqs[None]  # (N, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class TimestepEmbedder(nn.Module):
    """Timestep -> sinusoidal features -> Linear -> SiLU -> Linear (hidden width `dim`)."""

    def __init__(self, dim: int, frequency_dim: int = 256) -> None:
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, self.frequency_dim))  # (N, dim)


class LabelEmbedder(nn.Module):
    """Class-label table with a null row (index `num_classes`) for classifier-free guidance.

    In training each sample's label is replaced by the null label with probability `dropout_prob`;
    `force_drop_ids == 1` forces the drop (used to build unconditional batches).
    """

    def __init__(self, num_classes: int, dim: int, dropout_prob: float) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.dropout_prob = dropout_prob
        self.embedding_table = nn.Embedding(num_classes + int(dropout_prob > 0), dim)

    def drop_labels(self, labels: torch.Tensor, force_drop_ids: torch.Tensor | None = None):
        if force_drop_ids is None:
            drop = torch.rand(labels.shape[0], device=labels.device) < self.dropout_prob
        else:
            drop = force_drop_ids == 1
        return torch.where(drop, self.num_classes, labels)

    def forward(
        self, labels: torch.Tensor, train: bool, force_drop_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        if (train and self.dropout_prob > 0) or force_drop_ids is not None:
            labels = self.drop_labels(labels, force_drop_ids)
        return self.embedding_table(labels)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of an NCHW tensor (optionally without affine parameters)."""

    def __init__(self, channels: int, eps: float = 1e-6, affine: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(channels)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # (B, H, W, C)
        x = nn.functional.layer_norm(x, (self.channels,), self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: ``x * (1 + scale) + shift`` with shift/scale broadcast from (B, C).

    Works on tokens (B, N, C) and on feature maps (B, C, H, W).
    """
    if x.dim() == 4:
        shift, scale = shift[:, :, None, None], scale[:, :, None, None]
    else:
        shift, scale = shift.unsqueeze(1), scale.unsqueeze(1)
    return x * (1 + scale) + shift


class PixelUnshuffleDown(nn.Module):
    """3x3 conv (no bias) to out/4 channels, then PixelUnshuffle(2):
    (B, in, H, W) -> (B, out, H/2, W/2)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch // 4, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(self.conv(x), 2)


class PixelShuffleUp(nn.Module):
    """3x3 conv (no bias) to 4*out channels, then PixelShuffle(2):
    (B, in, H, W) -> (B, out, 2H, 2W)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch * 4, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), 2)


class ConvFinalLayer(nn.Module):
    """Channel LN (no affine) -> adaLN shift/scale from the condition -> 3x3 conv to the output."""

    def __init__(self, dim: int, out_channels: int) -> None:
        super().__init__()
        self.norm = LayerNorm2d(dim, eps=1e-6, affine=False)
        self.ada_ln = nn.Linear(dim, 2 * dim)
        self.conv = nn.Conv2d(dim, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.ada_ln(F.silu(c)).chunk(2, dim=1)  # (B, C) each
        return self.conv(modulate(self.norm(x), shift, scale))


def cfg_forward(
    forward: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    t: torch.Tensor,
    y: torch.Tensor,
    cfg_scale: float,
    channels: int = 3,
) -> torch.Tensor:
    """Classifier-free guidance exactly as DiT's ``forward_with_cfg`` (DiT @ ed81ce2, models.py).

    The one CFG implementation in fcdmbench (`CFGMixin.forward_with_cfg` and the samplers call it).
    The batch is upstream's doubled batch: 2B rows, the conditional half first and the
    null-label half second; only the first half of `x` is used (both halves of the network input
    are that half). Guidance mixes the first `channels` output channels as
    ``uncond + scale * (cond - uncond)`` and writes the result into both halves; the remaining
    channels (including the variance output) pass through from each half, as upstream.

    Args:
        forward: ``forward(x, t, y)`` of the network.
        x, t, y: (2B, ...) inputs; ``y[B:]`` holds the null label.
        cfg_scale: guidance scale.
        channels: 3 is DiT's choice "for exact reproducibility"; the latent channel count gives
            standard CFG on all of them.
    """
    half = x[: len(x) // 2]
    out = forward(torch.cat([half, half], dim=0), t, y)
    guided, rest = out[:, :channels], out[:, channels:]
    cond, uncond = torch.split(guided, len(guided) // 2, dim=0)
    mixed = uncond + cfg_scale * (cond - uncond)
    return torch.cat([torch.cat([mixed, mixed], dim=0), rest], dim=1)


class CFGMixin:
    """`forward_with_cfg` as DiT defines it, for any model with ``forward(x, t, y)``.

    See `cfg_forward` (the batch layout and which channels are guided).
    """

    cfg_channels: int = 3

    def forward_with_cfg(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, cfg_scale: float
    ) -> torch.Tensor:
        return cfg_forward(self.forward, x, t, y, cfg_scale, self.cfg_channels)


class LevelledConvNet(CFGMixin, nn.Module):
    """What FCDM, DiC and DiCo share: three levels of width C, 2C and 4C, each with its own
    timestep MLP and label table, a 3x3 stem, and upstream's weight init."""

    #: Upstream DiC and DiCo drop a label once for all levels; FCDM drops it per level.
    shared_label_drop: bool = True

    def _build_levels(self, config: Any) -> int:
        """Set `config`, the channel counts, the per-level embedders and the stem (in the order
        upstream's state dict has them); return C. `config` also supplies ``frequency_dim``,
        ``num_classes`` and ``class_dropout_prob``."""
        self.config = config
        self.in_channels = config.in_channels
        self.out_channels = config.out_channels
        c = config.width
        widths = (c, 2 * c, 4 * c)
        self.t_embedders = nn.ModuleList(TimestepEmbedder(w, config.frequency_dim) for w in widths)
        self.y_embedders = nn.ModuleList(
            LabelEmbedder(config.num_classes, w, config.class_dropout_prob) for w in widths
        )
        self.stem = nn.Conv2d(config.in_channels, c, 3, padding=1)
        return c

    def _init_weights(self, zeroed: Iterable[nn.Module]) -> None:
        """Xavier-uniform convs and linears with zero bias (the stem's as one matrix), N(0, 0.02)
        label tables and timestep MLPs, then weight and bias of each `zeroed` layer at zero."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.xavier_uniform_(self.stem.weight.view(self.stem.weight.shape[0], -1))
        for emb in self.y_embedders:
            nn.init.normal_(emb.embedding_table.weight, std=0.02)
        for emb in self.t_embedders:
            nn.init.normal_(emb.mlp[0].weight, std=0.02)
            nn.init.normal_(emb.mlp[2].weight, std=0.02)
        for layer in zeroed:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def embed_conditions(self, t: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """Per-level conditions c_l = t_l + y_l, widths C, 2C, 4C. In training, labels are
        dropped once for every level (the level-1 table's probability) where
        `shared_label_drop`, else by each level's table."""
        train = self.training
        if self.shared_label_drop:
            first = self.y_embedders[0]
            if train and first.dropout_prob > 0:
                y = first.drop_labels(y)
            train = False
        return [
            t_emb(t) + y_emb(y, train)
            for t_emb, y_emb in zip(self.t_embedders, self.y_embedders, strict=True)
        ]
