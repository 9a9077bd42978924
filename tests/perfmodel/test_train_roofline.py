"""Training-step roofline: the traced backward is the real autograd graph's (its FLOPs follow from
the forward's), checkpointing recomputes exactly the blocks' forward work, optimizer and EMA bytes
follow from the parameter counts, the all-reduce is a ring over the card's link, and the CLI's
``--json`` feeds the report's claims section."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fcdmbench.cli.main import app
from fcdmbench.errors import ConfigError
from fcdmbench.perfmodel.op_trace import PHASES, trace_train_step
from fcdmbench.perfmodel.roofline import roofline_device
from fcdmbench.perfmodel.train_roofline import (
    DDP_COPY_FACTOR,
    allreduce_cost,
    fabric,
    interconnect,
    price_train_step,
    published_speeds,
    run_train_roofline,
)
from fcdmbench.precision import Precision
from fcdmbench.published import TRAINING_SPEEDS
from fcdmbench.records.io import read_record, write_record
from fcdmbench.records.roofline import Kernels, TrainConfig, TrainRooflineRecord
from fcdmbench.registry import create_model, get_spec
from fcdmbench.reporting import claims

DENSE = ("conv", "depthwise", "gemm")
MODELS = ("fcdm-s", "dit-s-2")


@pytest.fixture(scope="module")
def traces():
    """(model, checkpointing) -> a two-row training trace (fp32, fused attention)."""
    return {
        (name, ckpt): trace_train_step(name, 256, 2, grad_checkpointing=ckpt)
        for name in MODELS
        for ckpt in (False, True)
    }


def _macs(trace, phase, kinds=DENSE, modules=None):
    return sum(
        c.macs
        for c in trace.calls
        if c.phase == phase and c.kind in kinds and (modules is None or c.module in modules)
    )


def _layers_without_input_grad(name):
    """Conv/linear modules whose input needs no gradient (it comes from x or t only), found
    by running the real model forward on the CPU with autograd on."""
    model = create_model(name, resolution=256).train()
    found = set()

    def hook(module_name):
        def pre(module, args):
            if not args[0].requires_grad:
                found.add(module_name)

        return pre

    for module_name, module in model.named_modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            module.register_forward_pre_hook(hook(module_name))
    spec = get_spec(name)
    x = torch.randn(1, *spec.input_shape(256))
    model(x, torch.tensor([10]), torch.tensor([3]))
    return found


@pytest.mark.parametrize("name", MODELS)
def test_backward_flops_follow_from_the_forward(traces, name):
    """Each conv/linear computes a weight gradient and, unless its input needs none, an input
    gradient: both cost the forward's MACs (depthwise included: torch's own formula counts a
    grouped conv's weight gradient as dense, fcdmbench's divides by groups)."""
    trace = traces[(name, False)]
    no_input_grad = _layers_without_input_grad(name)
    assert no_input_grad  # the stem / patch embedding at least
    kinds = ("conv", "depthwise", "gemm")
    expected = 2 * _macs(trace, "forward", kinds) - _macs(trace, "forward", kinds, no_input_grad)
    assert _macs(trace, "backward", kinds) == pytest.approx(expected, rel=1e-12)
    if name.startswith("fcdm"):
        assert _macs(trace, "backward", ("depthwise",)) == 2 * _macs(
            trace, "forward", ("depthwise",)
        )
    else:
        # FlashAttention's backward recomputes QK^T and computes dV, dP, dQ, dK: 5 matmuls of
        # the forward's size against the forward's 2 (QK^T, PV)
        forward = _macs(trace, "forward", ("attention",))
        assert forward > 0
        assert _macs(trace, "backward", ("attention",)) == pytest.approx(5 / 2 * forward)
    assert _macs(trace, "recompute", PHASES) == 0  # no checkpointing, nothing recomputed


@pytest.mark.parametrize("name", MODELS)
def test_checkpointing_adds_one_forward_of_the_blocks(traces, name):
    plain, ckpt = traces[(name, False)], traces[(name, True)]
    model = create_model(name, resolution=256, device="meta")
    blocks = model.blocks() if name.startswith("fcdm") else list(model.blocks)
    names = {m: n for n, m in model.named_modules()}
    prefixes = tuple(names[b] + "." for b in blocks)
    in_blocks = {c.module for c in ckpt.calls if (c.module + ".").startswith(prefixes)}
    kinds = (*DENSE, "attention")
    # every dense operator of every block runs once more, inside backward ...
    assert _macs(ckpt, "recompute", kinds) == _macs(ckpt, "forward", kinds, in_blocks) > 0
    assert {c.module.split(".")[0] for c in ckpt.calls if c.phase == "recompute"} <= {
        p.split(".")[0] for p in prefixes
    }
    # ... torch stops recomputing a block once backward has what it saved, so its trailing
    # elementwise work may be left out, never added
    elementwise = ("elementwise",)
    assert _macs(ckpt, "recompute", elementwise) <= _macs(ckpt, "forward", elementwise, in_blocks)
    # forward, backward and the updates are the same with and without checkpointing
    for phase in ("forward", "backward", "optimizer", "ema"):
        assert _macs(ckpt, phase, kinds) == _macs(plain, phase, kinds)
        assert ckpt.bytes_of(phase) == plain.bytes_of(phase)
    assert ckpt.checkpointing != "off" and plain.checkpointing == "off"


@pytest.mark.parametrize("name", MODELS)
def test_optimizer_and_ema_bytes_follow_from_the_parameters(traces, name):
    """AdamW foreach (torch/optim/adam.py _multi_tensor_adam, no weight decay, no amsgrad):
    lerp_(m, g) reads m, g, writes m (3 tensors); mul_(v) 2; addcmul_(v, g, g) 3; sqrt(v) 2;
    div_ 2; add_(eps) 2; addcdiv_(p, m, denom) 4: 18 parameter-sized tensors. The EMA update
    ema.mul_(d).add_(p, 1 - d) moves 2 + 3 = 5."""
    trace = traces[(name, False)]
    model = create_model(name, resolution=256, device="meta")
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert (trace.params, trace.trainable_params) == (params, trainable)
    assert trace.grad_bytes == 4 * trainable
    step_counters = 64  # AdamW's per-tensor step counts: a few scalars
    assert 0 <= trace.bytes_of("optimizer") - 18 * 4 * trainable <= step_counters
    assert trace.bytes_of("ema") == 5 * 4 * params
    assert _macs(trace, "optimizer", PHASES) == _macs(trace, "ema", PHASES) == 0


def _simulated_ring(values):
    """Ring all-reduce (reduce-scatter, then all-gather) of one vector per GPU; returns the
    results and the elements each GPU sent."""
    n = len(values)
    chunks = [np.array_split(v.astype(float), n) for v in values]
    sent = [0] * n
    for step in range(n - 1):  # reduce-scatter: GPU i passes chunk (i - step) on
        outgoing = [chunks[i][(i - step) % n].copy() for i in range(n)]
        for i in range(n):
            chunks[(i + 1) % n][(i - step) % n] += outgoing[i]
            sent[i] += outgoing[i].size
    for step in range(n - 1):  # all-gather: the reduced chunk i + 1 - step travels on
        outgoing = [chunks[i][(i + 1 - step) % n].copy() for i in range(n)]
        for i in range(n):
            chunks[(i + 1) % n][(i + 1 - step) % n] = outgoing[i]
            sent[i] += outgoing[i].size
    return [np.concatenate(c) for c in chunks], sent


@pytest.mark.parametrize("gpus", [2, 4, 8])
def test_one_node_allreduce_sends_what_a_ring_sends(gpus):
    rng = np.random.default_rng(gpus)
    values = [rng.integers(0, 100, 96) for _ in range(gpus)]
    results, sent = _simulated_ring(values)
    assert all(np.array_equal(r, sum(values)) for r in results)
    one_node = allreduce_cost(4.0 * 96, 1, gpus, link_gbs=2.0)
    assert one_node.wire_bytes == pytest.approx(4.0 * max(sent))
    assert one_node.time_s == pytest.approx(one_node.wire_bytes / 2e9)
    assert one_node.algorithm == "ring" and one_node.time_s == one_node.ring_s
    alone = allreduce_cost(1e9, 1, 1, 10.0)
    assert (alone.wire_bytes, alone.time_s) == (0.0, 0.0)


def _simulated_hierarchical(values, nodes, per_node):
    """Hierarchical all-reduce of one vector per GPU (GPU ``k * per_node + j`` is GPU j of node
    k): ring reduce-scatter in each node, ring all-reduce of shard j between the GPUs j of every
    node, ring all-gather in each node. Returns the results and the elements each GPU sent
    inside its node and between nodes."""
    inside, between = [0] * len(values), [0] * len(values)
    shards = {}
    for k in range(nodes):  # reduce-scatter in node k: GPU j ends with shard j summed
        gpus = range(k * per_node, (k + 1) * per_node)
        parts = [np.array_split(values[g].astype(float), per_node) for g in gpus]
        for j, g in enumerate(gpus):
            shards[g] = sum(p[j] for p in parts)
            inside[g] += sum(p.size for i, p in enumerate(parts[j]) if i != j)
    for j in range(per_node):  # the shard's all-reduce between nodes, a ring of GPUs j
        ring = [k * per_node + j for k in range(nodes)]
        reduced, sent = _simulated_ring([shards[g] for g in ring])
        for g, r, n in zip(ring, reduced, sent, strict=True):
            shards[g], between[g] = r, between[g] + n
    results = []
    for k in range(nodes):  # all-gather in node k
        gpus = list(range(k * per_node, (k + 1) * per_node))
        for g in gpus:
            inside[g] += sum(shards[o].size for o in gpus if o != g)
        results += [np.concatenate([shards[o] for o in gpus])] * per_node
    return results, inside, between


@pytest.mark.parametrize(("nodes", "per_node"), [(2, 4), (4, 8), (8, 2)])
def test_hierarchical_allreduce_sends_what_the_algorithm_sends(nodes, per_node):
    """The cost's in-node and between-node parts are the bytes a simulated hierarchical
    all-reduce moves over each link; the bound takes the faster of it and NCCL's ring."""
    n, size = nodes * per_node, 96 * nodes * per_node
    rng = np.random.default_rng(n)
    values = [rng.integers(0, 100, size) for _ in range(n)]
    results, inside, between = _simulated_hierarchical(values, nodes, per_node)
    assert all(np.array_equal(r, sum(values)) for r in results)
    cost = allreduce_cost(4.0 * size, nodes, per_node, link_gbs=2.0, fabric_gbs=0.5)
    assert cost.intra_s == pytest.approx(4.0 * max(inside) / 2e9)
    assert cost.inter_s == pytest.approx(4.0 * max(between) / 0.5e9)
    assert cost.hierarchical_s == max(cost.intra_s, cost.inter_s)
    assert cost.time_s == min(cost.ring_s, cost.hierarchical_s)


