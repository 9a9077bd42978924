"""Instant counts for the report: GMACs and parameters of a model built on the meta device.

This is the one place the report counts anything itself. It uses
``torch.utils.flop_counter.FlopCounterMode`` on a model built under ``torch.device("meta")``
(allocates nothing, counts SDPA; MEASUREMENT.md section 1.5) and halves FLOPs into GMACs, the DiT
convention. When `fcdmbench.profiling.flops.count_flops` lands, swap the body of
`meta_gmacs` for it; callers only see `MetaCount`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["META_METHOD", "MetaCount", "clear_cache", "is_registered", "meta_gmacs"]

#: How the measured FLOP column was produced (printed beside every measured GMACs cell).
META_METHOD = "meta"

_CACHE: dict[tuple, MetaCount] = {}


@dataclass(frozen=True, slots=True)
class MetaCount:
    """GMACs (multiply-accumulates, batch 1, one forward, no CFG) and exact parameters."""

    model: str
    resolution: int
    gmacs: float
    params: int
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def gflops(self) -> float:
        return 2.0 * self.gmacs

    @property
    def params_m(self) -> float:
        return self.params / 1e6


def is_registered(name: str) -> bool:
    """True when `name` is a registry name (or alias) today; never raises."""
    from fcdmbench.errors import UnknownModelError
    from fcdmbench.registry import resolve

    try:
        resolve(name)
    except UnknownModelError:
        return False
    return True


def clear_cache() -> None:
    """Forget counts (tests; a long-lived process after registering new models)."""
    _CACHE.clear()


def meta_gmacs(name: str, resolution: int = 256, **overrides: Any) -> MetaCount:
    """Count GMACs and parameters of a registered model on the meta device (cached per process).

    Args:
        name: registry name, any accepted spelling.
        resolution: image resolution; the latent side is resolution / 8.
        **overrides: config fields to replace (ablation configurations, e.g. ``kernel_size=5``).

    Returns:
        A `MetaCount`; ``gmacs`` is FlopCounterMode's FLOPs / 2.

    Raises:
        UnknownModelError: `name` is not registered.
        ConfigError: an override is invalid for the family.
    """
    key = (name, resolution, tuple(sorted(overrides.items())))
    if key in _CACHE:
        return _CACHE[key]
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from fcdmbench.registry import create_model, resolve

    spec, _ = resolve(name)
    model = create_model(spec.name, resolution=resolution, device="meta", **overrides)
    channels, height, width = spec.input_shape(resolution)
    with torch.device("meta"):
        x = torch.empty(1, channels, height, width)
        t = torch.ones(1)
        y = torch.zeros(1, dtype=torch.long)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x, t, y)
    count = MetaCount(
        model=spec.name,
        resolution=resolution,
        gmacs=counter.get_total_flops() / 2e9,
        params=sum(p.numel() for p in model.parameters()),
        overrides=tuple(sorted(overrides.items())),
    )
    _CACHE[key] = count
    return count
