"""FCDM: the fully convolutional diffusion backbone, reimplemented.

Paper: "All Convolution, No Attention: Designing Diffusion with Convolutions", arXiv 2603.09408
(Sec. 3, Fig. 4, App. B, Table 6). Checked against star-kwon/FCDM @ 0ec590f,
models/fcdm_models.py (read, not copied; CC-BY-NC 4.0): parameter counts, strict state_dict loading
through `map_upstream_keys` and forward outputs (tests/fixtures/parity, PROVENANCE.md there).

Shape: a symmetric 3-level U-Net on the VAE latent at full latent resolution (no patchify).
Level l has width C * 2**(l-1) at H / 2**(l-1); stage depths [L, 2L, 4L, 2L, L].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from fcdmbench.catalog.fcdm import FCDM_XL, FCDMConfig
from fcdmbench.checkpoints import rename_keys
from fcdmbench.models.layers import (
    ConvFinalLayer,
    LayerNorm2d,
    LevelledConvNet,
    PixelShuffleUp,
    PixelUnshuffleDown,
)

__all__ = ["FCDM", "FCDMBlock", "GRN", "map_upstream_keys"]


class GRN(nn.Module):
    """Global Response Normalisation (ConvNeXt V2): x + gamma * (x * N(x)) + beta."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, ord=2, dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        ratio = norm / (norm.mean(dim=1, keepdim=True) + self.eps)
        return self.gamma * (x * ratio) + self.beta + x


class FCDMBlock(nn.Module):
    """ConvNeXt block with adaLN-Zero: dwconv7 -> LN -> modulate -> 1x1 (x r) -> GELU -> GRN -> 1x1.

    The condition gives shift, scale and gate (3 * dim); the gate multiplies the branch before the
    plain residual add. The modulation Linear is zero-initialised, so a fresh block is the identity.
    """

    def __init__(self, dim: int, mlp_ratio: int = 3, kernel_size: int = 7) -> None:
        super().__init__()
        hidden = dim * mlp_ratio
        self.dwconv = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = LayerNorm2d(dim, eps=1e-6, affine=False)
        self.pwconv1 = nn.Conv2d(dim, hidden, 1)
        self.grn = GRN(hidden)
        self.pwconv2 = nn.Conv2d(hidden, dim, 1)
        self.ada_ln = nn.Linear(dim, 3 * dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W); c: (B, C)
        shift, scale, gate = self.ada_ln(F.silu(c))[:, :, None, None].chunk(3, dim=1)
        h = self.norm(self.dwconv(x))
        h = torch.addcmul(shift, h, scale + 1)  # h * (1 + scale) + shift
        h = self.pwconv2(self.grn(F.gelu(self.pwconv1(h))))
        return x + h * gate


class FCDM(LevelledConvNet):
    """Fully convolutional diffusion model.

    Call signature ``model(x, t, y)``: x (B, 4, H, W) latent, t (B,) timesteps, y (B,) labels;
    returns (B, 8, H, W) (noise and variance) when `learn_sigma`, else (B, 4, H, W).
    """

    shared_label_drop = False

    def __init__(self, config: FCDMConfig = FCDM_XL) -> None:
        super().__init__()
        c = self._build_levels(config)  # per-level embedders (c_l = t_l + y_l) and the stem
        e1, e2, m, d2, d1 = config.depths

        def stage(width: int, depth: int) -> nn.ModuleList:
            return nn.ModuleList(
                FCDMBlock(width, config.mlp_ratio, config.kernel_size) for _ in range(depth)
            )

        self.enc1, self.down1 = stage(c, e1), PixelUnshuffleDown(c, 2 * c)
        self.enc2, self.down2 = stage(2 * c, e2), PixelUnshuffleDown(2 * c, 4 * c)
        self.mid = stage(4 * c, m)
        self.up2, self.merge2 = PixelShuffleUp(4 * c, 2 * c), nn.Conv2d(4 * c, 2 * c, 1)
        self.dec2 = stage(2 * c, d2)
        self.up1, self.merge1 = PixelShuffleUp(2 * c, c), nn.Conv2d(2 * c, c, 1)
        self.dec1 = stage(c, d1)
        self.head = nn.Conv2d(c, c, 3, padding=1)
        self.final = ConvFinalLayer(c, config.out_channels)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Upstream's init, zeroing every adaLN linear and the final conv (adaLN-Zero); GRN
        starts at zero."""
        zeroed = [block.ada_ln for block in self.blocks()]
        self._init_weights([*zeroed, self.final.ada_ln, self.final.conv])

    def blocks(self) -> list[FCDMBlock]:
        return [*self.enc1, *self.enc2, *self.mid, *self.dec2, *self.dec1]

    def _run_stage(self, blocks: nn.ModuleList, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        mode = self.config.checkpointing
        use_ckpt = mode == "always" or (
            mode == "train" and self.training and torch.is_grad_enabled()
        )
        for block in blocks:
            x = checkpoint(block, x, c, use_reentrant=False) if use_ckpt else block(x, c)
        return x

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c1, c2, c3 = self.embed_conditions(t, y)  # (B, C), (B, 2C), (B, 4C)
        skip1 = self._run_stage(self.enc1, self.stem(x), c1)  # (B, C, H, W)
        skip2 = self._run_stage(self.enc2, self.down1(skip1), c2)  # (B, 2C, H/2, W/2)
        h = self._run_stage(self.mid, self.down2(skip2), c3)  # (B, 4C, H/4, W/4)
        h = self.merge2(torch.cat([self.up2(h), skip2], dim=1))
        h = self._run_stage(self.dec2, h, c2)
        h = self.merge1(torch.cat([self.up1(h), skip1], dim=1))
        h = self._run_stage(self.dec1, h, c1)
        return self.final(self.head(h), c1)  # (B, out_channels, H, W)


#: Upstream (star-kwon/FCDM) state_dict names -> ours, applied in order.
UPSTREAM_KEY_RULES: tuple[tuple[str, str], ...] = (
    (r"^t_embedder_(\d)\.", lambda m: f"t_embedders.{int(m.group(1)) - 1}."),
    (r"^y_embedder_(\d)\.", lambda m: f"y_embedders.{int(m.group(1)) - 1}."),
    (r"^x_embedder\.", "stem."),
    (r"^encoder_level_1\.", "enc1."),
    (r"^encoder_level_2\.", "enc2."),
    (r"^latent\.", "mid."),
    (r"^decoder_level_2\.", "dec2."),
    (r"^decoder_level_1\.", "dec1."),
    (r"^down1_2\.conv\.0\.", "down1.conv."),
    (r"^down2_3\.conv\.0\.", "down2.conv."),
    (r"^up3_2\.conv\.0\.", "up2.conv."),
    (r"^up2_1\.conv\.0\.", "up1.conv."),
    (r"^reduce_chans_2\.", "merge2."),
    (r"^reduce_chans_1\.", "merge1."),
    (r"^output_layer\.", "head."),
    (r"^final_layer\.", "final."),
    (r"\.adaLN_modulation\.1\.", ".ada_ln."),
)


def map_upstream_keys(state_dict):
    """Rename an upstream FCDM state_dict's keys to fcdmbench's (tensors untouched)."""
    return rename_keys(state_dict, UPSTREAM_KEY_RULES)
