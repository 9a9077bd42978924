"""DiC family: config, variants and registrations (torch-free).

Paper: "DiC: Rethinking Conv3x3 Designs in Diffusion Models" (arXiv 2501.00603, CVPR 2025).
Upstream: YuchuanTian/DiC @ bfa541b, dic_models.py (CC-BY-NC 4.0; reimplemented in
baselines/dic.py, imported as ``fcdmbench_baselines.dic``, not copied).

DiC is a 3-level conv U-Net at full latent resolution (no patchify): widths C, 2C, 4C, stages
[enc1, enc2, mid, dec2, dec1] of Conv3x3 residual blocks, with "sparse" skips (every
`skip_stride`-th block of an encoder stage feeds one decoder block). Nothing depends on the input
size, so 256 px and 512 px share every weight; `input_size` only records the latent side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fcdmbench.catalog._common import (
    check_conditioning,
    check_latent_side,
    conv_final_params,
    levels_frame_params,
    variant_specs,
)
from fcdmbench.catalog.spec import Upstream
from fcdmbench.errors import ConfigError

__all__ = ["DIC_B", "DIC_H", "DIC_S", "DIC_XL", "DiCConfig", "group_count"]


def group_count(channels: int, max_groups: int = 32, min_group_channels: int = 4) -> int:
    """GroupNorm groups for `channels`: as many as `max_groups`, at least 4 channels each."""
    return min(max_groups, channels // min_group_channels)


@dataclass(frozen=True, slots=True)
class DiCConfig:
    """DiC hyper-parameters (upstream's ``DiC_default`` settings are the defaults).

    Args:
        width: level-1 channels C (upstream ``hidden_size``); levels 2 and 3 have 2C and 4C.
        depths: blocks per stage [enc1, enc2, mid, dec2, dec1]; must be mirror-symmetric.
        skip_stride: every `skip_stride`-th block of a stage takes part in a skip connection.
        max_groups: GroupNorm group cap; a norm over c channels uses
            min(max_groups, c // min_group_channels) groups.
        min_group_channels: fewest channels per GroupNorm group.
        input_size: latent side; any multiple of 4 works (two 2x downsamplings).
    """

    width: int = 384
    depths: tuple[int, int, int, int, int] = (7, 7, 8, 7, 7)
    skip_stride: int = 3
    max_groups: int = 32
    min_group_channels: int = 4
    in_channels: int = 4
    input_size: int = 32
    num_classes: int = 1000
    class_dropout_prob: float = 0.1
    learn_sigma: bool = True
    frequency_dim: int = 256

    def __post_init__(self) -> None:
        if len(self.depths) != 5 or any(int(d) < 0 for d in self.depths):
            raise ConfigError(f"depths must be 5 non-negative ints, got {self.depths!r}")
        object.__setattr__(self, "depths", tuple(int(d) for d in self.depths))
        e1, e2, _, d2, d1 = self.depths
        if (e1, e2) != (d1, d2) or min(e1, e2) < 1:
            raise ConfigError(
                f"depths must be mirror-symmetric with encoder stages >= 1, got {self.depths!r}",
                hint="upstream DiC pairs encoder and decoder stages, e.g. (6, 6, 5, 6, 6)",
            )
        if self.skip_stride < 1:
            raise ConfigError(f"skip_stride must be >= 1, got {self.skip_stride}")
        if self.width <= 0:
            raise ConfigError(f"width must be positive, got {self.width}")
        if self.max_groups < 1 or self.min_group_channels < 1:
            raise ConfigError("max_groups and min_group_channels must be >= 1")
        for channels in (self.width, 2 * self.width, 4 * self.width):
            groups = group_count(channels, self.max_groups, self.min_group_channels)
            if groups < 1 or channels % groups:
                raise ConfigError(
                    f"width {self.width}: GroupNorm over {channels} channels needs {groups} groups "
                    "that divide it",
                    hint="use a width that is a multiple of 32, e.g. 96, 192 or 384",
                )
        check_latent_side(self, 4, "DiC (two 2x downsamplings)")
        check_conditioning(self)

    @property
    def out_channels(self) -> int:
        return self.in_channels * 2 if self.learn_sigma else self.in_channels

    def num_skips(self, depth: int) -> int:
        """Skip tensors an encoder stage of `depth` blocks hands to its decoder stage."""
        return math.ceil(depth / self.skip_stride)

    def num_params(self) -> int:
        """Exact parameter count (analytic; tests compare it with the built model)."""
        c = self.width

        def block(c_in: int, c_out: int) -> int:
            norms = 2 * c_in + 2 * c_out
            convs = (c_in * c_out * 9 + c_out) + (c_out * c_out * 9 + c_out)
            ada_ln = c_out * 3 * c_out + 3 * c_out
            skip = c_in * c_out + c_out if c_in != c_out else 0
            return norms + convs + ada_ln + skip

        def decoder(d: int, width: int) -> int:
            merging = self.num_skips(d)  # these blocks take [up, skip] concatenated: 2 * width
            return merging * block(2 * width, width) + (d - merging) * block(width, width)

        e1, e2, m, d2, d1 = self.depths
        total = levels_frame_params(self)
        total += e1 * block(c, c) + e2 * block(2 * c, 2 * c) + m * block(4 * c, 4 * c)
        total += decoder(d2, 2 * c) + decoder(d1, c)
        total += c * c * 9 + c  # head conv
        total += conv_final_params(c, self.out_channels)
        return total


# Upstream dic_models.py: DiC_S, DiC_B, DiC_XL, DiC_H (hidden_size, depth).
DIC_S = DiCConfig(width=96, depths=(6, 6, 5, 6, 6))
DIC_B = DiCConfig(width=192, depths=(6, 6, 5, 6, 6))
DIC_XL = DiCConfig(width=384, depths=(7, 7, 8, 7, 7))
DIC_H = DiCConfig(width=384, depths=(14, 14, 10, 14, 14))

#: What the registry registers when it loads this module.
SPECS = variant_specs(
    "dic",
    {"dic-s": DIC_S, "dic-b": DIC_B, "dic-xl": DIC_XL, "dic-h": DIC_H},
    "DiC",
    builder="fcdmbench_baselines.dic:DiC",
    upstream=Upstream(
        "YuchuanTian/DiC",
        "bfa541b5e3a968919f3a399fc0e223e877439b3b",
        "CC-BY-NC-4.0",
        "dic_models.py",
    ),
    key_map="fcdmbench_baselines.dic:map_upstream_keys",
)
