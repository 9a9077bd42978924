"""DiT and DiCo (baselines/dit.py, baselines/dico.py): configs, counts, key maps, parity.

Every parity fixture (XL included, slow) is also checked by the generic tests/test_parity.py; here
dit-s-2 (both attention modes) and dico-s are compared with negative controls, plus what is
specific to these two families.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from parity_checks import NEGATIVE_CONTROL_MARGIN, fixture_inputs, parity_tolerance

from fcdmbench.catalog.dico import DiCoConfig
from fcdmbench.catalog.dit import DIT_VARIANTS, AttentionImpl, DiTConfig
from fcdmbench.checkpoints import load_checkpoint
from fcdmbench.errors import ConfigError
from fcdmbench.parity import deterministic_state_dict
from fcdmbench.registry import create_model, get_spec, import_object, list_models, resolve
from fcdmbench_baselines.dico import DiCo
from fcdmbench_baselines.dit import DiT, sincos_pos_embed_2d

FIXTURES = Path(__file__).parents[1] / "fixtures"
PARITY = FIXTURES / "parity"
UPSTREAM_PARAMS = json.loads((FIXTURES / "upstream_params.json").read_text())
FAMILY_MODELS = list_models(["dit-*", "dico-*"])


def _load_fixture(name: str) -> dict:
    return torch.load(PARITY / f"{name}.pt", map_location="cpu", weights_only=True)


def test_registry_names_aliases_and_display_names():
    sizes, patches = ("s", "b", "l", "xl"), (2, 4, 8)
    assert list_models("dit-*") == [f"dit-{s}-{p}" for s in sizes for p in patches]
    assert list_models("dico-*") == ["dico-s", "dico-b", "dico-l", "dico-xl"]
    for size in ("s", "b", "l", "xl"):
        assert get_spec(f"dit-{size}").name == f"dit-{size}-2"
        assert get_spec(f"dico-{size}").display_name == f"DiCo-{size.upper()}"
    assert get_spec("DiT-XL/2").display_name == "DiT-XL/2"
    assert resolve("dit-xl.512") == (get_spec("dit-xl-2"), 512)
    assert get_spec("dit-b-4").upstream.commit.startswith("ed81ce2")
    assert get_spec("dico-xl").upstream.license == "Apache-2.0"


@pytest.mark.parametrize("name", FAMILY_MODELS)
@pytest.mark.parametrize("resolution", [256, 512])
def test_num_params_equals_built_and_upstream(name: str, resolution: int):
    spec = get_spec(name)
    model = create_model(name, resolution=resolution, device="meta")
    built = sum(p.numel() for p in model.parameters())
    assert built == spec.config_for(resolution).num_params()
    key = name if resolution == 256 or spec.family == "dico" else f"{name}.{resolution}"
    assert built == UPSTREAM_PARAMS[key]


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("dit-s-2", {"learn_sigma": False}),
        ("dit-b-4", {"class_dropout_prob": 0.0, "mlp_ratio": 2.5}),
        ("dit-s-8", {"input_size": 48, "num_classes": 10}),
        ("dico-s", {"mlp_ratio": 4.0, "learn_sigma": False}),
        ("dico-b", {"class_dropout_prob": 0.0, "depths": (1, 2, 3, 2, 1), "width": 96}),
    ],
)
def test_num_params_with_overrides(name: str, overrides: dict):
    model = create_model(name, device="meta", **overrides)
    assert sum(p.numel() for p in model.parameters()) == model.config.num_params()


def test_dico_overrides_are_honoured_unlike_upstream():
    """Upstream's DiCo_S(**kwargs) drops its kwargs; ours applies them or raises."""
    model = create_model("dico-s", device="meta", mlp_ratio=4.0, learn_sigma=False)
    assert model.config.mlp_ratio == 4.0 and model.final.conv.out_channels == 4
    assert model.enc1[0].ffn_in.out_channels == 4 * 128
    with pytest.raises(ConfigError, match="patch_size"):
        create_model("dico-s", device="meta", patch_size=2)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: DiTConfig(attention="flash"), "attention"),
        (lambda: DiTConfig(width=1000, num_heads=16), "num_heads"),
        (lambda: DiTConfig(width=18, num_heads=2), "multiple of 4"),
        (lambda: DiTConfig(input_size=30, patch_size=4), "patch_size"),
        (lambda: DiTConfig(depth=-1), "depth"),
        (lambda: DiTConfig(mlp_ratio=0.0), "mlp_ratio"),
        (lambda: DiTConfig(class_dropout_prob=1.0), "class_dropout_prob"),
        (lambda: DiCoConfig(width=129), "width"),
        (lambda: DiCoConfig(depths=(1, 2, 3)), "depths"),
        (lambda: DiCoConfig(input_size=30), "input_size"),
        (lambda: DiCoConfig(mlp_ratio=-2.0), "mlp_ratio"),
        (lambda: create_model("dit-xl-8", device="meta", input_size=36), "patch_size"),
        (lambda: create_model("dit-s-2", device="meta", heads=3), "unknown config field"),
    ],
)
def test_bad_config_raises_config_error(build, match: str):
    with pytest.raises(ConfigError, match=match):
        build()


