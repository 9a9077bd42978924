"""Pieces every family catalogue shares: conditioning checks, embedder parameter count, and
the specs of a family's variants (torch-free)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fcdmbench.catalog.spec import ModelSpec, Upstream
from fcdmbench.errors import ConfigError

__all__ = [
    "check_conditioning",
    "check_latent_side",
    "conv_final_params",
    "embedder_params",
    "levels_frame_params",
    "variant_specs",
]


def check_conditioning(cfg: Any) -> None:
    """Validate the fields all families share: in_channels, num_classes, frequency_dim and
    class_dropout_prob (a probability below 1: at 1 the model never sees a label)."""
    if cfg.in_channels < 1 or cfg.num_classes < 1 or cfg.frequency_dim < 2:
        raise ConfigError("in_channels and num_classes must be >= 1, frequency_dim >= 2")
    if not 0.0 <= cfg.class_dropout_prob < 1.0:
        raise ConfigError(f"class_dropout_prob must be in [0, 1), got {cfg.class_dropout_prob}")


def check_latent_side(cfg: Any, multiple: int, family: str) -> None:
    """`input_size` (the latent side) must be a positive multiple of `multiple`."""
    if cfg.input_size <= 0 or cfg.input_size % multiple:
        raise ConfigError(
            f"input_size (latent side) must be a positive multiple of {multiple}, "
            f"got {cfg.input_size}",
            hint=f"{family} needs image sides that are multiples of {8 * multiple} px",
        )


def embedder_params(cfg: Any, dim: int) -> int:
    """Parameters of one timestep MLP (freq -> dim -> dim) plus one label table of width `dim`
    (with the classifier-free-guidance null row when label dropout is on)."""
    timestep_mlp = cfg.frequency_dim * dim + dim + dim * dim + dim
    return timestep_mlp + (cfg.num_classes + int(cfg.class_dropout_prob > 0)) * dim


def levels_frame_params(cfg: Any) -> int:
    """Parameters of `models.layers.LevelledConvNet`'s frame at widths C, 2C, 4C: one embedder
    per level, the 3x3 stem, and the two pixel-(un)shuffle downsamples and upsamples (3x3 convs
    without bias, to a quarter / four times the channels)."""
    c = cfg.width
    total = sum(embedder_params(cfg, d) for d in (c, 2 * c, 4 * c))
    total += cfg.in_channels * c * 9 + c  # stem
    total += c * (2 * c // 4) * 9 + 2 * c * (4 * c // 4) * 9  # downsamples
    return total + 4 * c * (2 * c * 4) * 9 + 2 * c * (c * 4) * 9  # upsamples


def conv_final_params(dim: int, out_channels: int) -> int:
    """Parameters of `models.layers.ConvFinalLayer`: adaLN Linear dim -> 2*dim, 3x3 conv to out."""
    return dim * 2 * dim + 2 * dim + dim * out_channels * 9 + out_channels


def variant_specs(
    family: str,
    variants: Mapping[str, Any],
    display_names: Mapping[str, str] | str,
    builder: str,
    upstream: Upstream,
    key_map: str | None = None,
    aliases: Mapping[str, tuple[str, ...]] | None = None,
    paper: str | None = None,
) -> tuple[ModelSpec, ...]:
    """The spec of every ``name -> config`` of a family, with one shared builder and upstream.

    `display_names` maps each name to the paper's spelling, or is the paper's family prefix
    (``"DiC"``: ``dic-xl`` is shown as ``DiC-XL``).
    """
    specs = []
    for name, config in variants.items():
        if isinstance(display_names, str):
            display = f"{display_names}-{name.partition('-')[2].upper()}"
        else:
            display = display_names[name]
        specs.append(
            ModelSpec(
                name=name,
                family=family,
                display_name=display,
                config=config,
                builder=builder,
                paper=paper or family,
                upstream=upstream,
                aliases=(aliases or {}).get(name, ()),
                key_map=key_map,
            )
        )
    return tuple(specs)
