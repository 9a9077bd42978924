"""FCDM specifics: adaLN-Zero init, checkpointing modes, config validation, upstream keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fcdmbench.catalog.fcdm import FCDMConfig
from fcdmbench.checkpoints import load_checkpoint
from fcdmbench.errors import ConfigError, InputError
from fcdmbench.models import fcdm as fcdm_module
from fcdmbench.models.fcdm import FCDM, map_upstream_keys
from fcdmbench.parity import deterministic_state_dict
from fcdmbench.registry import create_model, get_spec

PARITY_DIR = Path(__file__).parents[1] / "fixtures" / "parity"
TINY = FCDMConfig(width=16, depths=(1, 2, 2, 2, 1), input_size=8, num_classes=10)


def _inputs(batch: int = 2, side: int = 8, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 4, side, side, generator=gen)
    t = torch.randint(0, 1000, (batch,), generator=gen)
    y = torch.randint(0, 10, (batch,), generator=gen)
    return x, t, y


def _upstream_shapes(name: str) -> dict[str, tuple[int, ...]]:
    fx = torch.load(PARITY_DIR / f"{name}.pt", map_location="cpu", weights_only=True)
    return {k: tuple(v) for k, v in fx["upstream_shapes"].items()}


def test_fresh_init_blocks_are_identity_and_output_is_zero():
    torch.manual_seed(0)
    model = FCDM(TINY).eval()
    x, t, y = _inputs()
    for block in model.blocks():
        width = block.dwconv.in_channels
        h = torch.randn(2, width, 8, 8)
        c = torch.randn(2, width)
        assert torch.equal(block(h, c), h)
    with torch.no_grad():
        out = model(x, t, y)
    assert out.shape == (2, 8, 8, 8)
    assert torch.count_nonzero(out) == 0


def test_fresh_init_is_seeded():
    torch.manual_seed(3)
    a = FCDM(TINY).state_dict()
    torch.manual_seed(3)
    b = FCDM(TINY).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def _outputs_and_grads(mode: str, weights: dict):
    model = FCDM(FCDMConfig(**{**_tiny_fields(), "checkpointing": mode}))
    model.load_state_dict(weights)
    model.train()
    x, t, y = _inputs()
    torch.manual_seed(7)  # label dropout draws from the global generator
    out = model(x, t, y)
    out.square().mean().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return out.detach(), grads


def _tiny_fields() -> dict:
    return {f: getattr(TINY, f) for f in TINY.__dataclass_fields__}


def test_checkpointing_modes_give_identical_outputs_and_grads():
    weights = deterministic_state_dict(FCDM(TINY).state_dict(), seed=0)
    ref_out, ref_grads = _outputs_and_grads("off", weights)
    assert ref_out.abs().max() > 0
    for mode in ("train", "always"):
        out, grads = _outputs_and_grads(mode, weights)
        assert torch.equal(out, ref_out), mode
        for name, grad in ref_grads.items():
            torch.testing.assert_close(grads[name], grad, rtol=1e-6, atol=1e-7, msg=name)


def _count_checkpoint_calls(monkeypatch, model: FCDM, train: bool, grad: bool) -> int:
    calls = []
    real = fcdm_module.checkpoint

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(fcdm_module, "checkpoint", counting)
    model.train(train)
    with torch.set_grad_enabled(grad):
        model(*_inputs())
    return len(calls)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # (train, grad) -> checkpointed?
        ("off", {(True, True): False, (False, False): False, (True, False): False}),
        (
            "train",
            {(True, True): True, (False, False): False, (True, False): False, (False, True): False},
        ),
        ("always", {(True, True): True, (False, False): True, (True, False): True}),
    ],
)
def test_checkpointing_mode_decides_when_to_checkpoint(monkeypatch, mode, expected):
    model = FCDM(FCDMConfig(**{**_tiny_fields(), "checkpointing": mode}))
    n_blocks = len(model.blocks())
    for (train, grad), is_checkpointed in expected.items():
        calls = _count_checkpoint_calls(monkeypatch, model, train, grad)
        assert calls == (n_blocks if is_checkpointed else 0), (mode, train, grad)


@pytest.mark.parametrize(
    "overrides",
    [
        {"width": 130},
        {"width": 0},
        {"input_size": 30},
        {"checkpointing": "sometimes"},
        {"depths": (1, 2, 3)},
        {"kernel_size": 4},
    ],
)
def test_bad_config_raises_config_error(overrides):
    with pytest.raises(ConfigError):
        FCDMConfig(**overrides)


def test_bad_override_through_registry_raises_config_error():
    with pytest.raises(ConfigError, match="checkpointing"):
        create_model("fcdm-s", device="meta", checkpointing="yes")


def test_runs_at_64x64_latent_with_the_256_weights():
    """No positional embedding: the same weights work at 512 px (64x64 latent)."""
    small = FCDM(TINY)
    weights = deterministic_state_dict(small.state_dict(), seed=0)
    big = FCDM(FCDMConfig(**{**_tiny_fields(), "input_size": 64})).eval()
    big.load_state_dict(weights, strict=True)
    x, t, y = _inputs(batch=1, side=64)
    with torch.no_grad():
        out = big(x, t, y)
    assert out.shape == (1, 8, 64, 64)
    assert torch.isfinite(out).all() and out.abs().max() > 0


@pytest.mark.parametrize("name", ["fcdm-s", "fcdm-xl"])
def test_upstream_keys_map_onto_ours_exactly(name: str):
    shapes = _upstream_shapes(name)
    mapped = map_upstream_keys(shapes)
    own = create_model(name, device="meta").state_dict()
    assert set(mapped) == set(own)
    assert all(tuple(mapped[k]) == tuple(own[k].shape) for k in own)


def test_upstream_weights_load_strict():
    spec = get_spec("fcdm-s")
    weights = deterministic_state_dict(_upstream_shapes("fcdm-s"), seed=0)
    model = create_model("fcdm-s")
    assert load_checkpoint(model, spec, {"ema": weights}) == "ema"
    mapped = map_upstream_keys(weights)
    own = model.state_dict()
    assert all(torch.equal(own[k], mapped[k]) for k in own)


def test_wrong_model_checkpoint_names_mismatched_keys():
    # FCDM-S weights into FCDM-XL: XL has a third level-1 block (missing) and wider layers.
    weights = {k: torch.empty(s, device="meta") for k, s in _upstream_shapes("fcdm-s").items()}
    model = create_model("fcdm-xl", device="meta")
    with pytest.raises(InputError) as info:
        load_checkpoint(model, get_spec("fcdm-xl"), weights)
    message = info.value.message
    assert "fcdm-xl" in message
    assert "missing" in message and "dec1.2." in message
    assert "shape" in message


def test_checkpoint_with_foreign_keys_is_rejected():
    weights = {"blocks.0.attn.qkv.weight": torch.zeros(3, 3)}
    model = create_model("fcdm-s", device="meta")
    with pytest.raises(InputError, match="unexpected 1: blocks.0.attn.qkv.weight"):
        load_checkpoint(model, get_spec("fcdm-s"), weights)