def test_attention_setting_accepts_strings_and_enum():
    assert DiTConfig(attention="manual").attention is AttentionImpl.MANUAL
    assert DiTConfig().attention is AttentionImpl.SDPA
    model = create_model("dit-s-2", device="meta", attention="manual")
    assert all(b.attn.impl is AttentionImpl.MANUAL for b in model.blocks)


def _tiny_dit(**overrides) -> DiT:
    config = DiTConfig(
        depth=2, width=64, num_heads=4, patch_size=2, input_size=8, num_classes=10, **overrides
    )
    return DiT(config).eval()


def test_attention_sdpa_and_manual_give_the_same_outputs():
    sdpa, manual = _tiny_dit(attention="sdpa"), _tiny_dit(attention="manual")
    weights = deterministic_state_dict(sdpa.state_dict(), seed=3)
    sdpa.load_state_dict(weights)
    manual.load_state_dict(weights)
    x, t, y = fixture_inputs((4, 8, 8), batch=2, seed=0, num_classes=10)
    with torch.no_grad():
        out_sdpa, out_manual = sdpa(x, t, y), manual(x, t, y)
    assert out_sdpa.shape == (2, 8, 8, 8)  # learn_sigma: noise + variance channels
    assert out_sdpa.abs().max() > 0.1
    torch.testing.assert_close(out_sdpa, out_manual, rtol=0, atol=1e-5)


@pytest.fixture(scope="module", autouse=True)
def _free_cached_weights():
    """Free the cached weights when this module is done (not held through the whole suite)."""
    yield
    _fixture_and_weights.cache_clear()


@functools.cache
def _fixture_and_weights(name: str) -> tuple[dict, dict]:
    """A fixture and its deterministic upstream-keyed weights (generated once per module)."""
    fx = _load_fixture(name)
    shapes = {k: tuple(v) for k, v in fx["upstream_shapes"].items()}
    return fx, deterministic_state_dict(shapes, seed=int(fx["seed"]))


def _tolerance(name: str, key: str = "out") -> float:
    """The fixture's tolerance: `parity_tolerance` of its measured kernel spread (PROVENANCE)."""
    fx = _fixture_and_weights(name)[0]
    return parity_tolerance(fx["kernel_spread"][key], fx[key].abs().max().item())


def _max_diffs(name: str, weights: dict | None = None, use_cfg: bool = True, **overrides):
    """Max abs differences of our model against the upstream fixture: (plain, CFG or None)."""
    fx, fixture_weights = _fixture_and_weights(name)
    model = create_model(name, resolution=int(fx["resolution"]), **overrides)
    load_checkpoint(model, get_spec(name), weights if weights is not None else fixture_weights)
    with torch.no_grad():
        out = model(fx["x"], fx["t"], fx["y"])
        assert out.shape == (2, 8, 32, 32)  # learn_sigma: noise + variance channels
        if not use_cfg:
            return (out - fx["out"]).abs().max().item(), None
        out_cfg = model.forward_with_cfg(fx["x_cfg"], fx["t_cfg"], fx["y_cfg"], fx["cfg_scale"])
    return (out - fx["out"]).abs().max().item(), (out_cfg - fx["out_cfg"]).abs().max().item()


@pytest.mark.parity
@pytest.mark.parametrize("attention", ["sdpa", pytest.param("manual", marks=pytest.mark.slow)])
def test_dit_s2_matches_upstream_with_either_attention(attention: str):
    plain, cfg = _max_diffs("dit-s-2", attention=attention)
    assert plain <= _tolerance("dit-s-2", "out"), plain
    assert cfg <= _tolerance("dit-s-2", "out_cfg"), cfg


@pytest.mark.parity
@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("dit-s-2", "blocks.5.mlp.fc1.bias"),
        pytest.param(  # compact channel attention is used
            "dico-s", "encoder_level_1.0.ca.1.weight", marks=pytest.mark.slow
        ),
    ],
)
def test_perturbed_upstream_weight_breaks_parity(name: str, key: str):
    weights = dict(_fixture_and_weights(name)[1])
    weights[key] = weights[key] + 0.5
    assert _max_diffs(name, weights, use_cfg=False)[0] >= NEGATIVE_CONTROL_MARGIN * _tolerance(name)


