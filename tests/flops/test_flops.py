"""FLOP counting: a hand-counted toy network per counter, golden upstream numbers, report fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fcdmbench.errors import ConfigError, UnknownModelError
from fcdmbench.flops.counter import count_flops
from fcdmbench.flops.run import FlopsConfig, run_flops
from fcdmbench.records._base import dump, parse
from fcdmbench.records.flops import CFG_FACTOR, TRAIN_FACTOR, FlopsResult
from fcdmbench.registry import get_spec, list_models

GOLDEN = json.loads((Path(__file__).parents[1] / "fixtures" / "flops_golden.json").read_text())

# Toy geometry: latent (C, H, W) = (8, 8, 8); N = 64 tokens of width D = 16, 2 heads of 8.
C_IN, SIDE, C_MID, HEADS, HEAD_DIM = 8, 8, 16, 2, 8
N_TOK, D = SIDE * SIDE, C_MID


class ToyNet(nn.Module):
    """conv3x3 -> depthwise 5x5 -> tokens -> qkv Linear -> attention -> proj Linear."""

    def __init__(self, use_sdpa: bool) -> None:
        super().__init__()
        self.use_sdpa = use_sdpa
        self.conv = nn.Conv2d(C_IN, C_MID, 3, padding=1)
        self.dwconv = nn.Conv2d(C_MID, C_MID, 5, padding=2, groups=C_MID)
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)

    def forward(self, x, t, y):
        h = self.dwconv(self.conv(x))  # (B, 16, 8, 8)
        tokens = h.flatten(2).transpose(1, 2)  # (B, 64, 16)
        b = tokens.shape[0]
        qkv = self.qkv(tokens).reshape(b, N_TOK, 3, HEADS, HEAD_DIM).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, heads, N, head_dim)
        if self.use_sdpa:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            attn = (q @ k.transpose(-2, -1)) * HEAD_DIM**-0.5
            out = attn.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, N_TOK, D))


# Analytic MACs, computed from the shapes (batch 1).
CONV_MACS = N_TOK * C_MID * C_IN * 3 * 3
DWCONV_MACS = N_TOK * C_MID * 5 * 5  # one input channel per group
QKV_MACS = N_TOK * D * 3 * D
ATTN_MACS = HEADS * N_TOK * N_TOK * HEAD_DIM * 2  # Q K^T and A V
PROJ_MACS = N_TOK * D * D
DENSE_MACS = CONV_MACS + DWCONV_MACS + QKV_MACS + ATTN_MACS + PROJ_MACS
SCALE_MUL_MACS = HEADS * N_TOK * N_TOK  # the explicit variant's `* scale`, 1 per element


def _toy(use_sdpa: bool, device: str = "cpu") -> ToyNet:
    torch.manual_seed(0)
    with torch.device(device):
        return ToyNet(use_sdpa).eval()


def _count(use_sdpa: bool, counter: str, device: str = "cpu") -> FlopsResult:
    return count_flops(_toy(use_sdpa, device), input_shape=(C_IN, SIDE, SIDE), counter=counter)


def test_analytic_counts_are_what_the_toy_computes():
    assert (CONV_MACS, DWCONV_MACS, ATTN_MACS) == (73_728, 25_600, 131_072)
    assert DENSE_MACS == 295_936


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize("use_sdpa", [True, False], ids=["sdpa", "explicit"])
def test_flop_counter_matches_hand_count(use_sdpa, device):
    report = _count(use_sdpa, "flop_counter", device)
    assert report.dense_macs == DENSE_MACS  # exact: CPU SDPA formula registered, meta decomposes
    expected_elementwise = 0 if use_sdpa else SCALE_MUL_MACS
    assert report.macs == DENSE_MACS + expected_elementwise
    assert report.gflops == pytest.approx(2 * report.gmacs)


@pytest.mark.parametrize("use_sdpa", [True, False], ids=["sdpa", "explicit"])
def test_torchprofile_matches_hand_count(use_sdpa):
    report = _count(use_sdpa, "torchprofile")
    assert report.macs == DENSE_MACS + (0 if use_sdpa else SCALE_MUL_MACS)


def test_fvcore_misses_fused_attention_and_says_so():
    sdpa = _count(True, "fvcore")
    assert sdpa.macs == DENSE_MACS - ATTN_MACS
    assert "aten::scaled_dot_product_attention" in {o.op for o in sdpa.ops if o.kind == "skipped"}
    explicit = _count(False, "fvcore")
    assert explicit.macs == DENSE_MACS  # fvcore counts matmuls, not the scale mul ...
    assert "aten::mul" in {o.op for o in explicit.ops if o.kind == "skipped"}  # ... and lists it
    assert parse(type(sdpa), dump(sdpa)) == sdpa  # its record reads back (per-module dense: None)


def test_zero_cost_ops_are_listed_not_hidden():
    report = _count(False, "flop_counter", "meta")
    zero = {o.op for o in report.zero_ops}
    assert "aten._softmax" in zero or "aten._safe_softmax" in zero
    assert all(o.macs == 0 for o in report.zero_ops)


def test_per_module_breakdown_sums_to_children():
    report = _count(True, "flop_counter", "meta")
    modules = {m.module: m.macs for m in report.modules}
    assert modules["conv"] == CONV_MACS and modules["dwconv"] == DWCONV_MACS
    assert modules["qkv"] == QKV_MACS and modules["proj"] == PROJ_MACS
    assert modules[""] == DENSE_MACS


def test_report_derived_figures_and_record():
    report = count_flops("fcdm-s", batch=2, cfg=True)
    assert report.rows == 2 * CFG_FACTOR
    assert report.cfg_gmacs_per_image == pytest.approx(CFG_FACTOR * report.gmacs)
    assert report.train_gmacs_per_image == pytest.approx(TRAIN_FACTOR * report.gmacs)
    single = count_flops("fcdm-s")
    # per image, batch-independent up to batch-independent ops (the timestep frequency table)
    assert report.gmacs == pytest.approx(single.gmacs, rel=1e-6)
    record = report.to_record()
    assert record["gmacs"] == report.gmacs and record["convention"].startswith("GMACs")
    json.dumps(record)  # JSON-ready


def test_spelling_alias_and_tag_resolve():
    assert count_flops("FCDM-S").model == "fcdm-s"
    assert count_flops("fcdm-s.512").resolution == 512


def test_bad_inputs_raise_config_errors():
    with pytest.raises(ConfigError):
        count_flops("fcdm-s", batch=0)
    with pytest.raises(ConfigError):
        count_flops("fcdm-s", resolution=260)  # not a multiple of the VAE factor 8
    with pytest.raises(ConfigError):
        count_flops("fcdm-s", resolution=264)  # latent 33: FCDM needs a multiple of 4
    with pytest.raises(UnknownModelError):
        count_flops("fcdm-xxl")
    with pytest.raises(ConfigError):
        count_flops(_toy(True))  # no config: the input shape must be given
    with pytest.raises(ConfigError, match="one counter"):
        count_flops("fcdm-s", counter="all")  # run_flops's side-by-side choice
    with pytest.raises(ConfigError, match="batch must be"):  # count_flops's one check
        run_flops(FlopsConfig(models=("fcdm-s",), batch=0, ref=None))


def test_reference_ratio_and_missing_default_reference():
    run = run_flops(FlopsConfig(models=("fcdm-s", "fcdm-xl"), ref="fcdm-xl"))
    assert run.results[1].ratio_to_ref == pytest.approx(1.0)
    assert run.results[0].ratio_to_ref == pytest.approx(run.results[0].gmacs / run.results[1].gmacs)
    with pytest.raises(UnknownModelError):
        run_flops(FlopsConfig(models=("fcdm-s",), ref="not-a-model", is_ref_explicit=True))
    soft = run_flops(FlopsConfig(models=("fcdm-s",), ref="not-a-model"))
    assert soft.results[0].ratio_to_ref is None and "not registered" in soft.notes[0]


def test_run_flops_returns_the_complete_record(tmp_path):
    """What a library user gets is what `fcdmbench flops --json` writes: env, run, batch."""
    from fcdmbench.records.flops import FlopsRecord
    from fcdmbench.records.io import read_record, write_record

    record = run_flops(FlopsConfig(models=("fcdm-s",), batch=4, ref=None))
    assert isinstance(record, FlopsRecord) and record.batch == 4 and record.models == ("fcdm-s",)
    assert record.env.device_type == "cpu" and record.run.fcdmbench and record.run.started
    (result,) = record.results
    assert result.batch == 4 and result.rows == 4
    assert result.gmacs == pytest.approx(count_flops("fcdm-s").gmacs, rel=1e-6)  # per image
    assert read_record(write_record(tmp_path / "f.json", record), kind="flops") == record


def test_overrides_count_the_overridden_configuration():
    """One construction path (`create_model` on meta) for every count with config overrides."""
    base = count_flops("fcdm-l")
    k5 = count_flops("fcdm-l", overrides={"kernel_size": 5})
    assert k5.gmacs < base.gmacs and k5.overrides == {"kernel_size": 5}
    assert k5.published_gmacs is None  # the paper's figure is for the registered config
    with pytest.raises(ConfigError):
        count_flops("fcdm-s", overrides={"no_such_field": 1})


def test_every_registered_model_has_golden_entries():
    missing = [
        f"{n}@{r}"
        for n in list_models()
        for r in ("256", "512")
        if r not in GOLDEN["models"].get(n, {})
    ]
    assert not missing, f"no upstream golden MACs for {missing}; add them to flops_golden.json"


def test_dig_golden_is_upstream_count_plus_closed_form_gla_kernel():
    """DiG's GLA runs in Triton kernels no counter sees; its golden value is upstream's
    FlopCounterMode count of everything else plus the kernel's MACs in closed form
    (tests/fixtures/PROVENANCE.md)."""
    from fcdmbench.catalog.dig import UPSTREAM_GLA_CHUNK

    names = list_models("dig-*")
    assert names
    for name in names:
        for resolution in (256, 512):
            golden = GOLDEN["models"][name][str(resolution)]
            config = get_spec(name).config_for(resolution)
            assert golden["gla_kernel_macs"] == config.gla_core_macs(UPSTREAM_GLA_CHUNK)
            assert golden["flop_counter_meta_macs"] == (
                golden["upstream_visible_macs"] + golden["gla_kernel_macs"]
            )


@pytest.mark.parity
@pytest.mark.parametrize("resolution", [256, 512])
@pytest.mark.parametrize("name", list_models())
def test_golden_macs_match_upstream(name, resolution):
    """Dense MACs vs upstream under FlopCounterMode/2 (for DiG: plus its GLA kernel's MACs), and
    the paper-convention total vs upstream under torchprofile 0.1.0 (where it was run), each
    within 0.5 %."""
    golden = GOLDEN["models"][name][str(resolution)]
    report = count_flops(name, resolution=resolution)
    assert report.dense_macs == pytest.approx(golden["flop_counter_meta_macs"], rel=5e-3)
    if "torchprofile_macs" in golden:
        assert report.macs == pytest.approx(golden["torchprofile_macs"], rel=5e-3)


@pytest.mark.slow
def test_module_order_does_not_depend_on_the_string_hash_seed():
    """Per-module counts are listed outermost first; two hash seeds give the same record
    (~15 s: two fresh processes). The tracker's active modules are a set."""
    import os
    import subprocess
    import sys

    code = (
        "from fcdmbench.flops.counter import count_flops\n"
        "print([m.module for m in count_flops('dig-s').modules])\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_a_requested_model_that_is_the_reference_under_an_alias_is_counted_once(monkeypatch):
    from fcdmbench.flops import run

    calls = []
    real = run.count_flops
    monkeypatch.setattr(
        run, "count_flops", lambda name, *a, **k: calls.append(name) or real(name, *a, **k)
    )
    record = run.run_flops(run.FlopsConfig(models=("dit-s",), ref="dit-s-2", is_ref_explicit=True))
    assert calls == ["dit-s"] and record.results[0].ratio_to_ref == 1.0


def test_a_meta_count_pauses_the_collector_and_restores_it(monkeypatch):
    """The cyclic collector is off while a meta count runs (its full walks cost a third of a
    count) and as it was afterwards, an error included; the tracing counters leave it alone."""
    import gc

    from fcdmbench.flops import counter

    seen = []
    tally = counter._tally
    monkeypatch.setattr(counter, "_tally", lambda *a: seen.append(gc.isenabled()) or tally(*a))
    assert gc.isenabled()
    count_flops("dit-s-2")
    assert seen == [False] and gc.isenabled()
    monkeypatch.setattr(counter, "_tally", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        count_flops("dit-s-2")
    assert gc.isenabled()
    gc.disable()
    try:
        monkeypatch.setattr(counter, "_tally", lambda *a: seen.append(gc.isenabled()) or tally(*a))
        count_flops("dit-s-2")
        assert not gc.isenabled()
    finally:
        gc.enable()
    count_flops(_toy(False), input_shape=(C_IN, SIDE, SIDE), counter="torchprofile")
    assert seen == [False, False, True]


#: In a fresh process: the collector's state when torch is first imported inside the pause.
_TORCH_IMPORTED_WITH = """
import gc, sys
seen = []
class _Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not seen:
            seen.append(gc.isenabled())
sys.meta_path.insert(0, _Spy())
from fcdmbench.flops.counter import _collection_paused
with _collection_paused():
    assert not gc.isenabled()
print(seen, "torch" in sys.modules)
"""


def test_the_pause_leaves_torchs_own_import_to_the_collector():
    """torch, when first imported by a count, is imported before the pause (as the start-up
    benchmark's ``import torch`` baseline is), so the pause speeds up only the count."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", _TORCH_IMPORTED_WITH], capture_output=True, text=True, check=True
    )
    assert run.stdout.split() == ["[True]", "True"], run.stderr
