"""Parity with upstream: every fixture in tests/fixtures/parity/ (one per model, any family).

A family adds a fixture file (and a PROVENANCE.md section); no test code changes. Each fixture
stores the spread of upstream's own output across CPU kernel paths (``kernel_spread``, measured
when it was made); a model passes within `parity_checks.parity_tolerance` of it
(`SPREAD_MULTIPLE` x the spread, floored at a few float32 ulps of the output's scale), and a
perturbed weight must miss by `NEGATIVE_CONTROL_MARGIN` x that tolerance. XL-size models are
`slow`: they run in the full suite (``python -m pytest -q --full``).

A fixture's parity check and its negative control share one build (`parity_model`, module
scope): pytest runs the two next to each other, and drawing an XL model's weights takes longer
than its forward passes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from parity_checks import (
    NEGATIVE_CONTROL_MARGIN,
    ParityModel,
    compare_outputs,
    load_parity_model,
    perturbed,
)

from fcdmbench.registry import get_spec

pytestmark = pytest.mark.parity

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "parity"
#: Models above this size take tens of seconds and gigabytes on a 2-core CPU: marked slow.
SLOW_ABOVE_PARAMS = 100_000_000
#: The models whose small-size parity runs in the test command (the paper's two; 10-25 s each
#: for the others on 2 cores); every fixture runs in the full suite.
FAST_PARITY = {"fcdm-s", "dit-s-2"}
#: The one negative control in the test command; every other one runs in the full suite.
FAST_CONTROL = {"fcdm-s"}


#: One list of paths for both tests: pytest groups the tests that share a module-scoped
#: `parity_model` by parameter index, so the two parametrizations must list the same paths in the
#: same order.
FIXTURE_PATHS = sorted(FIXTURE_DIR.glob("*.pt"))


def _fixture_params(fast: set[str]) -> list:
    params = []
    for path in FIXTURE_PATHS:
        marks = []
        big = get_spec(path.stem).num_params() > SLOW_ABOVE_PARAMS
        if big or path.stem not in fast:
            marks.append(pytest.mark.slow)
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


#: Model runs (all but `FAST_PARITY` slow-marked) and the plain files (reading one is fast).
FIXTURES = _fixture_params(FAST_PARITY)
CONTROLS = _fixture_params(FAST_CONTROL)
FIXTURE_FILES = [pytest.param(path, id=path.stem) for path in FIXTURE_PATHS]


def _block_weight_key(fixture: dict) -> str:
    """An upstream weight (2+ dims) halfway through the state_dict: inside a block for every
    family here."""
    shapes = fixture["upstream_shapes"]
    weights = [k for k, shape in shapes.items() if len(shape) >= 2 and k.endswith("weight")]
    return weights[len(weights) // 2]


def test_fixtures_exist():
    assert FIXTURES, f"no parity fixtures in {FIXTURE_DIR}"


@pytest.mark.parametrize("path", FIXTURE_FILES)
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
        "kernel_spread",
    ):
        assert key in fx, key
    assert fx["model"] == path.stem == get_spec(fx["model"]).name
    assert tuple(fx["x"].shape[1:]) == get_spec(fx["model"]).input_shape(int(fx["resolution"]))
    check_kernel_spread(fx)


def check_kernel_spread(fx: dict) -> None:
    """The stored spread is complete, describes this fixture's outputs, and says how it was
    measured."""
    spread = fx["kernel_spread"]
    outputs = ["out", "out_cfg"] if "out_cfg" in fx else ["out"]
    for key in outputs:
        assert 0 <= spread[key] < 1e-3, (key, spread[key])
        assert spread[f"scale_{key}"] == fx[key].abs().max().item()
    paths = spread["paths"]
    assert {p["ATEN_CPU_CAPABILITY"] for p in paths.values()} >= {"default", "avx2", "avx512"}
    assert {int(t) for p in paths.values() for t in p["threads"]} >= {1, 2}
    assert spread["measured_on"] and spread["upstream"] == fx["upstream"]


#: Parity fixtures outside parity/ (a second resolution of a model), run by tests/baselines/.
OTHER_FIXTURES = sorted(FIXTURE_DIR.parent.glob("*/parity-*.pt"))


@pytest.mark.parametrize("path", OTHER_FIXTURES, ids=lambda p: p.stem)
def test_other_parity_fixtures_carry_their_kernel_spread(path: Path):
    import torch

    check_kernel_spread(torch.load(path, map_location="cpu", weights_only=True))


def test_other_parity_fixtures_exist():
    assert "parity-dic-s-512.pt" in [p.name for p in OTHER_FIXTURES]


def assert_parity(result: dict) -> None:
    """Within the tolerance derived from the fixture's kernel spread, plain and CFG."""
    for suffix in ("", "_cfg"):
        if "max_abs_diff" + suffix in result:
            assert result["max_abs_diff" + suffix] <= result["tolerance" + suffix], result


def assert_parity_broken(result: dict) -> None:
    """Negative control: the plain output misses by orders of magnitude, not at the edge."""
    assert result["max_abs_diff"] >= NEGATIVE_CONTROL_MARGIN * result["tolerance"], result


@pytest.fixture(scope="module")
def parity_model(request) -> ParityModel:
    """The fixture's model with the deterministic upstream weights, built once per fixture."""
    return load_parity_model(request.param)


@pytest.mark.parametrize("parity_model", FIXTURES, indirect=True)
def test_matches_upstream(parity_model: ParityModel):
    assert_parity(compare_outputs(parity_model))


@pytest.mark.parametrize("parity_model", CONTROLS, indirect=True)
def test_perturbed_block_weight_breaks_parity(parity_model: ParityModel):
    """Negative control: the comparison can fail, and by orders of magnitude. The same build as
    `test_matches_upstream`, with one weight perturbed (and restored after); only the plain
    output is checked, so the CFG forward is skipped."""
    key = _block_weight_key(parity_model.fixture)
    with perturbed(parity_model, key):
        result = compare_outputs(parity_model, cfg=False)
    assert_parity_broken(result | {"perturbed": key})


def test_deterministic_weights_do_not_depend_on_the_thread_count():
    """`deterministic_state_dict` draws on several threads: the same values, dtypes and key order
    as one thread (integer buffers kept)."""
    import torch

    from fcdmbench.parity import deterministic_state_dict

    shapes = {f"blocks.{i}.weight": (48, 16, 3) for i in range(9)}
    shapes |= {
        "norm.bias": (48,),
        "steps": torch.arange(3),
        "half": torch.zeros(4, dtype=torch.half),
    }
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = deterministic_state_dict(shapes, seed=3)
        torch.set_num_threads(4)
        threaded = deterministic_state_dict(shapes, seed=3)
    finally:
        torch.set_num_threads(threads)
    assert list(serial) == list(threaded) == list(shapes)
    for name, tensor in serial.items():
        assert tensor.dtype == threaded[name].dtype and torch.equal(tensor, threaded[name]), name
    assert torch.equal(serial["steps"], torch.arange(3)) and serial["half"].dtype == torch.half