def test_a_cluster_is_nodes_joined_by_their_fabric(traces):
    """32 A100s are four DGX nodes joined by InfiniBand (8 x HDR 200 Gb/s each), not one
    32-GPU ring over PCIe. The bound must not price the all-reduce slower than NCCL's ring over
    every GPU at the nodes' fabric (nccl-tests' bus bandwidth: min of NVLink and 8 adapters);
    negative control: the old pricing (a ring of 32 over PCIe at 32 GB/s) does, and its serial
    bound falls below the serial bound of that ring."""
    assert fabric("a100-80gb-sxm")[:2] == ("infiniband", 25.0)  # 200 Gb/s / 8
    assert fabric("h100-sxm")[:2] == ("infiniband", 50.0)  # 400 Gb/s / 8
    with pytest.raises(ConfigError, match="board joins 8"):
        interconnect("a100-80gb-sxm", 32)
    with pytest.raises(ConfigError, match="no inter-node fabric"):
        fabric("rtx-4090")
    trace = traces[("dit-s-2", False)]
    device = roofline_device("a100-80gb-sxm")
    link, network = interconnect("a100-80gb-sxm", 8), fabric("a100-80gb-sxm")
    new = price_train_step(trace, device, Precision.TF32, 8, link, None, 4, network)
    old = price_train_step(trace, device, Precision.TF32, 32, ("pcie", 32.0, "old"))
    ring_busbw = min(link[1], 8 * network[1]) * 1e9  # GB/s -> B/s
    ring_s = 2 * 31 / 32 * trace.grad_bytes / ring_busbw
    serial_with_ring = new.serial_time_s - new.allreduce.time_s + ring_s
    assert new.gpus == old.gpus == 32 and new.global_batch == old.global_batch
    assert new.allreduce.time_s <= ring_s and new.serial_time_s <= serial_with_ring
    assert old.allreduce.time_s > ring_s and old.serial_time_s > serial_with_ring
    assert new.allreduce.nodes == 4 and new.allreduce.gpus_per_node == 8


