"""DiT family: config, the 12 variants and their registrations (torch-free).

Paper: "Scalable Diffusion Models with Transformers" (Peebles & Xie, arXiv 2212.09748), Table 1.
Upstream: facebookresearch/DiT @ ed81ce2, models.py (CC-BY-NC 4.0; reimplemented in
baselines/dit.py, imported as `fcdmbench_baselines.dit`, not copied).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fcdmbench.catalog._common import check_conditioning, embedder_params, variant_specs
from fcdmbench.catalog.spec import Upstream
from fcdmbench.errors import ConfigError

__all__ = [
    "AttentionImpl",
    "DIT_VARIANTS",
    "DiTConfig",
]


class AttentionImpl(StrEnum):
    """How DiT computes softmax(QK^T / sqrt(d)) V.

    SDPA calls ``F.scaled_dot_product_attention`` (fused kernels; some FLOP counters do not see
    it). MANUAL spells out the two matmuls and the softmax, as timm did before it fused attention,
    so every counter sees QK^T and AV. Both give the same outputs (tested to 1e-5).
    """

    SDPA = "sdpa"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class DiTConfig:
    """DiT hyper-parameters.

    Args:
        depth: number of DiT blocks.
        width: hidden size D of the tokens.
        patch_size: side p of the square latent patches; tokens = (input_size / p)**2.
        num_heads: attention heads; `width` must be a multiple of it.
        mlp_ratio: MLP hidden size over `width`.
        input_size: latent side (32 for 256 px, 64 for 512 px); sets the fixed sin-cos
            positional embedding, hence the parameter count.
        attention: an `AttentionImpl` value ("sdpa" or "manual").
    """

    depth: int = 28
    width: int = 1152
    patch_size: int = 2
    num_heads: int = 16
    mlp_ratio: float = 4.0
    in_channels: int = 4
    input_size: int = 32
    num_classes: int = 1000
    class_dropout_prob: float = 0.1
    learn_sigma: bool = True
    frequency_dim: int = 256
    attention: str = AttentionImpl.SDPA

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "attention", AttentionImpl(self.attention))
        except ValueError:
            raise ConfigError(
                f"attention must be one of {[a.value for a in AttentionImpl]}, "
                f"got {self.attention!r}"
            ) from None
        for field_name in (
            "depth",
            "width",
            "patch_size",
            "num_heads",
            "in_channels",
            "input_size",
            "num_classes",
            "frequency_dim",
        ):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{field_name} must be a non-negative int, got {value!r}")
        if min(self.width, self.patch_size, self.num_heads, self.in_channels, self.input_size) <= 0:
            raise ConfigError("width, patch_size, num_heads, in_channels, input_size must be > 0")
        if self.width % self.num_heads:
            raise ConfigError(f"width {self.width} is not a multiple of num_heads {self.num_heads}")
        if self.width % 4:
            raise ConfigError(
                f"width must be a multiple of 4 (2-D sin-cos positional embedding), "
                f"got {self.width}"
            )
        if self.input_size % self.patch_size:
            raise ConfigError(
                f"input_size (latent side) {self.input_size} is not a multiple of "
                f"patch_size {self.patch_size}",
                hint="256 px -> input_size 32, 512 px -> 64; patch sizes 2, 4 and 8 fit both",
            )
        if self.mlp_ratio <= 0 or int(self.width * self.mlp_ratio) <= 0:
            raise ConfigError(f"mlp_ratio must be positive, got {self.mlp_ratio}")
        check_conditioning(self)

    @property
    def out_channels(self) -> int:
        return self.in_channels * 2 if self.learn_sigma else self.in_channels

    @property
    def num_tokens(self) -> int:
        return (self.input_size // self.patch_size) ** 2

    @property
    def mlp_hidden(self) -> int:
        return int(self.width * self.mlp_ratio)

    def num_params(self) -> int:
        """Exact parameter count, frozen positional embedding included (as upstream counts)."""
        d, p, h = self.width, self.patch_size, self.mlp_hidden
        total = self.in_channels * p * p * d + d  # patch embedding conv
        total += self.num_tokens * d  # pos_embed (a frozen Parameter)
        total += embedder_params(self, d)  # timestep MLP + label table
        block = (d * 3 * d + 3 * d) + (d * d + d)  # qkv, attention projection
        block += (d * h + h) + (h * d + d)  # MLP
        block += d * 6 * d + 6 * d  # adaLN-Zero modulation
        total += self.depth * block
        total += (d * 2 * d + 2 * d) + (d * p * p * self.out_channels + p * p * self.out_channels)
        return total


#: (size, depth, width, heads) of DiT Table 1.
_SIZES = (("s", 12, 384, 6), ("b", 12, 768, 12), ("l", 24, 1024, 16), ("xl", 28, 1152, 16))
_PATCHES = (2, 4, 8)

#: Every variant's 256 px config, keyed by canonical name (``"dit-xl-2"``).
DIT_VARIANTS: dict[str, DiTConfig] = {
    f"dit-{size}-{patch}": DiTConfig(depth=depth, width=width, patch_size=patch, num_heads=heads)
    for size, depth, width, heads in _SIZES
    for patch in _PATCHES
}

_UPSTREAM = Upstream(
    repo="facebookresearch/DiT",
    commit="ed81ce2229091fd4ecc9a223645f95cf379d582b",
    license="CC-BY-NC-4.0",
    path="models.py",
)

#: What the registry registers when it loads this module.
SPECS = variant_specs(
    "dit",
    DIT_VARIANTS,
    {
        f"dit-{size}-{patch}": f"DiT-{size.upper()}/{patch}"
        for size, *_ in _SIZES
        for patch in _PATCHES
    },
    builder="fcdmbench_baselines.dit:DiT",
    upstream=_UPSTREAM,
    key_map="fcdmbench_baselines.dit:map_upstream_keys",
    aliases={f"dit-{size}-2": (f"dit-{size}",) for size, *_ in _SIZES},
)
