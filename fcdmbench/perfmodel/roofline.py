"""Roofline model: a predicted upper bound of images/s for a model on a named device and precision.

Each operator of one meta-device forward (`fcdmbench.perfmodel.op_trace`: FLOPs from the FLOP
counter, unfused bytes at the precision's dtypes) runs on one unit of the device; its time is
``max(FLOPs / unit peak, bytes / memory bandwidth)``; the forward's time is the sum. Everything
here is a model, labelled so: it assumes every kernel reaches its unit's dense peak or the full
memory bandwidth, no launch overhead, no overlap between kernels, no caching between kernels
(each operator reads its inputs from and writes its outputs to device memory), and no fusion
beyond the kernels that really fuse (attention, DiG's linear attention). Real throughput is
lower; the ratio measured / predicted is how close an implementation comes to that bound.

Units per precision mode (PyTorch's flags, `fcdmbench.precision`):

| mode          | matmul (cuBLAS)   | dense conv (cuDNN) | depthwise conv | everything else |
|---------------|-------------------|--------------------|----------------|-----------------|
| fp32-strict   | FP32 SIMT         | FP32 SIMT          | FP32 SIMT      | FP32 SIMT       |
| tf32          | TF32 tensor cores | TF32 TC            | FP32 SIMT      | FP32 SIMT       |
| paper-default | FP32 SIMT         | TF32 TC            | FP32 SIMT      | FP32 SIMT       |
| bf16 / fp16   | BF16/FP16 TC (what autocast casts down), else FP32 SIMT                  |

paper-default is PyTorch's own default (``cuda.matmul.allow_tf32=False``,
``cudnn.allow_tf32=True``). Depthwise convolutions are priced on the SIMT units in every mode
(cuDNN's depthwise kernels do not use tensor cores); elementwise work computes nothing the FLOP
counter counts except norms and products, priced at the FP32 SIMT peak. Attention and DiG's
linear attention are priced as the kernels that run them (`fcdmbench.perfmodel.kernels`: SDPA's
backend per dtype, FlashAttention-2 with its casts, flash-linear-attention's Triton kernels, or
the math path op by op), whatever the flags say. On ``cpu`` every unit is the calibrated fp32
matmul rate and the bandwidth the calibrated copy rate.

`run_roofline` returns the complete record (`fcdmbench.records.RooflineRecord`, schema
``fcdmbench.roofline/2``); the CLI only renders and writes it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable
from pathlib import Path
from typing import Any

from fcdmbench.errors import ConfigError
from fcdmbench.precision import Precision
from fcdmbench.records.roofline import (
    ASSUMPTIONS,
    CpuCalibration,
    Kernels,
    MeasuredThroughput,
    OpTime,
    RooflineConfig,
    RooflineDevice,
    RooflineRecord,
    RooflineResult,
)

__all__ = [
    "ASSUMPTIONS",
    "Kernels",
    "OpTime",
    "RooflineDevice",
    "RooflineRecord",
    "RooflineResult",
    "bound_time",
    "calibrated_device",
    "fastest_unit",
    "kernel_items",
    "predict",
    "read_throughput_points",
    "resolve_kernels",
    "roofline_device",
    "run_roofline",
    "unit_for",
    "with_measured",
]

#: The unit of an fp32 3x3 stride-1 convolution run with Winograd F(2x2, 3x3): 16 multiplies
#: per 2x2 outputs against 36, so the dense FLOPs at 2.25 x the FP32 SIMT peak.
WINOGRAD_UNIT = "fp32-winograd"
WINOGRAD_FACTOR = 36 / 16


def roofline_device(key: str, calibration: CpuCalibration | None = None) -> RooflineDevice:
    """The device table entry `key` as a `RooflineDevice`; ``cpu`` needs a `CpuCalibration`.

    Raises:
        ConfigError: unknown device, or one without a bandwidth or FP32 figure in the table.
    """
    from fcdmbench.devices import get_device

    spec = get_device(key)
    if spec.is_calibrated:
        if calibration is None:
            from fcdmbench.perfmodel.cpu_calibration import calibrate_cpu

            calibration = calibrate_cpu()
        rate = calibration.matmul_gflops / 1000.0
        where = f"measured on this machine ({calibration.cpu_name}, {calibration.threads} threads)"
        return RooflineDevice(
            key=spec.key,
            name=f"CPU {calibration.cpu_name} ({calibration.threads} threads, calibrated)",
            units_tflops={"cpu-fp32": rate},
            bandwidth_gbs=calibration.copy_gbs,
            memory_gib=None,
            sources={"cpu-fp32": f"fp32 matmul, {where}", "bandwidth": f"copy, {where}"},
            calibration=calibration,
        )
    if spec.bandwidth_gbs is None or spec.fp32_figure is None:
        raise ConfigError(
            f"device {spec.key} has no memory-bandwidth figure in the device table",
            hint="add a sourced bandwidth_gbs to fcdmbench/devices.toml, or choose one "
            "of: a100-40gb-sxm, a100-80gb-sxm, h100-sxm, h100-pcie, h200-sxm, rtx-4090, l40s",
        )
    units = {"fp32-simt": spec.fp32_figure.value}
    sources = {"fp32-simt": spec.fp32_figure.source, "bandwidth": spec.bandwidth_figure.source}
    for basis in ("tf32", "bf16", "fp16"):
        figure = getattr(spec, f"{basis}_figure")
        if figure is not None:
            units[f"{basis}-tc"] = figure.value
            sources[f"{basis}-tc"] = f"{figure.source} ({figure.basis})"
    if "tf32-tc" in units:
        units["tf32x3-tc"] = units["tf32-tc"] / 3
        sources["tf32x3-tc"] = (
            "derived: tf32-tc / 3 (3xTF32, CUTLASS OpMultiplyAddFastF32: the fp32 GEMMs of "
            "PyTorch's memory-efficient attention on sm80+)"
        )
    units[WINOGRAD_UNIT] = units["fp32-simt"] * WINOGRAD_FACTOR
    sources[WINOGRAD_UNIT] = (
        "derived: fp32-simt x 2.25 (cuDNN's Winograd F(2x2, 3x3) for fp32 3x3 stride-1 "
        "convolutions: 16 multiplies for 4 outputs instead of 36; Lavin & Gray, arXiv 1509.09308)"
    )
    return RooflineDevice(
        key=spec.key,
        name=spec.name,
        units_tflops=units,
        bandwidth_gbs=spec.bandwidth_gbs,
        memory_gib=spec.memory_gib,
        sources=sources,
    )


def unit_for(kind: str, dtype: str, precision: Precision, is_cpu: bool = False) -> str:
    """The unit an operator of `kind` running in `dtype` uses under `precision`."""
    if is_cpu:
        return "cpu-fp32"
    low = {"bfloat16": "bf16-tc", "float16": "fp16-tc"}
    if kind in ("gemm", "attention", "conv") and dtype in low:
        return low[dtype]
    if kind in ("gemm", "attention"):
        return "tf32-tc" if precision is Precision.TF32 else "fp32-simt"
    if kind == "conv":
        return "tf32-tc" if precision in (Precision.TF32, Precision.PAPER_DEFAULT) else "fp32-simt"
    return "fp32-simt"


def _pattern(module: str) -> str:
    return re.sub(r"(?<=\.)\d+(?=\.|$)|^\d+(?=\.)", "*", module)


def _grouped(ops: Iterable[OpTime], key: Callable[[OpTime], Hashable]) -> tuple[OpTime, ...]:
    """Operators summed by `key` (module shown as its pattern), costliest first."""
    groups: dict[Hashable, list[OpTime]] = defaultdict(list)
    for o in ops:
        groups[key(o)].append(o)
    out = []
    for members in groups.values():
        first = members[0]
        out.append(
            OpTime(
                op=first.op,
                module=_pattern(first.module),
                kind=first.kind,
                unit=first.unit,
                calls=sum(m.calls for m in members),
                flops=sum(m.flops for m in members),
                bytes=sum(m.bytes for m in members),
                compute_s=sum(m.compute_s for m in members),
                memory_s=sum(m.memory_s for m in members),
            )
        )
    return tuple(sorted(out, key=lambda o: -o.time_s))


def resolve_kernels(kernels: Kernels | None, device: RooflineDevice) -> Kernels:
    """`kernels`, or the default for `device`: SDPA, and flash-linear-attention on a GPU
    (fcdmbench's pure-PyTorch GLA on a CPU)."""
    from fcdmbench.perfmodel.kernels import default_linear_attention_kernel

    if kernels is not None:
        return kernels
    is_cpu = "cpu-fp32" in device.units_tflops
    return Kernels(linear_attention=default_linear_attention_kernel(is_cpu))


def _items(call: Any, precision: Precision, kernels: Kernels, units: Collection[str]) -> list:
    """(op, module, kind, unit, flops, bytes) of the kernels that run `call` on a device with
    `units` (members of an unfused region one by one)."""
    from fcdmbench.perfmodel.kernels import region_items

    is_cpu = "cpu-fp32" in units
    if call.kind in ("attention", "linear-attention", "fused-elementwise"):
        kernel = kernels.attention if call.kind == "attention" else kernels.linear_attention
        items = region_items(
            call,
            kernel,
            lambda dtype: unit_for("gemm", dtype, precision, is_cpu),
            lambda unit: unit in units,
            is_cpu,
        )
        if items is not None:
            return [(i.op, call.module, i.kind, i.unit, i.flops, i.bytes) for i in items]
        if call.members:
            return [m for c in call.members for m in _items(c, precision, kernels, units)]
    unit = unit_for(call.kind, call.dtype, precision, is_cpu)
    if call.winograd and call.dtype == "float32" and not is_cpu and unit != WINOGRAD_UNIT:
        unit = f"{unit}|{WINOGRAD_UNIT}"  # cuDNN may pick either: the faster (`fastest_unit`)
    return [(call.op, call.module, call.kind, unit, call.flops, float(call.bytes))]


def fastest_unit(unit: str, units_tflops: dict[str, float]) -> str:
    """`unit`, or of the units ``a|b`` a kernel may run on (the algorithms cuDNN may pick for
    a convolution) the one with the highest peak on the device."""
    if "|" not in unit:
        return unit
    return max(unit.split("|"), key=units_tflops.__getitem__)


def kernel_items(
    trace: Any, precision: Precision, kernels: Kernels, units: Collection[str]
) -> list[tuple[str, str, str, str, float, float]]:
    """Every kernel one forward of `trace` launches under `precision` and `kernels` on a device
    with `units`: (op, module, kind, unit, FLOPs, bytes), in call order. Device-independent
    otherwise, so one list prices many devices (`bound_time`).

    Raises:
        ConfigError: a kernel needs a unit the device lacks.
    """
    items = [item for call in trace.calls for item in _items(call, precision, kernels, units)]
    used = {item[3]: item[0] for item in items}  # unit -> an operator that runs on it
    for unit, op in used.items():
        if any(u not in units for u in unit.split("|")):
            raise ConfigError(
                f"the device has no {unit} figure, needed for {op} under {precision.value}",
                hint="choose a precision the device supports (V100: no TF32/BF16)",
            )
    return items


def bound_time(items: list, device: RooflineDevice) -> tuple[float, float]:
    """(time, memory-bound time) in seconds of `kernel_items` on `device`: the sum of every
    kernel's ``max(FLOPs / unit peak, bytes / bandwidth)``."""
    peaks = {unit: tflops * 1e12 for unit, tflops in device.units_tflops.items()}
    bandwidth = device.bandwidth_gbs * 1e9
    total = memory = 0.0
    for _, _, _, unit, flops, nbytes in items:
        peak = peaks.get(unit)
        if peak is None:  # "a|b": the faster unit on this device
            peak = peaks[unit] = peaks[fastest_unit(unit, peaks)]
        compute, traffic = flops / peak, nbytes / bandwidth
        if traffic > compute:
            memory += traffic
            total += traffic
        else:
            total += compute
    return total, memory


def predict(
    trace: Any, device: RooflineDevice, precision: Precision, kernels: Kernels | None = None
) -> RooflineResult:
    """Price every call of an `OpTrace` on `device` under `precision`, its fused regions as
    `kernels` run them (default: `resolve_kernels`).

    The model's time sums every kernel's ``max(compute, memory)``; its operators are kept summed
    per (operator, module pattern, kind, unit) and per unit (`fcdmbench.records.RooflineResult`).
    """
    kernels = resolve_kernels(kernels, device)
    bandwidth = device.bandwidth_gbs * 1e9
    units = device.units_tflops
    ops = [
        OpTime(
            op=op,
            module=module,
            kind=kind,
            unit=unit,
            calls=1,
            flops=flops,
            bytes=nbytes,
            compute_s=flops / (units[unit] * 1e12),
            memory_s=nbytes / bandwidth,
        )
        for op, module, kind, any_unit, flops, nbytes in kernel_items(
            trace, precision, kernels, units
        )
        for unit in (fastest_unit(any_unit, units),)
    ]
    return RooflineResult(
        model=trace.model,
        display_name=trace.display_name,
        resolution=trace.resolution,
        batch=trace.batch,
        precision=precision.value,
        attention=trace.attention,
        gmacs_per_image=trace.gmacs_per_image,
        time_s=sum((o.time_s for o in ops), 0.0),  # 0.0, not 0, when nothing is traced
        memory_bound_s=sum((o.time_s for o in ops if o.is_memory_bound), 0.0),
        flops=sum((o.flops for o in ops), 0.0),
        ops=_grouped(ops, lambda o: (o.op, _pattern(o.module), o.kind, o.unit)),
        by_unit=_grouped(ops, lambda o: o.unit),
        kernels=kernels,
    )


def read_throughput_points(
    paths: tuple[Path, ...], warn: Callable[[str], None], mode: str = "infer"
) -> list[Any]:
    """Every measured images/s (`fcdmbench.records.ThroughputPoint`) in the throughput records
    under `paths` (files or folders): `mode` (``infer``; ``train`` for the training roofline),
    no CFG, as-published variants only. Other record kinds in a folder are passed over;
    unreadable throughput records are warned about."""

    from fcdmbench.errors import InputError
    from fcdmbench.records.throughput import ThroughputRecord

    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise InputError(
                f"throughput records {path} not found",
                hint="pass record files or folders written by fcdmbench throughput",
            )
        files += sorted(path.rglob("*.json")) if path.is_dir() else [path]
    points = []
    for file in files:
        try:
            obj = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            warn(f"skipped {file}: {exc}")
            continue
        if not isinstance(obj, dict) or not str(obj.get("schema", "")).startswith(
            "fcdmbench.throughput/"
        ):
            continue
        try:
            record = ThroughputRecord.from_json(obj, source=file)
        except InputError as exc:
            warn(f"skipped {file}: {exc.message}")
            continue
        points += [p for p in record.points(source=str(file)) if p.mode == mode and not p.cfg]
    return points


def calibrated_device(
    key: str, calibration: Any, progress: Callable[[str], None]
) -> RooflineDevice:
    """`roofline_device(key)`; on ``cpu`` with the calibration of the roofline record
    `calibration` names, else with one measured now (announced through `progress`)."""
    if calibration is not None:
        from fcdmbench.perfmodel.cpu_calibration import load_calibration

        return roofline_device(key, load_calibration(calibration))
    if key.lower() == "cpu":
        progress("calibrating this CPU (fp32 matmul, copy; a few seconds)")
    return roofline_device(key)


def with_measured(result: Any, points: list[Any], device: RooflineDevice, batch: int) -> Any:
    """`result` (forward or training) with the latest of the measured `points` (by record path)
    of its setup beside it, or itself when there is none. Same setup: the same model, `batch`
    and resolution; on a CPU the same CPU model in any fp32 mode (they are one on a CPU), on a
    GPU the same card and precision."""
    from fcdmbench.devices import find_device_peak

    def same_setup(point: Any) -> bool:
        if (point.model, point.batch, point.resolution) != (result.model, batch, result.resolution):
            return False
        if device.calibration is not None:
            fp32_modes = {"fp32-strict", "tf32", "paper-default"}
            cpu = device.calibration.device_slug
            return point.device_slug == cpu and point.precision in fp32_modes
        entry = find_device_peak(point.device_slug)
        return entry is not None and entry.key == device.key and point.precision == result.precision

    found = [p for p in points if same_setup(p)]
    if not found:
        return result
    latest = max(found, key=lambda p: p.source)
    return dataclasses.replace(result, measured=MeasuredThroughput.from_point(latest))


def run_roofline(
    config: RooflineConfig,
    warn: Callable[[str], None] = lambda message: None,
    progress: Callable[[str], None] = lambda message: None,
) -> RooflineRecord:
    """Trace each model once, price it on the device, attach measured figures where they exist.

    Returns:
        The complete record (run, environment, settings, roofs, one result per model).
    """
    from fcdmbench.env import collect_env
    from fcdmbench.perfmodel.op_trace import trace_ops
    from fcdmbench.records._base import RunInfo

    run = RunInfo.current()
    if config.device.lower() == "cpu" and config.autocast is not None:
        raise ConfigError(
            f"the CPU roofline models fp32 only, not {config.precision.value}",
            hint="use --precision fp32-strict (tf32 and paper-default are the same on a CPU)",
        )
    device = calibrated_device(config.device, config.calibration, progress)
    kernels = resolve_kernels(config.kernels, device)
    points = read_throughput_points(config.records, warn) if config.records else []
    results = []
    for name in config.models:
        progress(f"tracing {name} on the meta device")
        trace = trace_ops(name, config.resolution, config.batch, config.autocast)
        result = predict(trace, device, config.precision, kernels)
        results.append(with_measured(result, points, device, result.batch))
    return RooflineRecord(
        run=run,
        env=collect_env("cpu"),  # the meta device computes nothing; the host ran the trace
        config=dataclasses.replace(config, kernels=kernels),
        device=device,
        results=tuple(results),
    )
