"""DiG reimplementation: upstream parity, parameter counts, GLA forms, config validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from parity_checks import NEGATIVE_CONTROL_MARGIN, run_parity

from fcdmbench.catalog.dig import UPSTREAM_GLA_CHUNK, DiGConfig
from fcdmbench.errors import ConfigError
from fcdmbench.flops.counter import count_flops
from fcdmbench.registry import create_model, get_spec, list_models
from fcdmbench_baselines.dig import gla_chunked, gla_recurrent
from fcdmbench_baselines.dit import sincos_pos_embed_2d

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
#: Upstream-output fixtures: parity/dig-*.pt run in the generic tests/test_parity.py too.
PARITY = FIXTURES / "parity"
VARIANTS = ["dig-s-2", "dig-s-2-skip", "dig-b-2", "dig-l-2", "dig-xl-2", "dig-xl-2-skip"]


def test_registry_lists_upstream_variants() -> None:
    assert list_models("dig-*") == VARIANTS
    assert get_spec("DiG-XL/2").name == "dig-xl-2"
    assert get_spec("dig-s").name == "dig-s-2"
    assert get_spec("dig-xl-2").upstream.license == "MIT"


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("resolution", [256, 512])
def test_num_params_matches_built_model_and_upstream(name: str, resolution: int) -> None:
    upstream = json.loads((FIXTURES / "upstream_params.json").read_text())
    key = name if resolution == 256 else f"{name}.{resolution}"
    model = create_model(name, resolution=resolution, device="meta")
    built = sum(p.numel() for p in model.parameters())
    config = get_spec(name).config_for(resolution)
    assert config.num_params() == built == upstream[key]


@pytest.mark.parity
@pytest.mark.slow
def test_perturbed_upstream_weight_breaks_parity() -> None:
    """The decay gate feeds only the GLA recurrence: a wrong decay path must break parity."""
    result = run_parity(PARITY / "dig-s-2.pt", perturb="blocks.3.attn.gk_proj.0.weight")
    assert result["max_abs_diff"] >= NEGATIVE_CONTROL_MARGIN * result["tolerance"], result


@pytest.mark.parametrize("chunk", [1, 5, 16, 64, 100])
def test_chunked_gla_equals_recurrence(chunk: int) -> None:
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 2, 3, 37, 8, generator=gen)
    v = torch.randn(2, 3, 37, 16, generator=gen)
    # Strong decays (logits down to -40) would overflow a naive q*exp(b), k*exp(-b) split.
    log_decay = F.logsigmoid(torch.randn(2, 3, 37, 8, generator=gen) * 20) / 16
    expected = gla_recurrent(q, k, v, log_decay)
    assert torch.allclose(gla_chunked(q, k, v, log_decay, chunk), expected, atol=1e-5)


def test_gla_is_causal() -> None:
    gen = torch.Generator().manual_seed(1)
    q, k, g = torch.randn(3, 1, 2, 10, 4, generator=gen)
    v = torch.randn(1, 2, 10, 4, generator=gen)
    log_decay = F.logsigmoid(g)
    base = gla_chunked(q, k, v, log_decay, 4)
    v2 = v.clone()
    v2[:, :, 6:] += 1.0  # change only the future of token 5
    assert torch.equal(gla_chunked(q, k, v2, log_decay, 4)[:, :, :6], base[:, :, :6])


def test_sincos_table_matches_upstream() -> None:
    fx = torch.load(FIXTURES / "dig" / "pos_embed.pt", weights_only=True)
    assert torch.allclose(sincos_pos_embed_2d(fx["dim"], fx["grid"]), fx["pos_embed"], atol=1e-7)


@pytest.mark.parametrize(
    "overrides",
    [
        {"width": 30},
        {"num_heads": 5},
        {"input_size": 33},
        {"gla_impl": "triton"},
        {"conv_kernel_size": 2},
        {"gla_chunk": 0},
        {"class_dropout_prob": -0.1},
    ],
)
def test_bad_config_raises_config_error(overrides: dict) -> None:
    with pytest.raises(ConfigError):
        create_model("dig-s-2", device="meta", **overrides)


@pytest.mark.parametrize("use_skip", [False, True])
def test_forward_at_512px_on_tiny_config(use_skip: bool) -> None:
    torch.manual_seed(0)
    model = create_model(
        "dig-s-2", resolution=512, width=32, depth=4, num_heads=2, use_skip=use_skip
    )
    x, t, y = torch.randn(2, 4, 64, 64), torch.tensor([3, 999]), torch.tensor([1, 7])
    with torch.no_grad():
        out = model(x, t, y)
        out_cfg = model.forward_with_cfg(x, t, torch.tensor([1, 1000]), 4.0)
    assert out.shape == out_cfg.shape == (2, 8, 64, 64)
    assert torch.isfinite(out).all() and torch.isfinite(out_cfg).all()
    assert model.config.num_params() == sum(p.numel() for p in model.parameters())


def test_gla_core_macs_by_hand() -> None:
    """DiG-S/2 at 256 px: 12 blocks x 6 heads x 16 chunks of 16 tokens, dk 32, dv 64."""
    per_chunk = 16 * 16 * (32 + 64) + 2 * 16 * 32 * 64
    assert get_spec("dig-s-2").config.gla_core_macs() == 12 * 6 * 16 * per_chunk == 103_809_024
    assert DiGConfig().gla_chunk == UPSTREAM_GLA_CHUNK == 16  # upstream fused_chunk_gla's BT


@pytest.mark.parametrize("chunk", [4, 5, 16])
def test_gla_core_macs_equals_flop_counter_of_chunked_gla(chunk: int) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    config = DiGConfig(width=32, depth=1, num_heads=2, input_size=8)  # 16 tokens, dk 8, dv 16
    q, k, g = torch.zeros(3, 1, 2, 16, 8, device="meta")
    v = torch.zeros(1, 2, 16, 16, device="meta")
    with FlopCounterMode(display=False) as counter:
        gla_chunked(q, k, v, g, chunk)
    assert counter.get_total_flops() // 2 == config.gla_core_macs(chunk)


def test_gla_core_is_the_dense_difference_between_chunked_and_recurrent_models() -> None:
    """Our recurrent GLA, like upstream's naive one, has no matmul: the dense MACs of the two forms
    differ by exactly the closed form (the golden value's analytic part)."""
    overrides = {"width": 64, "depth": 2, "num_heads": 2, "input_size": 8, "gla_chunk": 6}
    dense = {}
    for impl in ("chunked", "recurrent"):
        model = create_model("dig-s-2", device="meta", gla_impl=impl, **overrides)
        dense[impl] = count_flops(model, input_shape=(4, 8, 8)).dense_macs
    config = get_spec("dig-s-2").config_for(256, gla_impl="chunked", **overrides)
    assert dense["chunked"] - dense["recurrent"] == config.gla_core_macs() > 0