def test_interconnect_is_the_cards_link():
    assert interconnect("rtx-4090", 4)[:2] == ("pcie", 31.5)  # no NVLink on the 4090
    assert interconnect("h100-sxm", 4)[:2] == ("nvlink", 450.0)  # 900 GB/s both ways
    assert interconnect("h100-pcie", 2)[0] == "nvlink"  # a bridge joins two cards
    assert interconnect("h100-pcie", 4)[0] == "pcie"
    with pytest.raises(ConfigError, match="no interconnect figure"):
        interconnect("l4", 2)


def test_step_time_overlaps_the_allreduce_with_backward(traces):
    trace = traces[("fcdm-s", True)]
    device = roofline_device("rtx-4090")
    fast = price_train_step(trace, device, Precision.TF32, 4, ("nvlink", 1e5, "test"))
    slow = price_train_step(trace, device, Precision.TF32, 4, ("pcie", 0.01, "test"))
    for r in (fast, slow):
        phase = {p.name: p.time_s for p in r.phases}
        backward = phase["backward"] + phase["recompute"]
        rest = sum(phase.values()) - backward
        assert r.time_s == pytest.approx(rest + max(backward, r.allreduce.time_s))
        assert r.serial_time_s == pytest.approx(rest + backward + r.allreduce.time_s)
        assert r.phase("ddp-copies").bytes == DDP_COPY_FACTOR * trace.grad_bytes
    assert fast.allreduce.time_s < fast.phase("backward").time_s  # hidden: steps/s unchanged
    assert fast.time_s < fast.serial_time_s < slow.time_s < slow.serial_time_s
    assert slow.allreduce.time_s > slow.phase("backward").time_s  # the link binds
    single = price_train_step(trace, device, Precision.TF32)
    assert single.allreduce is None and single.phase("ddp-copies") is None
    assert single.global_batch == 2 and fast.global_batch == 8


