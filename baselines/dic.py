"""DiC: a Conv3x3 U-Net diffusion backbone, reimplemented.

Paper: "DiC: Rethinking Conv3x3 Designs in Diffusion Models", Tian et al., arXiv 2501.00603
(CVPR 2025). Checked against YuchuanTian/DiC @ bfa541b, dic_models.py (read, not copied;
CC-BY-NC 4.0): parameter counts, strict loading of upstream state_dicts through
`map_upstream_keys`, and forward / CFG outputs on deterministic weights (tests/fixtures/parity,
PROVENANCE.md there and in baselines/).

Shape: a 3-level U-Net on the VAE latent at full latent resolution; level l has width
C * 2**(l-1) at H / 2**(l-1). Each level has its own timestep MLP and label table; the stages use
conditions [c1, c2, c3, c2, c1] and the final layer uses c1. Upstream's ``DiC_default`` settings
are fixed here: blocks are GroupNorm -> GELU -> Conv3x3 -> GroupNorm -> adaLN (gate, scale,
shift from SiLU(c)) -> GELU -> Conv3x3, gated residual; skips are sparse (`skip_stride`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fcdmbench.catalog.dic import DiCConfig, group_count
from fcdmbench.checkpoints import rename_keys
from fcdmbench.models.layers import (
    ConvFinalLayer,
    LevelledConvNet,
    PixelShuffleUp,
    PixelUnshuffleDown,
)

__all__ = ["DiC", "DiCBlock", "map_upstream_keys"]

#: GroupNorm epsilon of every DiC block (upstream UNetBlock default).
GROUP_NORM_EPS = 1e-5


class DiCBlock(nn.Module):
    """Conv3x3 residual block with adaLN between its two convolutions.

    ``out = skip(x) + gate * conv2(GELU(modulate(GN(conv1(GELU(GN(x)))), shift, scale)))``; the
    condition has `out_ch` channels. `skip` is a 1x1 conv when the channel count changes (the
    decoder blocks that take ``[upsampled, skip]`` concatenated), else the identity.
    """

    def __init__(self, in_ch: int, out_ch: int, config: DiCConfig) -> None:
        super().__init__()
        groups_in = group_count(in_ch, config.max_groups, config.min_group_channels)
        groups_out = group_count(out_ch, config.max_groups, config.min_group_channels)
        self.norm1 = nn.GroupNorm(groups_in, in_ch, eps=GROUP_NORM_EPS)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups_out, out_ch, eps=GROUP_NORM_EPS)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.ada_ln = nn.Linear(out_ch, 3 * out_ch)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # x: (B, in_ch, H, W); c: (B, out_ch)
        gate, scale, shift = self.ada_ln(F.silu(c)).chunk(3, dim=1)  # (B, out_ch) each
        h = self.conv1(F.gelu(self.norm1(x)))
        # shift + GN(h) * (1 + scale), with upstream's addcmul so fp32 outputs match bit for bit
        h = torch.addcmul(shift[:, :, None, None], self.norm2(h), scale[:, :, None, None] + 1)
        h = F.gelu(h)
        h = self.conv2(h)
        return self.skip(x) + gate[:, :, None, None] * h


class DiC(LevelledConvNet):
    """DiC U-Net.

    Call signature ``model(x, t, y)``: x (B, 4, H, W) latent, t (B,) timesteps, y (B,) labels;
    returns (B, 8, H, W) when `learn_sigma`, else (B, 4, H, W). H and W must be multiples of 4.

    Label dropout follows upstream: in training the labels are dropped once (level-1 embedder's
    probability) and the same dropped labels feed all three label tables.
    """

    def __init__(self, config: DiCConfig | None = None) -> None:
        super().__init__()
        config = config or DiCConfig()
        c = self._build_levels(config)
        e1, e2, m, d2, d1 = config.depths

        def encoder(width: int, depth: int) -> nn.ModuleList:
            return nn.ModuleList(DiCBlock(width, width, config) for _ in range(depth))

        def decoder(width: int, depth: int) -> nn.ModuleList:
            # Blocks 0, s, 2s, ... take [upsampled, skip] (2 * width channels).
            return nn.ModuleList(
                DiCBlock(2 * width if i % config.skip_stride == 0 else width, width, config)
                for i in range(depth)
            )

        self.enc1, self.down1 = encoder(c, e1), PixelUnshuffleDown(c, 2 * c)
        self.enc2, self.down2 = encoder(2 * c, e2), PixelUnshuffleDown(2 * c, 4 * c)
        self.mid = encoder(4 * c, m)
        self.up2, self.dec2 = PixelShuffleUp(4 * c, 2 * c), decoder(2 * c, d2)
        self.up1, self.dec1 = PixelShuffleUp(2 * c, c), decoder(c, d1)
        self.head = nn.Conv2d(c, c, 3, padding=1)
        self.final = ConvFinalLayer(c, config.out_channels)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Upstream's effective init, zeroing only the final adaLN and the final conv.

        The block adaLN linears keep their Xavier init: upstream's zeroing loop looks them up
        under a name its blocks do not have, so nothing is zeroed there, and DiC blocks are not
        the identity at init (unlike DiT's adaLN-Zero).
        """
        self._init_weights([self.final.ada_ln, self.final.conv])

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c1, c2, c3 = self.embed_conditions(t, y)  # (B, C), (B, 2C), (B, 4C)
        stride = self.config.skip_stride
        skips: list[torch.Tensor] = []

        def run_encoder(blocks: nn.ModuleList, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            for i, block in enumerate(blocks):
                h = block(h, c)
                if (len(blocks) - 1 - i) % stride == 0:  # the stage's last block, then every s-th
                    skips.append(h)
            return h

        def run_decoder(blocks: nn.ModuleList, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            for i, block in enumerate(blocks):
                if i % stride == 0:
                    h = torch.cat([h, skips.pop()], dim=1)  # (B, 2 * width, H, W)
                h = block(h, c)
            return h

        h = run_encoder(self.enc1, self.stem(x), c1)  # (B, C, H, W)
        h = run_encoder(self.enc2, self.down1(h), c2)  # (B, 2C, H/2, W/2)
        h = self.down2(h)  # (B, 4C, H/4, W/4)
        for block in self.mid:
            h = block(h, c3)
        h = run_decoder(self.dec2, self.up2(h), c2)  # (B, 2C, H/2, W/2)
        h = run_decoder(self.dec1, self.up1(h), c1)  # (B, C, H, W)
        return self.final(self.head(h), c1)  # (B, out_channels, H, W)


def _rename_block_part(match) -> str:
    # Upstream numbers a block's norms/convs 0 and 1 under a ".conv." wrapper; ours are 1 and 2.
    return f".{match.group(1)}{int(match.group(2)) + 1}."


#: Upstream (YuchuanTian/DiC) state_dict names -> ours, applied in order.
UPSTREAM_KEY_RULES: tuple = (
    (r"^x_embedder\.proj\.", "stem."),
    (r"^t_embedder_ls\.", "t_embedders."),
    (r"^y_embedder_ls\.", "y_embedders."),
    (r"^enc_blocks\.0\.", "enc1."),
    (r"^enc_blocks\.1\.", "enc2."),
    (r"^lat_blocks\.0\.", "mid."),
    (r"^dec_blocks\.0\.", "dec2."),
    (r"^dec_blocks\.1\.", "dec1."),
    (r"^downs\.0\.body\.0\.", "down1.conv."),
    (r"^downs\.1\.body\.0\.", "down2.conv."),
    (r"^ups\.0\.body\.0\.", "up2.conv."),
    (r"^ups\.1\.body\.0\.", "up1.conv."),
    (r"\.conv\.(norm|conv)([01])\.", _rename_block_part),
    (r"\.conv\.affine\.1\.", ".ada_ln."),
    (r"\.conv\.skip\.", ".skip."),
    (r"^output\.", "head."),
    (r"^final_layer\.adaLN_modulation\.1\.", "final.ada_ln."),
    (r"^final_layer\.out_proj\.", "final.conv."),
)


def map_upstream_keys(state_dict):
    """Rename an upstream DiC state_dict's keys to fcdmbench's (tensors untouched)."""
    return rename_keys(state_dict, UPSTREAM_KEY_RULES)
