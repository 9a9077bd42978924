"""DiC reimplementation: upstream parity, parameter counts, config validation, label dropout."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from parity_checks import NEGATIVE_CONTROL_MARGIN, run_parity

from fcdmbench.catalog.dic import DIC_S, DiCConfig
from fcdmbench.checkpoints import load_checkpoint
from fcdmbench.errors import ConfigError, InputError
from fcdmbench.parity import deterministic_state_dict
from fcdmbench.registry import create_model, get_spec, list_models

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PARITY = FIXTURES / "parity"
VARIANTS = ["dic-s", "dic-b", "dic-xl", "dic-h"]


def test_registry_lists_every_upstream_variant() -> None:
    assert list_models("dic-*") == VARIANTS
    spec = get_spec("DiC-XL")
    assert spec.name == "dic-xl" and spec.display_name == "DiC-XL"
    assert spec.upstream.commit.startswith("bfa541b")


@pytest.mark.parametrize("name", VARIANTS)
def test_num_params_matches_built_model_and_upstream(name: str) -> None:
    upstream = json.loads((FIXTURES / "upstream_params.json").read_text())
    model = create_model(name, device="meta")
    built = sum(p.numel() for p in model.parameters())
    assert get_spec(name).num_params() == built == upstream[name]
    model_512 = create_model(name, resolution=512, device="meta")
    assert sum(p.numel() for p in model_512.parameters()) == built  # size-independent weights


@pytest.mark.parity
@pytest.mark.parametrize(
    "fixture",
    [
        # 512 px lives outside parity/: the generic test wants one fixture per model, named by it.
        # parity/dic-s.pt and parity/dic-xl.pt are run by tests/test_parity.py.
        pytest.param("dic/parity-dic-s-512.pt", marks=pytest.mark.slow),
    ],
)
def test_parity_with_upstream(fixture: str) -> None:
    # Tolerances derive from the fixture's measured kernel spread (tests/parity_checks.py).
    result = run_parity(FIXTURES / fixture)
    assert result["max_abs_diff"] <= result["tolerance"], result
    assert result["max_abs_diff_cfg"] <= result["tolerance_cfg"], result


@pytest.mark.parity
@pytest.mark.slow
def test_perturbed_upstream_weight_breaks_parity() -> None:
    # A decoder block that merges a skip: exercises the key map of the 1x1 skip conv.
    result = run_parity(PARITY / "dic-s.pt", perturb="dec_blocks.1.3.conv.skip.weight")
    assert result["max_abs_diff"] >= NEGATIVE_CONTROL_MARGIN * result["tolerance"], result


def test_upstream_state_dict_loads_strictly_under_ema_key() -> None:
    fx = torch.load(PARITY / "dic-s.pt", map_location="cpu", weights_only=True)
    weights = deterministic_state_dict({k: tuple(v) for k, v in fx["upstream_shapes"].items()})
    model, spec = create_model("dic-s"), get_spec("dic-s")
    assert load_checkpoint(model, spec, {"ema": weights, "opt": {}}) == "ema"
    del weights["final_layer.out_proj.bias"]
    with pytest.raises(InputError, match="missing 1"):
        load_checkpoint(create_model("dic-s"), spec, weights)


@pytest.mark.parametrize(
    "overrides",
    [
        {"depths": (6, 6, 5, 6)},
        {"depths": (6, 5, 5, 6, 6)},
        {"depths": (0, 6, 5, 6, 0)},
        {"width": 100},
        {"width": 0},
        {"input_size": 30},
        {"skip_stride": 0},
        {"class_dropout_prob": 1.0},
        {"max_groups": 0},
    ],
)
def test_bad_config_raises_config_error(overrides: dict) -> None:
    with pytest.raises(ConfigError):
        create_model("dic-s", device="meta", **overrides)


def test_unknown_config_field_names_valid_fields() -> None:
    with pytest.raises(ConfigError, match="hidden_size"):
        create_model("dic-s", hidden_size=96)


def _tiny(**overrides) -> DiCConfig:
    return replace(DIC_S, width=32, depths=(2, 4, 1, 4, 2), num_classes=10, **overrides)


def test_forward_at_512px_on_tiny_config() -> None:
    torch.manual_seed(0)
    model = create_model("dic-s", resolution=512, width=32, depths=(2, 4, 1, 4, 2))
    assert model.config.input_size == 64
    x, t, y = torch.randn(2, 4, 64, 64), torch.tensor([3, 999]), torch.tensor([1, 7])
    with torch.no_grad():
        out = model(x, t, y)
        out_cfg = model.forward_with_cfg(x, t, torch.tensor([1, 1000]), 4.0)
    assert out.shape == out_cfg.shape == (2, 8, 64, 64)
    assert torch.isfinite(out).all() and torch.isfinite(out_cfg).all()
    assert model.config.num_params() == sum(p.numel() for p in model.parameters())


def test_training_drops_labels_once_for_every_level() -> None:
    from fcdmbench_baselines.dic import DiC

    torch.manual_seed(0)
    model = DiC(_tiny(class_dropout_prob=0.5)).train()
    seen: list[torch.Tensor] = []
    for emb in model.y_embedders:
        emb.embedding_table.register_forward_hook(lambda _m, args, _o: seen.append(args[0]))
    y = torch.arange(64) % 10
    model(torch.randn(64, 4, 8, 8), torch.randint(0, 1000, (64,)), y)
    assert len(seen) == 3
    dropped = seen[0] == 10
    assert 0 < dropped.sum() < 64  # some, not all, labels became the null label
    assert all(torch.equal(s, seen[0]) for s in seen[1:])  # the same drop at every level
    assert torch.equal(seen[0][~dropped], y[~dropped])