def test_bf16_trace_recomputes_in_bf16():
    trace = trace_train_step("fcdm-s", 256, 2, autocast="bfloat16", grad_checkpointing=True)
    convs = [c for c in trace.calls if c.kind == "conv" and c.phase in ("forward", "recompute")]
    assert convs and all(c.dtype == "bfloat16" for c in convs)
    assert any(c.kind == "cast" for c in trace.calls if c.phase == "recompute")


def test_handwritten_attention_trains_its_matmuls_in_16_bits():
    """``--attention-kernel unfused`` traces attention written out by hand: under autocast its
    score matmuls (forward and backward) run in bf16 and its softmax in fp32; ``sdpa-math``
    traces SDPA's math path, which upcasts q, k, v (its score matmuls run in fp32)."""
    kernels = {"manual": "unfused", "unfused": "sdpa-math"}
    for attention, kernel in kernels.items():
        config = TrainConfig(("dit-s-2",), kernels=Kernels(kernel), precision=Precision.BF16)
        assert config.attention == attention
    manual = trace_train_step("dit-s-2", 256, 2, autocast="bfloat16", attention="manual")
    math = trace_train_step("dit-s-2", 256, 2, autocast="bfloat16", attention="unfused")
    assert manual.macs == pytest.approx(math.macs, rel=1e-3)  # + the scale's products

    def bmm_dtypes(trace, phase):
        return {c.dtype for c in trace.calls if c.op == "aten.bmm" and c.phase == phase}

    for phase in ("forward", "backward"):
        assert bmm_dtypes(manual, phase) == {"bfloat16"}
    assert "float32" in bmm_dtypes(math, "forward")  # negative control: the upcast math path
    softmax = [c for c in manual.calls if c.op == "aten._softmax"]
    assert softmax and all(c.dtype == "float32" for c in softmax)


