"""Deterministic weights: the same values on every CPU, torch version and thread count.

`deterministic_state_dict` fills a model's state dict from seeded generators, one per tensor. The
parity fixtures were made by running *upstream* models with these weights (keyed by upstream's
parameter names, so no key map is involved in making them); the tests load the same weights into
fcdmbench's models through the registry's key map and compare outputs (tests/parity_checks.py:
the fixture format and the tolerance rule). `sample --smoke` and the tiny test VAE use them too.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["deterministic_state_dict"]


def deterministic_state_dict(shapes: Mapping[str, Any], seed: int = 0) -> dict[str, Any]:
    """Fill every entry of a state_dict (name -> tensor or shape) with seeded values.

    Each tensor gets its own generator seeded by ``seed`` and the CRC32 of its name, so the values
    do not depend on iteration order. Values are N(0, 1/fan_in) for tensors with 2+ dims (fan_in =
    product of all but the first dim), N(0, 0.1^2) for vectors: every zero-initialised gate becomes
    non-zero, so every path of the network contributes to the output.

    The draws (single-threaded in torch, ~20 s for an XL model) run on `torch.get_num_threads()`
    threads; with a generator per tensor the values do not depend on the thread count.
    """
    import torch

    workers = min(torch.get_num_threads(), len(shapes))
    if workers <= 1:
        return {name: _seeded_tensor(name, value, seed) for name, value in shapes.items()}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        drawn = pool.map(lambda item: _seeded_tensor(*item, seed), shapes.items())
        return dict(zip(shapes, drawn, strict=True))


def _seeded_tensor(name: str, value: Any, seed: int) -> Any:
    """One entry of `deterministic_state_dict`."""
    import torch

    shape = tuple(value.shape) if hasattr(value, "shape") else tuple(value)
    dtype = getattr(value, "dtype", torch.float32)
    if not dtype.is_floating_point:  # integer buffers (e.g. counters) keep their values
        return value.clone() if hasattr(value, "clone") else torch.zeros(shape, dtype=dtype)
    gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
    fan_in = math.prod(shape[1:]) if len(shape) >= 2 else 0
    std = 1.0 / math.sqrt(fan_in) if fan_in else 0.1
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * std).to(dtype)