@pytest.mark.parity
def test_dit_uses_pos_embed():
    """Shuffled token positions break parity. (A constant added to pos_embed would not: every
    reader of the residual stream is a LayerNorm without affine, which removes it.)"""
    weights = dict(_fixture_and_weights("dit-s-2")[1])
    pos = weights["pos_embed"]
    weights["pos_embed"] = pos[:, torch.randperm(pos.shape[1], generator=torch.Generator())]
    moved = _max_diffs("dit-s-2", weights, use_cfg=False)[0]
    assert moved >= NEGATIVE_CONTROL_MARGIN * _tolerance("dit-s-2")


@pytest.mark.parametrize("name", sorted(p.stem for p in PARITY.glob("di*.pt")))
def test_key_map_covers_upstream_state_dict_exactly(name: str):
    """Every upstream key maps to one of ours with the same shape, and nothing is left over."""
    fx = _load_fixture(name)
    spec = get_spec(name)
    mapped = import_object(spec.key_map)({k: torch.empty(0) for k in fx["upstream_shapes"]})
    upstream_to_ours = dict(zip(fx["upstream_shapes"], mapped, strict=True))
    own = create_model(name, device="meta").state_dict()
    assert set(mapped) == set(own)
    for up_key, our_key in upstream_to_ours.items():
        assert tuple(own[our_key].shape) == tuple(fx["upstream_shapes"][up_key]), up_key


def test_sincos_pos_embed_matches_upstream_function():
    fx = torch.load(FIXTURES / "dit" / "pos_embed.pt", weights_only=True)
    for key in ("64x8", "1152x4"):
        dim, side = map(int, key.split("x"))
        torch.testing.assert_close(sincos_pos_embed_2d(dim, side), fx[key], rtol=0, atol=1e-6)


def test_dit_pos_embed_follows_input_size_and_is_frozen():
    model = _tiny_dit()
    assert not model.pos_embed.requires_grad
    assert model.pos_embed.shape == (1, 16, 64)
    torch.testing.assert_close(model.pos_embed[0], sincos_pos_embed_2d(64, 4))
    at_512 = create_model("dit-xl-8", resolution=512, device="meta")
    assert at_512.pos_embed.shape == (1, 64, 1152)


def test_fresh_init_is_adaln_zero():
    """Upstream's init zeroes the output layer: a fresh model predicts exactly zero."""
    model = _tiny_dit(learn_sigma=False)
    x, t, y = fixture_inputs((4, 8, 8), batch=2, seed=0, num_classes=10)
    with torch.no_grad():
        out = model(x, t, y)
    assert out.shape == (2, 4, 8, 8) and torch.count_nonzero(out) == 0


def test_dico_label_drop_is_shared_across_levels():
    """Upstream drops a label once and embeds it in all three tables; so do we."""
    config = DiCoConfig(width=8, depths=(1, 1, 1, 1, 1), num_classes=10, class_dropout_prob=0.5)
    model = DiCo(config)
    model.load_state_dict(deterministic_state_dict(model.state_dict(), seed=0))
    t = torch.arange(64)
    y = torch.arange(64) % 10
    model.train()
    torch.manual_seed(0)
    with torch.no_grad():
        conds = model.embed_conditions(t, y)
        dropped = []
        for level, c in enumerate(conds):
            null = model.t_embedders[level](t) + model.y_embedders[level].embedding_table.weight[10]
            dropped.append((c - null).abs().amax(dim=1) < 1e-6)
    assert 0 < int(dropped[0].sum()) < 64
    assert torch.equal(dropped[0], dropped[1]) and torch.equal(dropped[0], dropped[2])


def test_dit_variants_cover_table_1():
    assert len(DIT_VARIANTS) == 12
    xl2 = DIT_VARIANTS["dit-xl-2"]
    assert (xl2.depth, xl2.width, xl2.num_heads, xl2.patch_size) == (28, 1152, 16, 2)
    assert xl2.num_tokens == 256


def test_catalogues_import_no_torch():
    """Listing and counting DiT / DiCo models stays torch-free (fast `fcdmbench --help`)."""
    code = (
        "import sys\n"
        "from fcdmbench.registry import get_spec\n"
        "assert get_spec('dit-xl').config_for(512).num_params() == 676014368\n"
        "assert get_spec('dico-xl').num_params() == 701151368\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
