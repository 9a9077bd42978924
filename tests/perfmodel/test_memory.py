"""Memory estimate: the activation bytes measured on the meta device equal what autograd saves,
and what the CPU allocator holds, for small real models on the CPU."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile

import pytest
import torch
import torch.nn.functional as F

from fcdmbench.errors import ConfigError
from fcdmbench.perfmodel.memory import GIB, _build, measure_memory
from fcdmbench.records.memory import MemoryConfig
from fcdmbench.records.throughput import Mode
from fcdmbench.registry import get_spec

RESOLUTION = 64  # 8 x 8 latents: small real models


def _cpu_model(name: str, config: MemoryConfig):
    """The model `measure_memory` builds, materialised on the CPU with random weights."""
    model, _ = _build(get_spec(name), config)
    model = model.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
    return model


def _batch(model, config: MemoryConfig, name: str):
    side = config.resolution // 8
    rows, channels = config.rows_per_gpu, get_spec(name).latent_channels
    gen = torch.Generator().manual_seed(1)
    return (
        torch.randn(rows, channels, side, side, generator=gen),
        torch.randint(0, 1000, (rows,), generator=gen),
        torch.randint(0, 1000, (rows,), generator=gen),
        torch.randn(rows, model.out_channels, side, side, generator=gen),
    )


def _autograd_saved_bytes(loss, params) -> int:
    """What autograd itself holds: every ``_saved_*`` tensor of every node of the graph, by
    storage (a second route to the saved set, not through saved-tensor hooks)."""
    param_storages = {p.untyped_storage().data_ptr() for p in params}
    storages: dict[int, int] = {}
    seen, stack = set(), [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        for attr in dir(node):
            if not attr.startswith("_saved_"):
                continue
            value = getattr(node, attr)
            for t in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(t, torch.Tensor):
                    s = t.untyped_storage()
                    if s.data_ptr() not in param_storages:
                        storages[s.data_ptr()] = s.nbytes()
        stack += [n for n, _ in node.next_functions]
    return sum(storages.values())


def _allocator_held_after_forward(model, batch):
    """Bytes the CPU allocator still holds after forward + loss, from the profiler's allocation
    events (address, size): allocated during the forward and not freed."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        x, t, y, target = (b.clone() for b in batch)
        loss = F.mse_loss(model(x, t, y), target)
        del x, t, y, target
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as fh:
            events = [e for e in json.load(fh)["traceEvents"] if e.get("name") == "[memory]"]
    finally:
        os.unlink(path)
    live: dict[int, int] = {}
    for event in sorted(events, key=lambda e: e["ts"]):
        address, size = event["args"]["Addr"], event["args"]["Bytes"]
        if size > 0:
            live[address] = size
        else:
            live.pop(address, None)
    cloned_inputs = sum(b.untyped_storage().nbytes() for b in batch)  # freed by `del` above
    assert cloned_inputs > 0
    return sum(live.values()), loss


@pytest.mark.parametrize("name", ["fcdm-s", "dit-s-2"])
def test_saved_activations_equal_what_autograd_saves_on_cpu(name):
    config = MemoryConfig(batch=2, resolution=RESOLUTION)
    (report,) = measure_memory((name,), config).results  # meta device
    meta = report.step
    model = _cpu_model(name, config)
    batch = _batch(model, config, name)
    held, loss = _allocator_held_after_forward(model, batch)
    assert meta.saved_bytes == _autograd_saved_bytes(loss, list(model.parameters()))
    # held = saved activations + the loss scalar, whose storage size is device-specific
    # (4 bytes on meta, a 4 KiB reduction buffer on the CPU)
    cpu_loss = loss.untyped_storage().nbytes()
    assert held - cpu_loss == meta.held_after_forward - 4
    assert meta.saved_bytes == meta.held_after_forward - 4
    assert meta.saved_storages < meta.saved_tensors  # saved twice / as views: counted once


def test_dedupe_matters_for_attention():
    (report,) = measure_memory(("dit-s-2",), MemoryConfig(batch=2, resolution=RESOLUTION)).results
    s = report.step
    # q, k, v are views of one qkv storage: counting them one by one would overstate
    assert s.saved_bytes_undeduplicated > s.saved_bytes


