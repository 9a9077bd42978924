"""FCDM family: config, variants and registrations (torch-free).

Paper: "All Convolution, No Attention: Designing Diffusion with Convolutions" (arXiv 2603.09408),
Sec. 3, Fig. 4, App. B, Table 6. Upstream: star-kwon/FCDM @ 0ec590f, models/fcdm_models.py
(CC-BY-NC 4.0; reimplemented in fcdmbench/models/fcdm.py, not copied).
"""

from __future__ import annotations

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

__all__ = ["CHECKPOINTING_MODES", "FCDMConfig", "FCDM_B", "FCDM_L", "FCDM_S", "FCDM_XL"]

#: off: never; train: per-block gradient checkpointing when training with grad enabled;
#: always: as upstream ships it, every block under torch.utils.checkpoint, even in eval.
CHECKPOINTING_MODES = ("off", "train", "always")


@dataclass(frozen=True, slots=True)
class FCDMConfig:
    """FCDM hyper-parameters.

    Args:
        width: level-1 channels C; levels 2 and 3 have 2C and 4C.
        depths: blocks per stage [enc1, enc2, middle, dec2, dec1] (the paper's [L, 2L, 4L, 2L, L]).
        mlp_ratio: inverted-bottleneck expansion r of the 1x1 convs (3, Table 6).
        input_size: latent side; any multiple of 4 works (no positional embedding).
        checkpointing: one of CHECKPOINTING_MODES.
    """

    width: int = 512
    depths: tuple[int, int, int, int, int] = (3, 6, 12, 6, 3)
    mlp_ratio: int = 3
    in_channels: int = 4
    input_size: int = 32
    num_classes: int = 1000
    class_dropout_prob: float = 0.1
    learn_sigma: bool = True
    frequency_dim: int = 256
    kernel_size: int = 7
    checkpointing: str = "off"

    def __post_init__(self) -> None:
        if len(self.depths) != 5 or any(int(d) < 0 for d in self.depths):
            raise ConfigError(f"depths must be 5 non-negative ints, got {self.depths!r}")
        object.__setattr__(self, "depths", tuple(int(d) for d in self.depths))
        if self.width <= 0 or self.width % 4:
            raise ConfigError(f"width must be a positive multiple of 4, got {self.width}")
        check_latent_side(self, 4, "FCDM (two 2x downsamplings)")
        check_conditioning(self)
        if self.mlp_ratio <= 0 or self.kernel_size % 2 == 0:
            raise ConfigError("mlp_ratio must be positive and kernel_size odd")
        if self.checkpointing not in CHECKPOINTING_MODES:
            raise ConfigError(
                f"checkpointing must be one of {CHECKPOINTING_MODES}, got {self.checkpointing!r}"
            )

    @property
    def out_channels(self) -> int:
        return self.in_channels * 2 if self.learn_sigma else self.in_channels

    def num_params(self) -> int:
        """Exact parameter count (analytic; tests compare it with the built model)."""
        c, r, k = self.width, self.mlp_ratio, self.kernel_size

        def block(d: int) -> int:
            dw = d * k * k + d
            mlp = (d * r * d + r * d) + 2 * r * d + (r * d * d + d)  # pw1, GRN, pw2
            return dw + mlp + d * 3 * d + 3 * d  # + adaLN

        e1, e2, m, d2, d1 = self.depths
        total = levels_frame_params(self)
        total += e1 * block(c) + e2 * block(2 * c) + m * block(4 * c)
        total += d2 * block(2 * c) + d1 * block(c)
        total += (4 * c * 2 * c + 2 * c) + (2 * c * c + c)  # skip merges
        total += c * c * 9 + c  # head conv
        total += conv_final_params(c, self.out_channels)
        return total


FCDM_S = FCDMConfig(width=128, depths=(2, 4, 8, 4, 2))
FCDM_B = FCDMConfig(width=256, depths=(2, 4, 8, 4, 2))
FCDM_L = FCDMConfig(width=512, depths=(2, 4, 8, 4, 2))
FCDM_XL = FCDMConfig(width=512, depths=(3, 6, 12, 6, 3))

#: What the registry registers when it loads this module.
SPECS = variant_specs(
    "fcdm",
    {"fcdm-s": FCDM_S, "fcdm-b": FCDM_B, "fcdm-l": FCDM_L, "fcdm-xl": FCDM_XL},
    "FCDM",
    builder="fcdmbench.models.fcdm:FCDM",
    upstream=Upstream(
        "star-kwon/FCDM",
        "0ec590f44b9cd4353fcd1866eeb6a06d356df259",
        "CC-BY-NC-4.0",
        "models/fcdm_models.py",
    ),
    key_map="fcdmbench.models.fcdm:map_upstream_keys",
)
