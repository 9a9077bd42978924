"""DiCo: a convolutional diffusion U-Net with compact channel attention, reimplemented.

Paper: "DiCo: Revitalizing ConvNets for Scalable and Efficient Diffusion Modeling", arXiv
2505.11196 (Sec. 3, Fig. 3). Checked against shallowdream204/DiCo @ b596b05, dico_models.py (read,
not copied; Apache-2.0): exact parameter counts, strict loading of the upstream state_dict through
`map_upstream_keys`, and forward / CFG outputs (tests/fixtures/parity, baselines/PROVENANCE.md).

Shape: a 3-level U-Net on the latent at full latent resolution (3x3 stem, no patchify). Encoder
levels have C, 2C, 4C channels at H, H/2, H/4; the decoder returns to 2C at H/2 and stays at 2C at
H (upstream's layout), where the output layer reads it. Level 1 is conditioned on c1 (width C) in
the encoder only; the level-1 decoder and the output layer use c2 (width 2C), as upstream does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fcdmbench.catalog.dico import DiCoConfig
from fcdmbench.checkpoints import rename_keys
from fcdmbench.models.layers import (
    ConvFinalLayer,
    LayerNorm2d,
    LevelledConvNet,
    PixelShuffleUp,
    PixelUnshuffleDown,
    modulate,
)

__all__ = ["CompactChannelAttention", "DiCo", "DiCoBlock", "map_upstream_keys"]


class CompactChannelAttention(nn.Module):
    """Channel gate from global context: x * sigmoid(W @ mean_hw(x) + b) (DiCo Sec. 3.2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.sigmoid(self.proj(F.adaptive_avg_pool2d(x, 1)))  # (B, C, 1, 1)
        return x * weights


class DiCoBlock(nn.Module):
    """Conv block with adaLN-Zero.

    Spatial branch: LN -> modulate -> 1x1 -> depthwise 3x3 -> GELU -> compact channel attention
    -> 1x1, gated. FFN branch: LN -> modulate -> 1x1 (x ratio) -> GELU -> 1x1, gated. The condition
    gives shift, scale and gate for both branches (6 * dim).
    """

    def __init__(self, dim: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(mlp_ratio * dim)
        self.norm1 = LayerNorm2d(dim, eps=1e-6, affine=False)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.cca = CompactChannelAttention(dim)
        self.proj_out = nn.Conv2d(dim, dim, 1)
        self.norm2 = LayerNorm2d(dim, eps=1e-6, affine=False)
        self.ffn_in = nn.Conv2d(dim, hidden, 1)
        self.ffn_out = nn.Conv2d(hidden, dim, 1)
        self.ada_ln = nn.Linear(dim, 6 * dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W); c: (B, C)
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada_ln(F.silu(c)).chunk(6, dim=1)
        h = modulate(self.norm1(x), shift1, scale1)
        h = self.cca(F.gelu(self.dwconv(self.proj_in(h))))
        x = x + gate1[:, :, None, None] * self.proj_out(h)
        h = self.ffn_out(F.gelu(self.ffn_in(modulate(self.norm2(x), shift2, scale2))))
        return x + gate2[:, :, None, None] * h


class DiCo(LevelledConvNet):
    """DiCo diffusion backbone.

    Call signature ``model(x, t, y)``: x (B, 4, H, W) latent, t (B,) timesteps, y (B,) labels;
    returns (B, 8, H, W) (noise and variance) when `learn_sigma`, else (B, 4, H, W).
    `forward_with_cfg` follows DiT (guidance on the first 3 channels), as upstream does.
    """

    def __init__(self, config: DiCoConfig | None = None) -> None:
        super().__init__()
        config = config if config is not None else DiCoConfig()
        c = self._build_levels(config)  # per-level embedders (one label drop shared) and stem
        e1, e2, m, d2, d1 = config.depths

        def stage(width: int, depth: int) -> nn.ModuleList:
            return nn.ModuleList(DiCoBlock(width, config.mlp_ratio) for _ in range(depth))

        self.enc1, self.down1 = stage(c, e1), PixelUnshuffleDown(c, 2 * c)
        self.enc2, self.down2 = stage(2 * c, e2), PixelUnshuffleDown(2 * c, 4 * c)
        self.mid = stage(4 * c, m)
        self.up2, self.merge2 = PixelShuffleUp(4 * c, 2 * c), nn.Conv2d(4 * c, 2 * c, 1)
        self.dec2 = stage(2 * c, d2)
        self.up1, self.merge1 = PixelShuffleUp(2 * c, c), nn.Conv2d(2 * c, 2 * c, 1)
        self.dec1 = stage(2 * c, d1)
        self.final = ConvFinalLayer(2 * c, config.out_channels)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Upstream's init, zeroing every adaLN linear and the output conv (adaLN-Zero)."""
        zeroed = [block.ada_ln for block in self.blocks()]
        self._init_weights([*zeroed, self.final.ada_ln, self.final.conv])

    def blocks(self) -> list[DiCoBlock]:
        return [*self.enc1, *self.enc2, *self.mid, *self.dec2, *self.dec1]

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c1, c2, c3 = self.embed_conditions(t, y)  # (B, C), (B, 2C), (B, 4C)
        skip1 = self.stem(x)  # (B, C, H, W)
        for block in self.enc1:
            skip1 = block(skip1, c1)
        skip2 = self.down1(skip1)  # (B, 2C, H/2, W/2)
        for block in self.enc2:
            skip2 = block(skip2, c2)
        h = self.down2(skip2)  # (B, 4C, H/4, W/4)
        for block in self.mid:
            h = block(h, c3)
        h = self.merge2(torch.cat([self.up2(h), skip2], dim=1))  # (B, 2C, H/2, W/2)
        for block in self.dec2:
            h = block(h, c2)
        h = self.merge1(torch.cat([self.up1(h), skip1], dim=1))  # (B, 2C, H, W)
        for block in self.dec1:
            h = block(h, c2)
        return self.final(h, c2)  # (B, out_channels, H, W)


#: Upstream (shallowdream204/DiCo) state_dict names -> ours, applied in order.
UPSTREAM_KEY_RULES: tuple[tuple[str, str], ...] = (
    (r"^t_embedder_(\d)\.", lambda m: f"t_embedders.{int(m.group(1)) - 1}."),
    (r"^y_embedder\.embedding_table_(\d)\.", r"y_embedders.\1.embedding_table."),
    (r"^x_embedder\.proj\.", "stem."),
    (r"^encoder_level_1\.", "enc1."),
    (r"^encoder_level_2\.", "enc2."),
    (r"^latent\.", "mid."),
    (r"^decoder_level_2\.", "dec2."),
    (r"^decoder_level_1\.", "dec1."),
    (r"^down1_2\.body\.0\.", "down1.conv."),
    (r"^down2_3\.body\.0\.", "down2.conv."),
    (r"^up3_2\.body\.0\.", "up2.conv."),
    (r"^up2_1\.body\.0\.", "up1.conv."),
    (r"^reduce_chan_level2\.", "merge2."),
    (r"^reduce_chan_level1\.", "merge1."),
    (r"^final_layer\.out_proj\.", "final.conv."),
    (r"^final_layer\.", "final."),
    (r"\.adaLN_modulation\.1\.", ".ada_ln."),
    (r"\.conv1\.", ".proj_in."),
    (r"\.conv2\.", ".dwconv."),
    (r"\.ca\.1\.", ".cca.proj."),
    (r"\.conv3\.", ".proj_out."),
    (r"\.conv4\.", ".ffn_in."),
    (r"\.conv5\.", ".ffn_out."),
)


def map_upstream_keys(state_dict):
    """Rename an upstream DiCo state_dict's keys to fcdmbench's (tensors untouched)."""
    return rename_keys(state_dict, UPSTREAM_KEY_RULES)
