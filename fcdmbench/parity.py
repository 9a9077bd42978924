"""Deterministic weights and parity fixtures: proving our models equal upstream's.

A fixture is made outside the repo by running the *upstream* model with weights from
`deterministic_state_dict` (keyed by the upstream parameter names, so no key map is involved in
making them) on fixed inputs, and saving inputs and outputs. The test loads the same weights into
our model through the registry's key map (strict) and compares outputs.

Fixture file (``torch.save`` of plain tensors and strings, loadable with ``weights_only=True``)::

    {"model": "fcdm-s", "resolution": 256, "seed": 0, "x": (B,4,H,W), "t": (B,), "y": (B,),
     "out": (B,8,H,W), "cfg_scale": 1.5 (optional), "out_cfg": (B,8,H,W) (optional),
     "upstream": "star-kwon/FCDM@0ec590f...", "torch": "2.13.0+cpu"}
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["deterministic_state_dict", "fixture_inputs", "run_parity"]


def deterministic_state_dict(shapes: Mapping[str, Any], seed: int = 0) -> dict[str, Any]:
    """Fill every entry of a state_dict (name -> tensor or shape) with seeded values.

    Each tensor gets its own generator seeded by ``seed`` and the CRC32 of its name, so the values
    do not depend on iteration order. Values are N(0, 1/fan_in) for tensors with 2+ dims (fan_in =
    product of all but the first dim), N(0, 0.1^2) for vectors: every zero-initialised gate becomes
    non-zero, so every path of the network contributes to the output.
    """
    import torch

    out = {}
    for name, value in shapes.items():
        shape = tuple(value.shape) if hasattr(value, "shape") else tuple(value)
        dtype = getattr(value, "dtype", torch.float32)
        if not dtype.is_floating_point:  # integer buffers (e.g. counters) keep their values
            kept = value.clone() if hasattr(value, "clone") else torch.zeros(shape, dtype=dtype)
            out[name] = kept
            continue
        gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
        fan_in = math.prod(shape[1:]) if len(shape) >= 2 else 0
        std = 1.0 / math.sqrt(fan_in) if fan_in else 0.1
        out[name] = (torch.randn(shape, generator=gen, dtype=torch.float64) * std).to(dtype)
    return out


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


def run_parity(
    fixture_path: str | Path,
    upstream_state_dict_keys: Mapping[str, Any] | None = None,
    perturb: str | None = None,
) -> dict[str, float]:
    """Rebuild a fixture's model, load the deterministic upstream weights, compare outputs.

    Args:
        fixture_path: a fixture file (see module docstring); it also stores the upstream key
            names and shapes under ``"upstream_shapes"`` so the weights can be regenerated.
        perturb: name of one *upstream* key to corrupt before loading (the negative control).

    Returns:
        ``{"max_abs_diff": ..., "max_abs_diff_cfg": ...}``.
    """
    import torch

    from fcdmbench.checkpoints import load_checkpoint
    from fcdmbench.registry import create_model, get_spec

    fx = torch.load(fixture_path, map_location="cpu", weights_only=True)
    spec = get_spec(fx["model"])
    shapes = upstream_state_dict_keys or {k: tuple(v) for k, v in fx["upstream_shapes"].items()}
    weights = deterministic_state_dict(shapes, seed=int(fx["seed"]))
    if perturb is not None:
        weights[perturb] = weights[perturb] + 0.5
    overrides = dict(fx.get("overrides", {}))
    # Built on meta and loaded with assign=True: no time spent initialising weights we replace.
    model = create_model(spec.name, resolution=int(fx["resolution"]), device="meta", **overrides)
    load_checkpoint(model, spec, weights, assign=True)
    model.eval()
    result = {}
    with torch.no_grad():
        out = model(fx["x"], fx["t"], fx["y"])
        result["max_abs_diff"] = (out - fx["out"]).abs().max().item()
        if "out_cfg" in fx:
            cfg = getattr(model, spec.cfg_method)(
                fx["x_cfg"], fx["t_cfg"], fx["y_cfg"], float(fx["cfg_scale"])
            )
            result["max_abs_diff_cfg"] = (cfg - fx["out_cfg"]).abs().max().item()
    return result