def test_gradient_checkpointing_held_bytes_match_the_cpu_allocator():
    config = MemoryConfig(batch=2, resolution=RESOLUTION, grad_checkpointing=True)
    (report,) = measure_memory(("fcdm-s",), config).results
    assert report.checkpointing.startswith("upstream per-block")
    model = _cpu_model("fcdm-s", config)
    held, loss = _allocator_held_after_forward(model, _batch(model, config, "fcdm-s"))
    # each checkpointed block also keeps the CPU generator's state (preserve_rng_state): host
    # memory, not GPU memory, so the meta measurement rightly leaves it out
    rng_state = torch.get_rng_state().untyped_storage().nbytes()
    blocks = len(model.blocks())
    expected = report.step.held_after_forward - 4 + blocks * rng_state
    assert held - loss.untyped_storage().nbytes() == expected
    plain_config = dataclasses.replace(config, grad_checkpointing=False)
    (plain,) = measure_memory(("fcdm-s",), plain_config).results
    assert report.step.held_after_forward < plain.step.held_after_forward / 2


def test_dit_gets_checkpointing_applied_and_labelled():
    config = MemoryConfig(batch=2, resolution=RESOLUTION, grad_checkpointing=True)
    (report,) = measure_memory(("dit-s-2",), config).results
    assert report.checkpointing == "applied by fcdmbench per block of blocks"
    plain_config = dataclasses.replace(config, grad_checkpointing=False)
    (plain,) = measure_memory(("dit-s-2",), plain_config).results
    assert report.step.saved_bytes < plain.step.saved_bytes


def test_totals_and_fit():
    config = MemoryConfig(batch=8, gpus=4, resolution=RESOLUTION, card="rtx-4090")
    record = measure_memory(("fcdm-s",), config)
    (report,) = record.results
    s = report.step
    params = sum(p.numel() for p in _build(get_spec("fcdm-s"), config)[0].parameters())
    assert s.param_bytes == 4 * params and s.grad_bytes == 4 * params
    assert s.optimizer_bytes >= 8 * params  # exp_avg + exp_avg_sq (+ step counters)
    assert report.config.rows_per_gpu == 2
    assert report.ema_bytes == s.param_bytes and report.ddp_bucket_bytes == s.grad_bytes
    assert report.total_bytes == (
        s.param_bytes + report.ema_bytes + s.optimizer_bytes + s.peak_step + s.grad_bytes
    )
    assert report.fits is True
    assert report.card.memory_gib == 24 and record.config.card == "rtx-4090"
    assert report.gib["total_per_gpu"] == pytest.approx(report.total_bytes / GIB)
    assert report.headroom_gib == pytest.approx(24 - report.total_bytes / GIB)
    assert "ema" in record.modelled and "saved_activations" in record.measured
    assert record.run.command and record.env.torch == torch.__version__
    single = dataclasses.replace(config, gpus=1, ema=False, batch=2)
    (one,) = measure_memory(("fcdm-s",), single).results
    assert one.ddp_bucket_bytes == 0 and one.ema_bytes == 0


def test_infer_mode_counts_only_the_forward():
    config = MemoryConfig(mode=Mode.INFER, batch=2, cfg=True, resolution=RESOLUTION)
    (report,) = measure_memory(("fcdm-s",), config).results
    assert report.config.rows_per_gpu == 4
    assert report.step.grad_bytes == 0 and report.step.optimizer_bytes == 0
    assert report.total_bytes == report.step.param_bytes + report.step.peak_step


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch": 10, "gpus": 4}, "does not split"),
        ({"mode": Mode.INFER, "grad_checkpointing": True}, "train only"),
        ({"cfg": True}, "infer only"),
        ({"attention": "flash"}, "fused or unfused"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        MemoryConfig(**kwargs)


def test_card_without_memory_figure():
    with pytest.raises(ConfigError, match="no memory figure"):
        measure_memory(("fcdm-s",), MemoryConfig(batch=2, resolution=64, card="l4"))


def test_a_resolution_tag_applies_to_its_own_model_only():
    record = measure_memory(("dit-s-2.64", "fcdm-s"), MemoryConfig(batch=2, resolution=128))
    tagged, plain = record.results
    assert (tagged.config.resolution, plain.config.resolution) == (64, 128)
    assert record.config.resolution == 128 and record.models == ("dit-s-2.64", "fcdm-s")
