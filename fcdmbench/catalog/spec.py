"""What a catalogue module declares about a model: `ModelSpec`, `Upstream` and the config
protocol (torch-free). The catalogue modules build specs from these; `fcdmbench.registry` imports
the catalogue modules by name and registers their `SPECS`, so nothing here imports the registry.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

from fcdmbench.errors import ConfigError
from fcdmbench.paper_tables import rows_for_model
from fcdmbench.published import PAPERS, Paper, PublishedResult

__all__ = ["VAE_FACTOR", "ModelConfig", "ModelSpec", "Upstream", "with_overrides"]

#: VAE downsampling factor of the SD VAE every model here runs on.
VAE_FACTOR = 8


class ModelConfig(Protocol):
    """What every family config offers (a frozen dataclass)."""

    input_size: int  # latent side length

    def num_params(self) -> int:
        """Exact parameter count, computed analytically (no torch)."""
        ...


@dataclass(frozen=True, slots=True)
class Upstream:
    """The upstream repository a family was reimplemented from and checked against."""

    repo: str
    commit: str
    license: str
    path: str


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Everything fcdmbench knows about a model without building it.

    Args:
        name: canonical name, lowercase and hyphenated (``dit-xl-2``).
        family: ``fcdm``, ``dit``, ``dic`` or ``dico``.
        display_name: the paper's spelling (``DiT-XL/2``).
        config: the family's frozen config for 256 px (`input_size` is the latent side).
        builder: ``"module:callable"`` taking the config and returning an ``nn.Module``.
        paper: key into `fcdmbench.published.PAPERS`.
        key_map: optional ``"module:callable"`` mapping an upstream state_dict to ours.
    """

    name: str
    family: str
    display_name: str
    config: ModelConfig
    builder: str
    paper: str
    upstream: Upstream
    aliases: tuple[str, ...] = ()
    resolutions: tuple[int, ...] = (256, 512)
    latent_channels: int = 4
    cfg_method: str = "forward_with_cfg"
    key_map: str | None = None
    notes: str = field(default="", compare=False)

    @property
    def paper_info(self) -> Paper:
        return PAPERS[self.paper]

    @property
    def published(self) -> tuple[PublishedResult, ...]:
        """Published rows (seed paper and the model's own paper) naming this model."""
        return rows_for_model(self.name)

    def published_value(self, field_name: str, resolution: int = 256) -> float | None:
        """First published value of `field_name` at `resolution`, or None."""
        for row in self.published:
            value = getattr(row, field_name)
            if row.resolution == resolution and value is not None:
                return value
        return None

    def input_shape(self, resolution: int = 256) -> tuple[int, int, int]:
        """Latent input shape (C, H, W) for an image resolution (256 -> 4x32x32)."""
        self._check_resolution(resolution)
        side = resolution // VAE_FACTOR
        return (self.latent_channels, side, side)

    def config_for(self, resolution: int = 256, **overrides: Any) -> Any:
        """The config for `resolution`, with `overrides` applied (unknown keys raise)."""
        self._check_resolution(resolution)
        cfg = with_overrides(self.config, {"input_size": resolution // VAE_FACTOR})
        return with_overrides(cfg, overrides)

    def num_params(self, resolution: int = 256) -> int:
        """Exact parameter count at `resolution` (DiT's position table grows with it)."""
        return self.config_for(resolution).num_params()

    def _check_resolution(self, resolution: int) -> None:
        if resolution not in self.resolutions:
            raise ConfigError(
                f"{self.name} is defined at resolutions {list(self.resolutions)}, not {resolution}",
                hint=f"use --resolution {self.resolutions[0]}",
            )


def with_overrides(config: Any, overrides: dict[str, Any]) -> Any:
    """`dataclasses.replace` that names the valid fields when a key is unknown."""
    if not overrides:
        return config
    valid = [f.name for f in dataclasses.fields(config)]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown config field(s) {unknown} for {type(config).__name__}",
            hint=f"valid fields: {', '.join(valid)}",
        )
    return dataclasses.replace(config, **overrides)
