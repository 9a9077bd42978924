"""Every registered model, whatever its family: built from `list_models()`, so a baseline family
is covered as soon as it registers (timm's tests/test_models.py pattern)."""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from pathlib import Path

import pytest

from fcdmbench.registry import create_model, get_spec, list_models

UPSTREAM_PARAMS = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "upstream_params.json").read_text()
)
ALL_MODELS = list_models()
CFG_SCALE = 1.5


def _smallest_per_family() -> list[str]:
    by_family = defaultdict(list)
    for name in ALL_MODELS:
        by_family[get_spec(name).family].append(name)
    return [min(names, key=lambda n: get_spec(n).num_params()) for names in by_family.values()]


SMALLEST = _smallest_per_family()


def test_registry_is_not_empty():
    assert {"fcdm-s", "fcdm-b", "fcdm-l", "fcdm-xl"} <= set(ALL_MODELS)


def test_smallest_variants_are_the_s_sizes():
    for name in SMALLEST:
        assert name.endswith("-s") or "-s-" in name, name


@pytest.mark.parametrize("name", ALL_MODELS)
def test_param_count_matches_spec_and_upstream(name: str):
    spec = get_spec(name)
    assert name in UPSTREAM_PARAMS, (
        f"{name} has no upstream parameter count in tests/fixtures/upstream_params.json"
    )
    model = create_model(name, device="meta")
    built = sum(p.numel() for p in model.parameters())
    assert built == spec.num_params() == UPSTREAM_PARAMS[name]
    assert not model.training


@pytest.mark.parametrize("name", ALL_MODELS)
def test_input_shapes_and_512_build(name: str):
    spec = get_spec(name)
    assert spec.input_shape(256) == (spec.latent_channels, 32, 32)
    if 512 in spec.resolutions:
        assert spec.input_shape(512) == (spec.latent_channels, 64, 64)
        assert spec.config_for(512).input_size == 64
        model = create_model(f"{name}.512", device="meta")
        built = sum(p.numel() for p in model.parameters())
        assert built == spec.num_params(512)
        # Upstream counts at 512 are recorded where they differ from 256 (DiT's pos_embed).
        assert built == UPSTREAM_PARAMS.get(f"{name}.512", UPSTREAM_PARAMS[name])


@pytest.fixture(scope="module", autouse=True)
def _free_cached_models():
    """Free the cached models (~150 MB each) when this module is done, not at exit: they held
    about 1 GB through the rest of the suite."""
    yield
    _model_with_weights.cache_clear()


@functools.cache
def _model_with_weights(name: str):
    """The model at 256 px with deterministic non-zero weights (fresh init outputs zeros)."""
    import torch
    from parity_checks import fixture_inputs

    from fcdmbench.parity import deterministic_state_dict

    spec = get_spec(name)
    model = create_model(name)
    model.load_state_dict(deterministic_state_dict(model.state_dict(), seed=0))
    x, t, y = fixture_inputs(spec.input_shape(256), batch=2, seed=1)
    with torch.no_grad():
        out = model(x, t, y)
    return model, (x, t, y), out


def _expected_out_channels(name: str) -> int:
    # Every family here learns the variance (learn_sigma): noise and variance channels.
    return 2 * get_spec(name).latent_channels


#: FCDM in the test command, every family in the full suite: each other family's build and
#: forwards took 9 to 12 s on 2 cores at load 3.5 (2026-12-08). The test command still runs a
#: second family's plain and CFG forward: DiT-S/2 against upstream (test_parity.py).
FORWARD_CASES = [n if n == "fcdm-s" else pytest.param(n, marks=pytest.mark.slow) for n in SMALLEST]


@pytest.mark.parametrize("name", FORWARD_CASES)
def test_forward_shape_finite_deterministic(name: str):
    import torch

    model, (x, t, y), out = _model_with_weights(name)
    assert out.shape == (2, _expected_out_channels(name), 32, 32)
    assert torch.isfinite(out).all()
    assert out.abs().max() > 0
    with torch.no_grad():
        again = model(x, t, y)
    assert torch.equal(out, again)


@pytest.mark.parametrize("name", FORWARD_CASES)
def test_forward_with_cfg_matches_hand_guidance(name: str):
    import torch

    spec = get_spec(name)
    model, (x, t, y), _ = _model_with_weights(name)
    null = getattr(spec.config, "num_classes", 1000)
    x_cfg = torch.cat([x[:1], x[:1]])
    t_cfg = torch.cat([t[:1], t[:1]])
    y_cfg = torch.tensor([int(y[0]), null])
    with torch.no_grad():
        guided = getattr(model, spec.cfg_method)(x_cfg, t_cfg, y_cfg, CFG_SCALE)
        plain = model(x_cfg, t_cfg, y_cfg)
    n = getattr(model, "cfg_channels", 3)
    assert guided.shape == plain.shape == (2, _expected_out_channels(name), 32, 32)
    assert torch.equal(guided[0, :n], guided[1, :n])
    cond, uncond = plain[0, :n], plain[1, :n]
    by_hand = uncond + CFG_SCALE * (cond - uncond)
    torch.testing.assert_close(guided[0, :n], by_hand, rtol=0, atol=1e-5)
    assert (cond - uncond).abs().max() > 1e-3  # the null label changes the output
    torch.testing.assert_close(guided[:, n:], plain[:, n:], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", SMALLEST)
def test_forward_at_512(name: str):
    import torch

    spec = get_spec(name)
    if 512 not in spec.resolutions:
        pytest.skip(f"{name} is not defined at 512 px")
    torch.manual_seed(0)
    model = create_model(name, resolution=512)
    x = torch.randn(1, *spec.input_shape(512))
    with torch.no_grad():
        out = model(x, torch.tensor([10]), torch.tensor([3]))
    assert out.shape == (1, _expected_out_channels(name), 64, 64)
    assert torch.isfinite(out).all()
