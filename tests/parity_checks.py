"""Parity runs against upstream fixtures (test support): the fixture format, the tolerance rule
and the runs.

A fixture is made outside the repo by running the *upstream* model with weights from
`fcdmbench.parity.deterministic_state_dict` (keyed by the upstream parameter names, so no key map
is involved in making them) on `fixture_inputs`, and saving inputs and outputs. A run rebuilds the
fixture's model on meta, loads the same weights through the registry's key map (strict) and
compares its outputs with the fixture's.

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
`FLOOR_ULPS` float32 ulps of the output's scale (its largest magnitude).

Drawing an XL model's weights (~675M float64 draws) costs more than its forward passes, so a build
(`ParityModel`) can be shared: `compare_outputs` for the parity check and, inside `perturbed`, for
the negative control, on the same model and weights.
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
from fcdmbench.parity import deterministic_state_dict
from fcdmbench.registry import create_model, get_spec

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