def test_cli_train_json_feeds_the_claims_section(tmp_path):
    """FCDM-XL as the paper trained it: the command's record, matched to the published speed,
    is the row the report's claims section prints."""
    out = tmp_path / "train.json"
    args = ["train-roofline", "-m", "fcdm-xl", "--gpu", "rtx-4090", "--gpus", "4"]
    args += ["--batch", "256", "--grad-checkpointing", "--precision", "tf32", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["schema"] == "fcdmbench.roofline-train/2"
    record = read_record(out)
    assert isinstance(record, TrainRooflineRecord)
    (r,) = record.results
    assert (r.gpus, r.rows_per_gpu, r.allreduce.link) == (4, 64, "pcie")
    assert "not a measurement" in record.label and any("ring" in a for a in record.assumptions)
    (published,) = published_speeds(r, record.config.device)
    assert published.steps_per_s == 0.9 and published in TRAINING_SPEEDS
    table = claims.training_speed_table([(published, r)])
    (row,) = table.rows
    expected = ("tf32", "yes", round(r.steps_per_s, 3), 0.9, round(0.9 / r.steps_per_s, 2))
    assert row[1:6] == expected  # FCDM's sources name TF32 (upstream train.py) and bf16
    assert row[-1] == "model" and table.muted == (False,)


def test_cli_train_json_reads_back_byte_for_byte(tmp_path):
    """Written, read, written again: the same bytes. Fails if a float field is written as an
    int (an empty phase's ``0``, ``grad_bytes``), which reads back as ``0.0``."""
    out = tmp_path / "train.json"
    args = ["train-roofline", "-m", "fcdm-s", "--gpus", "8", "--nodes", "2", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (r,) = read_record(out).results
    assert [p.calls for p in r.phases if p.name == "recompute"] == [0]  # an empty phase
    again = write_record(tmp_path / "again.json", read_record(out))
    assert again.read_bytes() == out.read_bytes()


def test_claims_mark_the_precision_each_figure_ran_in():
    """Each published speed is priced in every precision mode; only the mode its sources name
    is marked, the others are greyed out in the HTML report."""
    from fcdmbench.reporting.render import _table_to_html

    dit = [s for s in TRAINING_SPEEDS if s.model == "dit-xl-2" and s.gpus == 8]
    fcdm = TRAINING_SPEEDS[0]
    assert [claims.ran_in(dit[0], p) for p in ("fp32-strict", "paper-default", "tf32")] == [
        False,
        True,
        False,
    ]
    assert [bool(claims.ran_in(fcdm, p)) for p in ("fp32-strict", "tf32", "bf16")] == [
        False,
        True,
        True,
    ]
    fake = [(dit[0], dataclasses.replace(r, precision=p)) for p, r in _fake_results()]
    table = claims.training_speed_table(fake)
    assert [row[2] for row in table.rows] == ["-", "yes", "-"]
    assert table.muted == (True, False, True)
    page = _table_to_html(table)
    assert page.count("<tr class=muted>") == 2 and "tr.muted" not in page


def _fake_results():
    trace = trace_train_step("dit-s-2", 256, 1, ema=False)
    device = roofline_device("a100-80gb-sxm")
    result = price_train_step(trace, device, Precision.TF32)
    return [(p, result) for p in ("fp32-strict", "paper-default", "tf32")]


def test_claims_price_with_the_commands_code():
    small = dataclasses.replace(
        TRAINING_SPEEDS[0], model="fcdm-s", global_batch=8, precision="fp32 or bf16"
    )
    pairs = claims.training_bounds((small,))
    assert [r.precision for _, r in pairs] == ["fp32-strict", "paper-default", "tf32", "bf16"]
    config = TrainConfig(
        models=("fcdm-s",),
        device="rtx-4090",
        precision=Precision.BF16,
        batch=8,
        gpus=4,
        grad_checkpointing=True,
    )
    (command,) = run_train_roofline(config).results
    assert pairs[-1][1].time_s == pytest.approx(command.time_s, rel=1e-12)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--gpus", "3", "--batch", "8"], "does not split"),
        (["--gpu", "l4", "--gpus", "2", "--batch", "8"], "no interconnect"),
        (["--gpu", "cpu", "--gpus", "2", "--batch", "8"], "one process"),
        (["--gpu", "rtx-4090", "--nodes", "2", "--batch", "8"], "inter-node"),
        (["--gpu", "a100", "--gpus", "16", "--batch", "16"], "--nodes N"),
    ],
)
def test_cli_train_refuses_what_it_cannot_model(extra, message):
    result = CliRunner().invoke(app, ["train-roofline", "-m", "fcdm-s", *extra])
    assert result.exit_code == ConfigError.exit_code, result.output
    assert message in result.output


