"""Deterministic weights and parity fixtures: proving our models equal upstream's.

A fixture is made outside the repo by running the *upstream* model with weights from
`deterministic_state_dict` (keyed by the upstream parameter names, so no key map is involved in
making them) on fixed inputs, and saving inputs and outputs. The test loads the same weights into
our model through the registry's key map (strict) and compares outputs.

Fixture file (``torch.save`` of plain tensors and strings, loadable with ``weights_only=True``)::

    {"model": "fcdm-s", "resolution": 256, "seed": 0, "x": (B,4,H,W), "t": (B,), "y": (B,),
     "out": (B,8,H,W), "cfg_scale": 1.5 (optional), "out_cfg": (B,8,H,W) (optional),
     "upstream": "star-kwon/FCDM@0ec590f...", "torch": "2.13.0+cpu",
     "kernel_spread": {...}}

``kernel_spread`` is how far *upstream's own* output moves with the CPU kernels torch picks,
measured when the fixture was made (tests/fixtures/PROVENANCE.md): upstream was rerun on the
fixture's inputs under every ``ATEN_CPU_CAPABILITY`` (default, avx2, avx512), MKL's and oneDNN's
instruction-set caps and 1 and 2 threads, and ``out`` / ``out_cfg`` hold the largest max abs
difference from the fixture's outputs. `parity_tolerance` turns that into the tolerance a parity
test allows: `SPREAD_MULTIPLE` times the spread, and never less than `SPREAD_MULTIPLE` times
`FLOOR_ULPS` float32 ulps of the output's scale (its largest magnitude). The runs themselves are
test code (tests/parity_checks.py).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = [
    "FLOOR_ULPS",
    "NEGATIVE_CONTROL_MARGIN",
    "SPREAD_MULTIPLE",
    "deterministic_state_dict",
    "fixture_inputs",
    "parity_tolerance",
]

#: A parity check allows this multiple of the measured kernel-path spread of upstream's output:
#: the spread was measured on one machine, and another CPU (other cache sizes, so other blocking
#: in MKL and oneDNN; other core counts) adds roundings of the same kind, not of a larger order.
SPREAD_MULTIPLE = 4.0
#: Floor of the spread, in float32 ulps of the output's scale (``np.spacing(max |out|)``): a
#: kernel path that happened to reproduce the fixture bit for bit here must not demand
#: bit-identity elsewhere; a handful of roundings of the output's last operations is the least
#: another machine's kernels can move it.
FLOOR_ULPS = 4
#: A perturbed weight (the negative control) must move the output by at least this many times
#: the tolerance: parity failures are orders of magnitude beyond rounding, not at its edge.
NEGATIVE_CONTROL_MARGIN = 100.0


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


def fixture_inputs(
    input_shape: tuple[int, int, int], batch: int = 2, seed: int = 0, num_classes: int = 1000
):
    """Fixed (x, t, y) for a parity run: x ~ N(0, 1), t in [0, 1000), y in [0, num_classes)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((batch, *input_shape), generator=gen)
    t = torch.randint(0, 1000, (batch,), generator=gen)
    y = torch.randint(0, num_classes, (batch,), generator=gen)
    return x, t, y


def parity_tolerance(spread: float, scale: float, multiple: float = SPREAD_MULTIPLE) -> float:
    """Max abs difference allowed against a fixture: ``multiple * max(spread, FLOOR_ULPS ulps)``.

    Args:
        spread: measured max abs difference of upstream's output across CPU kernel paths.
        scale: the output's scale, ``max |out|`` of the fixture.
    """
    import numpy as np

    ulp = float(np.spacing(np.float32(abs(scale))))
    return float(multiple * max(float(spread), FLOOR_ULPS * ulp))
