"""Parity runs against upstream fixtures (test support; the fixture format and the tolerance rule
are in `fcdmbench.parity`).

A run rebuilds the fixture's model on meta, loads `deterministic_state_dict` weights (keyed by
upstream's names, so through the registry's key map, strict) and compares its outputs with the
fixture's. Drawing an XL model's weights (~675M float64 draws) costs more than its forward passes,
so a build (`ParityModel`) can be shared: `compare_outputs` for the parity check and, inside
`perturbed`, for the negative control, on the same model and weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fcdmbench.catalog.spec import ModelSpec
from fcdmbench.checkpoints import load_checkpoint
from fcdmbench.parity import deterministic_state_dict, parity_tolerance
from fcdmbench.registry import create_model, get_spec

#: What the negative control adds to one upstream weight.
PERTURBATION = 0.5


@dataclass(frozen=True, slots=True)
class ParityModel:
    """A fixture (plain tensors, see `fcdmbench.parity`), its model with the deterministic
    upstream weights loaded, and those weights (upstream names)."""

    fixture: dict[str, Any]
    spec: ModelSpec
    weights: dict[str, Any]
    model: torch.nn.Module


def load_parity_model(fixture_path: str | Path) -> ParityModel:
    """Rebuild a fixture's model and load the deterministic upstream weights (the fixture stores
    upstream's key names and shapes under ``"upstream_shapes"``)."""
    fx = torch.load(fixture_path, map_location="cpu", weights_only=True)
    spec = get_spec(fx["model"])
    shapes = {k: tuple(v) for k, v in fx["upstream_shapes"].items()}
    weights = deterministic_state_dict(shapes, seed=int(fx["seed"]))
    overrides = dict(fx.get("overrides", {}))
    # Built on meta and loaded with assign=True: no time spent initialising weights we replace.
    model = create_model(spec.name, resolution=int(fx["resolution"]), device="meta", **overrides)
    load_checkpoint(model, spec, weights, assign=True)
    model.eval()
    return ParityModel(fixture=fx, spec=spec, weights=weights, model=model)


def compare_outputs(run: ParityModel, cfg: bool = True) -> dict[str, float]:
    """The model's outputs against the fixture's.

    Returns:
        ``{"max_abs_diff", "tolerance", "spread", "scale"}`` and, where the fixture has a CFG
        output and `cfg` is true, the same four with a ``_cfg`` suffix. ``tolerance`` is
        `parity_tolerance` of the fixture's stored ``kernel_spread`` (absent if it has none).
    """
    fx, result = run.fixture, {}
    spread = fx.get("kernel_spread", {})

    def compare(got, key: str, suffix: str) -> None:
        result["max_abs_diff" + suffix] = (got - fx[key]).abs().max().item()
        result["scale" + suffix] = fx[key].abs().max().item()
        if key in spread:
            result["spread" + suffix] = float(spread[key])
            result["tolerance" + suffix] = parity_tolerance(spread[key], result["scale" + suffix])

    with torch.no_grad():
        compare(run.model(fx["x"], fx["t"], fx["y"]), "out", "")
        if cfg and "out_cfg" in fx:
            guided = getattr(run.model, run.spec.cfg_method)(
                fx["x_cfg"], fx["t_cfg"], fx["y_cfg"], float(fx["cfg_scale"])
            )
            compare(guided, "out_cfg", "_cfg")
    return result


@contextlib.contextmanager
def perturbed(run: ParityModel, key: str) -> Iterator[ParityModel]:
    """`run`'s model with upstream weight `key` + `PERTURBATION` (the negative control), as if
    built from the perturbed weights; the unperturbed weights are loaded back on exit."""
    weights = dict(run.weights)
    weights[key] = run.weights[key] + PERTURBATION
    load_checkpoint(run.model, run.spec, weights, assign=True)
    try:
        yield run
    finally:
        load_checkpoint(run.model, run.spec, run.weights, assign=True)


def run_parity(fixture_path: str | Path, perturb: str | None = None) -> dict[str, float]:
    """One build and one comparison (`compare_outputs`); `perturb`: one *upstream* key to corrupt
    first (the negative control)."""
    run = load_parity_model(fixture_path)
    if perturb is None:
        return compare_outputs(run)
    with perturbed(run, perturb):
        return compare_outputs(run)