@pytest.mark.parametrize(
    "argv, message",
    [
        (["roofline", "-m", "fcdm-s", "--mode", "train"], "use fcdmbench train-roofline"),
        (["roofline", "-m", "fcdm-s", "--gpus", "2"], "no such option: --gpus"),
        (["train-roofline", "-m", "fcdm-s", "--plot", "x.png"], "no such option: --plot"),
    ],
)
def test_each_roofline_takes_only_its_own_options(argv, message):
    """The inference and the training roofline are two commands: neither takes the other's
    options, and the old spelling ``roofline --mode train`` names the new command."""
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_every_link_figure_has_a_source_and_a_basis():
    import re

    from fcdmbench.devices import get_device, load_devices

    for device in load_devices():
        for column, figure in device.link_figures().items():
            assert figure.source and figure.printed, (device.key, column)
            assert figure.basis in {"bidirectional/2", "per direction", "absent", "Gb/s / 8"}
            if figure.basis == "Gb/s / 8":  # an InfiniBand rate, printed in Gbit/s
                printed = float(re.findall(r"(\d+)\s*Gb/s", figure.printed)[-1])
                assert figure.value == printed / 8 and column == "fabric_gbs", device.key
            if figure.basis == "absent":
                assert figure.value == 0 and column == "nvlink_gbs"
            if figure.basis == "bidirectional/2":  # half of the both-ways figure printed
                printed = float(re.findall(r"(\d+)\s*GB/s", figure.printed)[-1])
                assert figure.value == printed / 2, (device.key, column)
        if device.nvlink_figure is not None and device.nvlink_figure.value:
            assert device.nvlink_gpus and device.nvlink_gpus >= 2
    assert get_device("rtx-4090").nvlink_figure.basis == "absent"  # the 4090 has no NVLink
    assert get_device("h100-sxm").link_figures() and get_device("rtx-4090").pcie_figure


def test_backward_attribution_is_the_module_entered_last():
    """In backward the module tracker holds a block until its inputs' gradients are done, so the
    next block's backward starts beside it: a call belongs to the active module entered last.
    Modules entered together go by name (a parent before its child), never by a set's order,
    which follows Python's string hashing and differs between processes."""
    from fcdmbench.perfmodel.op_trace import _Recorder

    recorder = _Recorder("DiT", state=None, fuse_attention=False)
    assert recorder._module({"Global", "DiT", "DiT.blocks.10"}) == "blocks.10"
    assert recorder._module({"Global", "DiT", "DiT.blocks.10", "DiT.blocks.9"}) == "blocks.9"
    assert recorder._module({"Global", "DiT", "DiT.blocks.9"}) == "blocks.9"
    both = {"Global", "DiT", "DiT.blocks.8", "DiT.blocks.8.mlp"}  # a block and its child at once
    assert recorder._module(both) == "blocks.8.mlp"
    assert recorder._module({"Global", "DiT"}) == ""


def test_cli_train_table_shows_the_phases_and_the_published_setup():
    """The human output: the bound table, the per-phase table, and each published speed of the
    same setup with the precision it was run in and its source."""
    args = ["train-roofline", "-m", "fcdm-xl", "--gpu", "rtx-4090", "--gpus", "4"]
    result = CliRunner().invoke(app, [*args, "--batch", "256", "--grad-checkpointing"])
    assert result.exit_code == 0, result.output
    assert "where the bound's time goes, ms per GPU" in result.stdout
    for phase in ("forward", "backward", "recompute", "optimizer", "all-reduce"):
        assert phase in result.stdout
    (line,) = [s for s in result.stdout.splitlines() if s.startswith("published FCDM-XL")]
    assert "0.9 steps/s" in line and "arXiv 2603.09408" in line
