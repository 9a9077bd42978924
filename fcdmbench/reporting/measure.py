"""Instant counts for the report: GMACs and parameters of a model built on the meta device.

This is the one place the report counts anything itself, through the same
`fcdmbench.flops.counter.count_flops` that `fcdmbench flops` uses (FlopCounterMode on a
meta-device model with the paper-convention op table; docs/flops.md), so the report's
measured GMACs equal the `flops` command's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fcdmbench.errors import UnknownModelError
from fcdmbench.flops.counter import count_flops
from fcdmbench.registry import resolve

__all__ = ["MetaCount", "is_registered", "meta_gmacs"]

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

    try:
        resolve(name)
    except UnknownModelError:
        return False
    return True


def meta_gmacs(name: str, resolution: int = 256, **overrides: Any) -> MetaCount:
    """Count GMACs and parameters of a registered model on the meta device (cached per process).

    Args:
        name: registry name, any accepted spelling.
        resolution: image resolution; the latent side is resolution / 8.
        **overrides: config fields to replace (ablation configurations, e.g. ``kernel_size=5``).

    Returns:
        A `MetaCount`; ``gmacs`` is `count_flops(...).gmacs` (the paper column).

    Raises:
        UnknownModelError: `name` is not registered.
        ConfigError: an override is invalid for the family.
    """
    key = (name, resolution, tuple(sorted(overrides.items())))
    if key in _CACHE:
        return _CACHE[key]

    spec, _ = resolve(name)
    report = count_flops(spec, resolution=resolution, overrides=overrides)
    count = MetaCount(
        model=spec.name,
        resolution=resolution,
        gmacs=report.gmacs,
        params=report.params,
        overrides=tuple(sorted(overrides.items())),
    )
    _CACHE[key] = count
    return count
