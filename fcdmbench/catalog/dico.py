"""DiCo family: config, variants and registrations (torch-free).

Paper: "DiCo: Revitalizing ConvNets for Scalable and Efficient Diffusion Modeling" (arXiv
2505.11196). Upstream: shallowdream204/DiCo @ b596b05, dico_models.py (Apache-2.0; reimplemented in
baselines/dico.py, imported as `fcdmbench_baselines.dico`, not copied).

Upstream's variant functions (``DiCo_XL(**kwargs)``) drop their keyword arguments; here every
field of `DiCoConfig` can be overridden through ``create_model(name, **overrides)``, and an unknown
field raises `ConfigError`.
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

__all__ = ["DICO_B", "DICO_L", "DICO_S", "DICO_XL", "DiCoConfig"]


@dataclass(frozen=True, slots=True)
class DiCoConfig:
    """DiCo hyper-parameters.

    Args:
        width: level-1 channels C. Levels 2 and 3 have 2C and 4C; the level-1 decoder and the
            output layer run at 2C, as upstream.
        depths: blocks per stage [enc1, enc2, middle, dec2, dec1].
        mlp_ratio: FFN expansion (hidden = int(ratio * channels)).
        input_size: latent side; any multiple of 4 (no positional embedding, so the parameter
            count does not depend on it).
    """

    width: int = 416
    depths: tuple[int, int, int, int, int] = (9, 9, 10, 9, 9)
    mlp_ratio: float = 2.0
    in_channels: int = 4
    input_size: int = 32
    num_classes: int = 1000
    class_dropout_prob: float = 0.1
    learn_sigma: bool = True
    frequency_dim: int = 256

    def __post_init__(self) -> None:
        depths = tuple(self.depths)
        if len(depths) != 5 or any(
            isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in depths
        ):
            raise ConfigError(f"depths must be 5 non-negative ints, got {self.depths!r}")
        object.__setattr__(self, "depths", depths)
        if self.width <= 0 or self.width % 2:
            raise ConfigError(
                f"width must be a positive even int, got {self.width}",
                hint="the level-1 downsample convolves to width / 2 channels",
            )
        check_latent_side(self, 4, "DiCo (two 2x downsamplings)")
        if self.mlp_ratio <= 0 or int(self.mlp_ratio * self.width) <= 0:
            raise ConfigError(f"mlp_ratio must be positive, got {self.mlp_ratio}")
        check_conditioning(self)

    @property
    def out_channels(self) -> int:
        return self.in_channels * 2 if self.learn_sigma else self.in_channels

    def num_params(self) -> int:
        """Exact parameter count (analytic; tests compare it with the built model)."""
        c = self.width

        def block(d: int) -> int:
            h = int(self.mlp_ratio * d)
            total = (d * d + d) + (9 * d + d) + (d * d + d)  # 1x1, depthwise 3x3, 1x1
            total += d * d + d  # compact channel attention (1x1 conv on pooled features)
            total += (d * h + h) + (h * d + d)  # FFN
            return total + d * 6 * d + 6 * d  # adaLN-Zero modulation

        e1, e2, m, d2, d1 = self.depths
        total = levels_frame_params(self)
        total += e1 * block(c) + e2 * block(2 * c) + m * block(4 * c)
        total += d2 * block(2 * c) + d1 * block(2 * c)
        total += (4 * c * 2 * c + 2 * c) + (2 * c * 2 * c + 2 * c)  # skip merges
        total += conv_final_params(2 * c, self.out_channels)  # the output runs at 2C
        return total


DICO_S = DiCoConfig(width=128, depths=(5, 4, 4, 4, 4))
DICO_B = DiCoConfig(width=256, depths=(5, 4, 4, 4, 4))
DICO_L = DiCoConfig(width=352, depths=(9, 8, 9, 8, 9))
DICO_XL = DiCoConfig(width=416, depths=(9, 9, 10, 9, 9))

#: What the registry registers when it loads this module.
SPECS = variant_specs(
    "dico",
    {"dico-s": DICO_S, "dico-b": DICO_B, "dico-l": DICO_L, "dico-xl": DICO_XL},
    "DiCo",
    builder="fcdmbench_baselines.dico:DiCo",
    upstream=Upstream(
        "shallowdream204/DiCo",
        "b596b056de0e42b0962282b551aca748d3ab3e4b",
        "Apache-2.0",
        "dico_models.py",
    ),
    key_map="fcdmbench_baselines.dico:map_upstream_keys",
)
