"""Roofline model: per-call FLOPs are the flops counter's, bytes and units follow the precision,
times are max(compute, memory), measured throughput sits beside the bound."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from fcdmbench.errors import ConfigError, InputError
from fcdmbench.flops.counter import count_flops
from fcdmbench.perfmodel.autocast import AUTOCAST_NAMES
from fcdmbench.perfmodel.cpu_calibration import CpuCalibration, calibrate_cpu, load_calibration
from fcdmbench.perfmodel.op_trace import (
    OpCall,
    OpTrace,
    trace_module,
    trace_ops,
    trace_train_step,
)
from fcdmbench.perfmodel.roofline import (
    predict,
    roofline_device,
    run_roofline,
    unit_for,
)
from fcdmbench.precision import Precision
from fcdmbench.records.roofline import RooflineConfig

FIXTURE_RECORD = "tests/fixtures/throughput/cpu-fcdm-s-bs2.json"


class _Toy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(8, 16)
        self.ln = torch.nn.LayerNorm(16)
        self.dw = torch.nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.pw = torch.nn.Conv2d(4, 6, 1)

    def forward(self, x, z):
        return torch.nn.functional.gelu(self.ln(self.lin(x))), self.pw(self.dw(z)).view(-1)


def _toy_trace(autocast=None):
    model = _Toy().to("meta")
    x = torch.empty(4, 8, device="meta")
    z = torch.empty(2, 4, 5, 5, device="meta")
    return trace_module(model, (x, z), autocast)


@pytest.mark.parametrize("name", ["fcdm-s", "dit-s-2", "dico-s"])
@pytest.mark.parametrize("autocast", [None, "bfloat16"])
def test_trace_flops_are_the_flops_commands(name, autocast):
    trace = trace_ops(name, resolution=256, batch=3, autocast=autocast)
    expected = count_flops(name, resolution=256, batch=3).macs
    assert trace.macs == expected
    assert sum(c.macs for c in trace.calls) == pytest.approx(expected, rel=1e-9)


def test_unfused_attention_keeps_the_same_flops_and_writes_the_scores():
    fused = trace_ops("dit-s-2", batch=2)
    unfused = trace_ops("dit-s-2", batch=2, attention="unfused")
    assert fused.macs == unfused.macs
    assert sum(c.kind == "attention" for c in fused.calls) == 12  # one SDPA kernel per block
    assert not any(c.kind == "attention" for c in unfused.calls)
    assert unfused.bytes > fused.bytes  # the (B, H, N, N) scores go through memory


def test_toy_bytes_by_hand():
    calls, macs = _toy_trace()
    by_op = {c.op: c for c in calls}
    addmm = by_op["aten.addmm"]
    assert addmm.bytes_read == 4 * (4 * 8 + 16 * 8 + 16)  # x, W, b in fp32
    assert addmm.bytes_written == 4 * 4 * 16
    assert addmm.macs == 4 * 8 * 16 and addmm.kind == "gemm"
    convs = [c for c in calls if c.op == "aten.convolution"]
    assert [c.kind for c in convs] == ["depthwise", "conv"]
    assert not any(c.op == "aten.view" for c in calls)  # views move no bytes
    assert macs == pytest.approx(sum(c.macs for c in calls))


def test_autocast_replay_casts_what_cuda_autocast_casts():
    calls, _ = _toy_trace("bfloat16")
    by_op = {c.op: c for c in calls if c.kind != "cast"}
    assert by_op["aten.addmm"].dtype == "bfloat16"
    assert by_op["aten.addmm"].bytes_written == 2 * 4 * 16  # bf16 output
    assert by_op["aten.native_layer_norm"].dtype == "float32"  # fp32 list
    assert by_op["aten.gelu"].dtype == "float32"  # not listed: runs in its input's dtype
    assert {c.dtype for c in calls if c.op == "aten.convolution"} == {"bfloat16"}
    casts = [c for c in calls if c.kind == "cast"]
    # x, W, b of the linear; LN input up to fp32; dw input, W, b; pw input (bf16 already), W, b
    assert len(casts) == 3 + 1 + 3 + 2


def test_policy_names_are_autocast_cuda_ops_in_this_torch():
    has = torch._C._dispatch_has_kernel_for_dispatch_key
    for names in AUTOCAST_NAMES.values():
        for name in names:
            assert has(f"aten::{name}", "AutocastCUDA"), name
    for name in ("gelu", "silu", "mul.Tensor", "add.Tensor", "mean", "cat"):  # run as given
        assert not has(f"aten::{name}", "AutocastCUDA"), name


@pytest.mark.parametrize(
    ("kind", "dtype", "precision", "unit"),
    [
        ("gemm", "float32", Precision.PAPER_DEFAULT, "fp32-simt"),
        ("conv", "float32", Precision.PAPER_DEFAULT, "tf32-tc"),
        ("gemm", "float32", Precision.TF32, "tf32-tc"),
        ("conv", "float32", Precision.FP32_STRICT, "fp32-simt"),
        ("depthwise", "float32", Precision.TF32, "fp32-simt"),
        ("attention", "bfloat16", Precision.BF16, "bf16-tc"),
        ("gemm", "float32", Precision.BF16, "fp32-simt"),  # what autocast leaves in fp32
        ("conv", "float16", Precision.FP16, "fp16-tc"),
        ("elementwise", "bfloat16", Precision.BF16, "fp32-simt"),
    ],
)
def test_units(kind, dtype, precision, unit):
    assert unit_for(kind, dtype, precision) == unit
    assert unit_for(kind, dtype, precision, is_cpu=True) == "cpu-fp32"


def _one_call_trace(flops: float, nbytes: int, kind="gemm") -> OpTrace:
    call = OpCall("aten.mm", "", kind, "float32", flops / 2, nbytes, 0, (1,))
    return OpTrace("toy", "Toy", 256, 8, None, "fused", 0, flops / 2, (call,))


def test_time_is_the_larger_of_compute_and_memory():
    device = roofline_device("a100-80gb-sxm")
    compute = predict(_one_call_trace(19.5e12, 1000), device, Precision.FP32_STRICT)
    assert compute.time_s == pytest.approx(1.0)
    assert compute.memory_bound_share == 0.0
    assert compute.img_per_s == pytest.approx(8.0)
    memory = predict(_one_call_trace(1e6, 2_039_000_000_000), device, Precision.FP32_STRICT)
    assert memory.time_s == pytest.approx(1.0) and memory.memory_bound_share == 1.0
    tf32 = predict(_one_call_trace(156e12, 1000), device, Precision.TF32)
    assert tf32.time_s == pytest.approx(1.0)  # the TF32 roof: 156 TFLOP/s


def test_paper_default_prices_dit_matmuls_on_fp32_and_fcdm_convs_on_tf32():
    config = RooflineConfig(
        models=("fcdm-s", "dit-s-2"), device="a100-80gb-sxm", precision=Precision.PAPER_DEFAULT
    )
    record = run_roofline(config)
    fcdm, dit = record.results
    assert {o.unit for o in fcdm.ops if o.kind == "conv"} == {"tf32-tc"}
    assert {o.unit for o in dit.ops if o.kind == "gemm"} == {"fp32-simt"}
    fcdm_tf32, dit_tf32 = run_roofline(
        RooflineConfig(models=("fcdm-s", "dit-s-2"), device="a100-80gb-sxm")
    ).results
    assert dit_tf32.img_per_s > 2 * dit.img_per_s  # TF32 matmuls: DiT speeds up, a lot
    assert fcdm_tf32.img_per_s == pytest.approx(fcdm.img_per_s, rel=0.05)  # FCDM barely moves
    assert 0.0 < fcdm.memory_bound_share < 1.0
    assert fcdm.top_ops(3)[0].time_s >= fcdm.top_ops(3)[1].time_s
    assert record.label.startswith("predicted upper bound")
    assert record.config.precision is Precision.PAPER_DEFAULT and record.run.command
    assert record.to_json()["config"]["precision"] == "paper-default"
    assert record.to_json()["results"][0]["img_per_s"] == fcdm.img_per_s
    # groups: one per (operator, module pattern, kind, unit), costliest first, calls all kept
    assert len({(o.op, o.module, o.kind, o.unit) for o in fcdm.ops}) == len(fcdm.ops)
    assert [o.time_s for o in fcdm.ops] == sorted((o.time_s for o in fcdm.ops), reverse=True)
    trace = trace_ops("fcdm-s", batch=64)
    assert sum(o.calls for o in fcdm.ops) == sum(o.calls for o in fcdm.by_unit) == len(trace.calls)
    assert sum(o.flops for o in fcdm.ops) == pytest.approx(fcdm.flops, rel=1e-12)


def test_unknown_device_and_device_without_bandwidth():
    with pytest.raises(ConfigError, match="unknown device"):
        roofline_device("a100-90gb")
    with pytest.raises(ConfigError, match="bandwidth"):
        roofline_device("v100-sxm2")
    with pytest.raises(ConfigError, match="no tf32-tc"):
        predict(_one_call_trace(1e9, 10), _v100_like(), Precision.TF32)


def _v100_like():
    from fcdmbench.perfmodel.roofline import RooflineDevice

    return RooflineDevice("v", "V", {"fp32-simt": 15.7, "fp16-tc": 125.0}, 900.0, 16, {})


def _calibration(tmp_path, slug="cpu-intel-xeon"):
    calibration = CpuCalibration(
        cpu_name="Intel(R) Xeon(R) Processor",
        device_slug=slug,
        threads=2,
        matmul_n=64,
        matmul_gflops=50.0,
        matmul_gflops_samples=(50.0,),
        copy_mib=8,
        copy_gbs=5.0,
        copy_gbs_samples=(5.0,),
        seconds=0.1,
        loadavg_before=(1.0, 1.0, 1.0),
        loadavg_after=(1.0, 1.0, 1.0),
        torch=torch.__version__,
        created="2026-01-01T00:00:00+00:00",
    )
    return _cpu_record(tmp_path, calibration)


def _cpu_record(tmp_path, calibration):
    """A roofline record of a ``--gpu cpu`` run holding `calibration` (what --calibration reads)."""
    from fcdmbench.env import collect_env
    from fcdmbench.records._base import RunInfo
    from fcdmbench.records.io import write_record
    from fcdmbench.records.roofline import RooflineConfig, RooflineRecord

    settings = RooflineConfig(("fcdm-s",), "cpu", Precision.FP32_STRICT, 2, 256)
    device = roofline_device("cpu", calibration)
    record = RooflineRecord(RunInfo.current(), collect_env("cpu"), settings, device, ())
    return write_record(tmp_path / f"roofline-{calibration.device_slug}.json", record)


def test_measured_beside_predicted_on_cpu(tmp_path):
    config = RooflineConfig(
        models=("fcdm-s",),
        device="cpu",
        precision=Precision.PAPER_DEFAULT,
        batch=2,
        records=(FIXTURE_RECORD,),
        calibration=_calibration(tmp_path),
    )
    record = run_roofline(config)
    (report,), device = record.results, record.device
    assert device.units_tflops == {"cpu-fp32": 0.05} and device.bandwidth_gbs == 5.0
    assert record.config.calibration == str(config.calibration)
    measured = json.loads(open(FIXTURE_RECORD).read())["results"][0]["img_per_s"]["median"]
    assert report.measured.img_per_s == pytest.approx(measured)
    assert report.measured_over_predicted == pytest.approx(measured / report.img_per_s)
    # another CPU model, or another batch, is not this measurement
    other = RooflineConfig(**{**_asdict(config), "calibration": _calibration(tmp_path, "cpu-amd")})
    assert run_roofline(other).results[0].measured is None
    batch4 = RooflineConfig(**{**_asdict(config), "batch": 4})
    assert run_roofline(batch4).results[0].measured is None


def _asdict(config):
    import dataclasses

    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def test_cpu_roofline_is_fp32_only(tmp_path):
    config = RooflineConfig(
        models=("fcdm-s",),
        device="cpu",
        precision=Precision.BF16,
        calibration=_calibration(tmp_path),
    )
    with pytest.raises(ConfigError, match="fp32 only"):
        run_roofline(config)


def test_calibration_measures_and_reads_back(tmp_path):
    calibration = calibrate_cpu(matmul_n=64, copy_mib=4, blocks=2, min_block_s=0.01)
    assert calibration.matmul_gflops > 0 and calibration.copy_gbs > 0
    assert calibration.matmul_gflops == max(calibration.matmul_gflops_samples)
    assert load_calibration(_cpu_record(tmp_path, calibration)) == calibration
    flops = "tests/fixtures/records_v1/flops-fcdm-s-bs4.json"
    with pytest.raises(InputError, match="is a flops record") as info:
        load_calibration(flops)
    assert "--gpu cpu --json" in info.value.hint
    from dataclasses import replace

    from fcdmbench.records.io import read_record, write_record

    cpu = read_record(_cpu_record(tmp_path, calibration))
    gpu = write_record(tmp_path / "gpu.json", replace(cpu, device=roofline_device("a100-80gb-sxm")))
    with pytest.raises(InputError, match="holds no CPU calibration"):
        load_calibration(gpu)
    with pytest.raises(InputError, match="not found"):
        load_calibration(tmp_path / "missing.json")


def _conv_calls(model, inputs):
    calls, _ = trace_module(model, inputs)
    return [c for c in calls if c.op == "aten.convolution"]


def test_winograd_marks_the_shapes_cudnn_runs_with_winograd():
    """Dense 3x3, stride-1, undilated convolutions (forward and backward) are marked; strided,
    dilated, 1x1, grouped and transposed ones are not."""
    nn = torch.nn
    layers = [
        nn.Conv2d(8, 8, 3, padding=1),  # Winograd
        nn.Conv2d(8, 8, 3, stride=2, padding=1),
        nn.Conv2d(8, 8, 3, padding=2, dilation=2),
        nn.Conv2d(8, 8, 1),
        nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise
        nn.ConvTranspose2d(8, 8, 3, padding=1),
    ]
    x = torch.empty(2, 8, 16, 16, device="meta")
    flags = []
    for layer in layers:
        (call,) = _conv_calls(layer.to("meta"), (x,))
        flags.append(call.winograd)
    assert flags == [True, False, False, False, False, False]
    step = trace_train_step("dic-s", 256, 1, ema=False)
    backward = [c for c in step.calls if c.op == "aten.convolution_backward" and c.kind == "conv"]
    forward = [c for c in step.calls if c.op == "aten.convolution" and c.kind == "conv"]
    assert backward and sum(c.winograd for c in backward) == sum(c.winograd for c in forward) > 0


def test_fp32_3x3_convolutions_are_priced_at_the_fastest_algorithm():
    """A bound must stay a bound: an fp32 3x3 stride-1 convolution costs no more than cuDNN's
    Winograd F(2x2, 3x3) (2.25x fewer multiplies) would take, and no more than TF32 implicit
    GEMM where TF32 is on and faster. The unit says which. Negative control: the old pricing
    (dense FLOPs on the mode's unit, the calls unmarked) takes longer than Winograd would."""
    trace = trace_ops("dic-s", 256, 4)
    eligible = tuple(c for c in trace.calls if c.winograd)
    assert eligible and all(c.kind == "conv" for c in eligible)
    only = dataclasses.replace(trace, calls=eligible)
    old = dataclasses.replace(
        trace, calls=tuple(dataclasses.replace(c, winograd=False) for c in eligible)
    )
    cases = [
        ("a100-80gb-sxm", Precision.FP32_STRICT, "fp32-winograd"),
        ("a100-80gb-sxm", Precision.TF32, "tf32-tc"),  # 156 TFLOP/s > 2.25 x 19.5
        ("rtx-4090", Precision.TF32, "fp32-winograd"),  # a GeForce's TF32 = its FP32 rate
    ]
    for key, precision, unit in cases:
        device = roofline_device(key)
        peak = device.units_tflops
        assert peak["fp32-winograd"] == pytest.approx(2.25 * peak["fp32-simt"])
        winograd_s = sum(c.flops for c in eligible) / (peak["fp32-winograd"] * 1e12)
        new, dense = predict(only, device, precision), predict(old, device, precision)
        assert {o.unit for o in new.ops} == {unit}, key
        assert new.flops == dense.flops == pytest.approx(sum(c.flops for c in eligible))
        compute = sum(o.compute_s for o in new.ops)
        assert compute <= winograd_s * (1 + 1e-12)
        if unit == "fp32-winograd":
            assert compute == pytest.approx(winograd_s)
            assert sum(o.compute_s for o in dense.ops) > winograd_s  # the old pricing fails
