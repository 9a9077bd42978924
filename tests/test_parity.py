"""Parity with upstream: every fixture in tests/fixtures/parity/ (one per model, any family).

A family adds a fixture file (and a PROVENANCE.md section); no test code changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fcdmbench.registry import get_spec

pytestmark = pytest.mark.parity

TOLERANCE = 1e-5
FIXTURE_DIR = Path(__file__).parent / "fixtures" / "parity"
#: Models above this size take tens of seconds on a 2-core CPU: marked slow.
SLOW_ABOVE_PARAMS = 100_000_000


def _fixture_params() -> list:
    params = []
    for path in sorted(FIXTURE_DIR.glob("*.pt")):
        marks = []
        if get_spec(path.stem).num_params() > SLOW_ABOVE_PARAMS:
            marks.append(pytest.mark.slow)
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


FIXTURES = _fixture_params()


def _block_weight_key(path: Path) -> str:
    """An upstream weight (2+ dims) halfway through the state_dict: inside a block for every
    family here."""
    import torch

    shapes = torch.load(path, map_location="cpu", weights_only=True)["upstream_shapes"]
    weights = [k for k, shape in shapes.items() if len(shape) >= 2 and k.endswith("weight")]
    return weights[len(weights) // 2]


def test_fixtures_exist():
    assert FIXTURES, f"no parity fixtures in {FIXTURE_DIR}"


@pytest.mark.parametrize("path", FIXTURES)
def test_fixture_is_small_and_complete(path: Path):
    import torch

    assert path.stat().st_size < 1_000_000
    fx = torch.load(path, map_location="cpu", weights_only=True)
    for key in (
        "model",
        "resolution",
        "seed",
        "x",
        "t",
        "y",
        "out",
        "upstream",
        "torch",
        "upstream_shapes",
    ):
        assert key in fx, key
    assert fx["model"] == path.stem == get_spec(fx["model"]).name
    assert tuple(fx["x"].shape[1:]) == get_spec(fx["model"]).input_shape(int(fx["resolution"]))


@pytest.mark.parametrize("path", FIXTURES)
def test_matches_upstream(path: Path):
    from fcdmbench.parity import run_parity

    result = run_parity(path)
    assert result["max_abs_diff"] <= TOLERANCE, result
    if "max_abs_diff_cfg" in result:
        assert result["max_abs_diff_cfg"] <= TOLERANCE, result


@pytest.mark.parametrize("path", FIXTURES)
def test_perturbed_block_weight_breaks_parity(path: Path):
    """Negative control: the comparison can fail."""
    from fcdmbench.parity import run_parity

    key = _block_weight_key(path)
    result = run_parity(path, perturb=key)
    assert result["max_abs_diff"] > TOLERANCE, (key, result)
