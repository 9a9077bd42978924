"""Kernel-true pricing of fused regions: each attention / linear-attention kernel keeps the FLOP
counter's FLOPs, runs them on the unit its source says, and moves the bytes its kernels move."""

from __future__ import annotations

import pytest

from fcdmbench.catalog.dig import DIG_S_2
from fcdmbench.errors import ConfigError
from fcdmbench.perfmodel.op_trace import trace_ops
from fcdmbench.perfmodel.roofline import Kernels, predict, roofline_device
from fcdmbench.precision import Precision
from fcdmbench.records.roofline import CpuCalibration

A100 = "a100-80gb-sxm"
BATCH = 4


@pytest.fixture(scope="module")
def traces():
    return {
        (name, autocast): trace_ops(name, 256, BATCH, autocast)
        for name in ("dit-s-2", "dig-s-2")
        for autocast in (None, "bfloat16")
    }


def _cpu_device():
    calibration = CpuCalibration(
        "toy cpu", "cpu-toy", 2, 256, 100.0, (100.0,), 8, 10.0, (10.0,), 0.1, (0, 0, 0), (0, 0, 0),
        "2.13", "2026-01-01",
    )  # fmt: skip
    return roofline_device("cpu", calibration)


def _units(result, kind):
    return {o.unit for o in result.ops if o.kind == kind}


KERNELS = [
    Kernels(a, g)
    for a in ("sdpa", "flash2", "sdpa-math", "unfused")
    for g in ("fla", "fla-tf32", "torch")
]


@pytest.mark.parametrize("kernels", KERNELS, ids=Kernels.describe)
@pytest.mark.parametrize("name", ["dit-s-2", "dig-s-2"])
def test_every_kernel_keeps_the_flops_counters_flops(traces, name, kernels):
    trace = traces[(name, None)]
    result = predict(trace, roofline_device(A100), Precision.PAPER_DEFAULT, kernels)
    assert result.flops == pytest.approx(2 * trace.macs, rel=1e-9)
    assert result.kernels == kernels


def test_regions_keep_their_operators(traces):
    trace = traces[("dig-s-2", None)]
    regions = [c for c in trace.calls if c.kind == "linear-attention"]
    assert len(regions) == DIG_S_2.depth and all(r.members for r in regions)
    for region in regions:
        assert region.macs == pytest.approx(sum(m.macs for m in region.members))
    # the kernels' dense products (closed form) are within what the FLOP counter counted
    closed_form = DIG_S_2.gla_core_macs() * BATCH
    assert closed_form <= sum(r.macs for r in regions) < 1.2 * closed_form


def test_sdpa_math_pricing_equals_an_unfused_trace(traces):
    device = roofline_device(A100)
    fused = predict(traces[("dit-s-2", None)], device, Precision.TF32, Kernels("sdpa-math"))
    traced = predict(trace_ops("dit-s-2", 256, BATCH, attention="unfused"), device, Precision.TF32)
    assert fused.time_s == pytest.approx(traced.time_s, rel=1e-12)


@pytest.mark.parametrize(
    ("autocast", "precision"),
    [(None, Precision.TF32), (None, Precision.FP32_STRICT), ("bfloat16", Precision.BF16)],
)
def test_handwritten_attention_equals_a_trace_of_the_handwritten_code(traces, autocast, precision):
    """The closed form of ``unfused`` is what the trace of ``q @ k^T * scale -> softmax -> @ v``
    (under the autocast replay) runs: the same bytes per kernel kind, the same matmul units."""
    device = roofline_device(A100)
    priced = predict(traces[("dit-s-2", autocast)], device, precision, Kernels("unfused"))
    manual = trace_ops("dit-s-2", 256, BATCH, autocast, attention="manual")
    traced = predict(manual, device, precision, Kernels("sdpa"))
    assert not any(c.kind == "attention" for c in manual.calls)
    for kind in ("gemm", "copy", "cast", "elementwise"):
        mine = sum(o.bytes for o in priced.ops if o.kind == kind)
        assert mine == pytest.approx(sum(o.bytes for o in traced.ops if o.kind == kind))
    assert _units(priced, "gemm") == _units(traced, "gemm")
    assert priced.time_s == pytest.approx(traced.time_s, rel=1e-9)


def test_handwritten_16_bit_attention_is_not_slower_than_tf32(traces):
    """Autocast runs hand-written attention's matmuls on the 16-bit tensor cores, so its bf16
    bound is above its TF32 one. Negative control: priced as SDPA's math path (q, k, v upcast,
    what ``unfused`` priced before), the bf16 bound falls below the TF32 bound."""
    device = roofline_device(A100)
    fp32, low = traces[("dit-s-2", None)], traces[("dit-s-2", "bfloat16")]
    for kernel, holds in (("unfused", True), ("sdpa-math", False)):
        tf32 = predict(fp32, device, Precision.TF32, Kernels(kernel)).img_per_s
        bf16 = predict(low, device, Precision.BF16, Kernels(kernel)).img_per_s
        assert (bf16 >= tf32) is holds, (kernel, tf32, bf16)


def test_sdpa_backend_follows_the_dtype(traces):
    device = roofline_device(A100)
    fp32 = predict(traces[("dit-s-2", None)], device, Precision.FP32_STRICT, Kernels("sdpa"))
    assert _units(fp32, "attention") == {"tf32x3-tc"}  # memory-efficient kernel, 3xTF32
    assert device.units_tflops["tf32x3-tc"] == pytest.approx(156.0 / 3)
    bf16 = predict(traces[("dit-s-2", "bfloat16")], device, Precision.BF16, Kernels("sdpa"))
    assert _units(bf16, "attention") == {"bf16-tc"}  # flash backend


def test_flash2_casts_fp32_in_and_out(traces):
    trace = traces[("dit-s-2", None)]
    device = roofline_device(A100)
    sdpa = predict(trace, device, Precision.PAPER_DEFAULT, Kernels("sdpa"))
    flash = predict(trace, device, Precision.PAPER_DEFAULT, Kernels("flash2"))
    assert _units(flash, "attention") == {"bf16-tc"}
    regions = [c for c in trace.calls if c.kind == "attention"]
    region_bytes = sum(c.bytes for c in regions)
    # fp32 read + 16-bit write, 16-bit kernel traffic, 16-bit read + fp32 write: twice the bytes
    flash_bytes = sum(o.bytes for o in flash.ops if o.kind in ("attention", "cast"))
    sdpa_cast_bytes = sum(o.bytes for o in sdpa.ops if o.kind == "cast")
    assert flash_bytes - sdpa_cast_bytes == pytest.approx(2 * region_bytes)


def test_fla_dots_ieee_or_tf32(traces):
    trace = traces[("dig-s-2", None)]
    device = roofline_device(A100)
    pinned = predict(trace, device, Precision.PAPER_DEFAULT, Kernels(linear_attention="fla"))
    tf32 = predict(trace, device, Precision.PAPER_DEFAULT, Kernels(linear_attention="fla-tf32"))
    assert _units(pinned, "linear-attention") == {"fp32-simt"}  # allow_tf32=False at 36743f3
    assert _units(tf32, "linear-attention") == {"tf32-tc"}
    by_op = {o.op for o in pinned.ops}
    assert {"fla.fwd_inner_chunk", "fla.fused_chunk_gla_fwd_kernel", "fla.contiguous"} <= by_op
    low = predict(traces[("dig-s-2", "bfloat16")], device, Precision.BF16, Kernels())
    assert _units(low, "linear-attention") == {"bf16-tc"}


def test_fused_kernels_move_fewer_bytes_than_the_torch_gla(traces):
    trace = traces[("dig-s-2", None)]
    device = roofline_device(A100)
    fla = predict(trace, device, Precision.PAPER_DEFAULT, Kernels(linear_attention="fla"))
    torch_gla = predict(trace, device, Precision.PAPER_DEFAULT, Kernels(linear_attention="torch"))
    assert sum(o.bytes for o in fla.ops) < sum(o.bytes for o in torch_gla.ops)
    assert fla.img_per_s > torch_gla.img_per_s


def test_gpu_only_kernels_refused_on_a_cpu(traces):
    device = _cpu_device()
    with pytest.raises(ConfigError, match="Triton"):
        predict(traces[("dig-s-2", None)], device, Precision.FP32_STRICT, Kernels())
    with pytest.raises(ConfigError, match="CUDA"):
        predict(traces[("dit-s-2", None)], device, Precision.FP32_STRICT, Kernels("flash2"))
    default = predict(traces[("dig-s-2", None)], device, Precision.FP32_STRICT)
    assert default.kernels == Kernels("sdpa", "torch")
    assert {o.unit for o in default.ops} == {"cpu-fp32"}


def test_unknown_kernel_named():
    trace = trace_ops("dit-s-2", 256, 1)
    with pytest.raises(ConfigError, match="unknown attention kernel"):
        predict(trace, roofline_device(A100), Precision.TF32, Kernels("flash3"))
