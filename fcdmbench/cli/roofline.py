"""`fcdmbench roofline`: a predicted upper bound of images/s on a named GPU, per operator.

The training step has its own command, `fcdmbench train-roofline` (`cli.train_roofline`); the
options, input checks and tables both share live here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fcdmbench.cli.options import GpuKey, Models, RecordJson, Resolution
from fcdmbench.cli.output import Column, emit_record, fmt, left, show_table, stderr, stdout
from fcdmbench.precision import Precision

AttentionKernel = Annotated[
    str,
    typer.Option(
        "--attention-kernel",
        help="sdpa: PyTorch SDPA's backend per dtype (fp32: memory-efficient, 3xTF32); flash2: "
        "FlashAttention-2 (16-bit, fp32 inputs cast in and out); sdpa-math: SDPA's math path op "
        "by op (upcasts 16-bit inputs to fp32); unfused: q @ k^T -> softmax -> @ v written by "
        "hand (autocast: 16-bit matmuls) (docs/perfmodel.md).",
    ),
]
LinearAttentionKernel = Annotated[
    str | None,
    typer.Option(
        "--linear-attention-kernel",
        help="DiG's GLA: fla (flash-linear-attention @ 36743f3, DiG's pin), fla-tf32 (its dots "
        "on TF32), torch (op by op) [default: fla; torch on cpu].",
    ),
]
PrecisionOption = Annotated[
    Precision,
    typer.Option(help="Which units and dtypes (paper-default: convs TF32, matmuls FP32)."),
]
Records = Annotated[
    list[Path] | None,
    typer.Option(
        "--records",
        metavar="PATH",
        help="Throughput records (files or folders) for measured beside predicted "
        "[default: reports/throughput when it exists].",
    ),
]
Calibration = Annotated[
    Path | None,
    typer.Option(
        metavar="JSON",
        help="--gpu cpu: reuse the calibration in a roofline JSON written before "
        "(default: measure now, a few seconds).",
    ),
]
Top = Annotated[int, typer.Option(min=0, help="Operator groups listed per model.")]
InferJson = RecordJson("roofline/2")
Plot = Annotated[
    Path | None, typer.Option(metavar="PNG", help="Write the roofline figure (.png or .svg).")
]
ListDevices = Annotated[
    bool, typer.Option("--list-devices", help="Print the device table with sources and exit.")
]


def register(app: typer.Typer) -> None:
    app.command("roofline")(roofline_command)


def roofline_command(
    models: Models = None,
    gpu: GpuKey = "a100-80gb-sxm",
    precision: PrecisionOption = Precision.TF32,
    batch: Annotated[int, typer.Option("--batch", "-b", min=1, help="Images per forward.")] = 64,
    resolution: Resolution = 256,
    attention_kernel: AttentionKernel = "sdpa",
    linear_attention_kernel: LinearAttentionKernel = None,
    records: Records = None,
    calibration: Calibration = None,
    top: Top = 8,
    json_path: InferJson = None,
    plot: Plot = None,
    list_devices: ListDevices = False,
) -> None:
    """Predict an upper bound of images/s (a model, not measured).

    Per operator of one meta-device forward: FLOPs (those of fcdmbench flops), unfused bytes,
    unit, max(compute, memory) time on the device; summed into a bound with its memory-bound
    share and top operators. The training step: fcdmbench train-roofline.

    Example: fcdmbench roofline --models fcdm-xl dit-xl-2 --gpu a100-80gb-sxm --precision tf32
    """
    if list_devices:
        _print_devices()
        return
    from fcdmbench.perfmodel.roofline import run_roofline
    from fcdmbench.records.roofline import RooflineConfig

    records = default_records(records)
    kernels = (attention_kernel, linear_attention_kernel)
    pf, selected, _ = preflight(models, gpu, precision, resolution, kernels, records, calibration)
    check_outputs(pf, json_path, plot)
    config = RooflineConfig(
        models=tuple(selected),
        device=gpu,
        precision=precision,
        batch=batch,
        resolution=resolution,
        kernels=resolve_kernels(gpu, *kernels),
        records=tuple(records),
        calibration=calibration,
    )
    record = run_roofline(config, warn=warn, progress=progress)
    if plot is not None:
        from fcdmbench.reporting.figures.roofline_plot import plot_roofline

        plot_roofline(record, plot)
        stderr.print(f"wrote {plot}")
    if emit_record(record, json_path):
        return
    _print(record, top)


def warn(message: str) -> None:
    stderr.print(f"warning: {message}")


def progress(message: str) -> None:
    stderr.print(message, style="dim")


def default_records(records: list[Path] | None) -> list[Path]:
    """``--records``, or reports/throughput when it exists."""
    if records is not None:
        return records
    default = Path("reports/throughput")
    return [default] if default.is_dir() else []


def resolve_kernels(gpu: str, attention: str, linear: str | None):
    from fcdmbench.perfmodel.kernels import default_linear_attention_kernel
    from fcdmbench.records.roofline import Kernels

    linear = linear or default_linear_attention_kernel(gpu.lower() == "cpu")
    return Kernels(attention=attention, linear_attention=linear)


def check_outputs(pf, json_path, plot) -> None:
    """The outputs' problems join the others in `pf`; then every problem is reported at once."""
    from fcdmbench.preflight import check_record_outputs

    check_record_outputs(pf, json_path, plot)
    pf.raise_all()


def preflight(models, gpu, precision, resolution, kernels, records, calibration):
    """The problems of the options both rooflines share, collected (nothing raised yet: the
    command adds its own and calls ``raise_all``). Returns (preflight, models, device)."""
    from fcdmbench.cli.selection import select_models
    from fcdmbench.devices import get_device
    from fcdmbench.errors import ConfigError, InputError
    from fcdmbench.perfmodel.cpu_calibration import load_calibration
    from fcdmbench.perfmodel.roofline import roofline_device
    from fcdmbench.preflight import Preflight, check_input_file
    from fcdmbench.registry import require_models

    pf = Preflight()
    selected = pf.check(select_models, models or [])
    if selected is not None:
        pf.check(require_models, selected)
    device = pf.check(get_device, gpu)
    if device is not None and not device.is_calibrated:
        pf.check(roofline_device, device.key)  # a bandwidth figure must exist
    if device is not None and device.is_calibrated and precision.autocast_dtype() is not None:
        pf.add(
            ConfigError(
                f"the CPU roofline models fp32 only, not {precision.value}",
                hint="use --precision fp32-strict (tf32 and paper-default are the same on a CPU)",
            )
        )
    if resolution % 8:
        pf.add(ConfigError(f"--resolution must be a multiple of 8, got {resolution}"))
    _check_kernels(pf, device, *kernels)
    if calibration is not None:
        hint = "write one with: fcdmbench roofline --gpu cpu --json PATH"
        if pf.check(check_input_file, calibration, "calibration file", hint) is not None:
            pf.check(load_calibration, calibration)
    for path in records:
        if not Path(path).exists():
            hint = "pass record files or folders written by fcdmbench throughput"
            pf.add(InputError(f"throughput records {path} not found", hint=hint))
    return pf, selected, device


def _check_kernels(pf, device, attention: str, linear: str | None) -> None:
    from fcdmbench.errors import ConfigError
    from fcdmbench.perfmodel.kernels import ATTENTION_KERNELS, LINEAR_ATTENTION_KERNELS

    if attention not in ATTENTION_KERNELS:
        pf.add(
            ConfigError(
                f"--attention-kernel must be one of {list(ATTENTION_KERNELS)}, got {attention!r}"
            )
        )
    if linear is not None and linear not in LINEAR_ATTENTION_KERNELS:
        pf.add(
            ConfigError(
                "--linear-attention-kernel must be one of "
                f"{list(LINEAR_ATTENTION_KERNELS)}, got {linear!r}"
            )
        )
    elif device is not None and device.is_calibrated:
        if attention == "flash2" or (linear or "torch") != "torch":
            pf.add(
                ConfigError(
                    "FlashAttention-2 and flash-linear-attention run on CUDA GPUs only",
                    hint="on --gpu cpu use --attention-kernel sdpa|sdpa-math|unfused and "
                    "--linear-attention-kernel torch",
                )
            )


def print_device(record) -> None:
    """The record's label, the device's figures and, on a CPU, its calibration."""
    device, config = record.device, record.config
    stdout.print(f"[bold]{record.label}[/]")
    stdout.print(
        f"device: {device.name}; bandwidth {device.bandwidth_gbs:,.1f} GB/s; units (dense "
        "TFLOP/s): " + ", ".join(f"{u} {v:.4g}" for u, v in device.units_tflops.items())
    )
    if device.calibration is not None:
        cal = device.calibration
        when = (
            "calibrated now"
            if config.calibration is None
            else (f"calibration of {cal.created} reused from {config.calibration}")
        )
        stdout.print(
            f"{when}: fp32 matmul {cal.matmul_gflops:.1f} GFLOP/s (n={cal.matmul_n}, best "
            f"of {len(cal.matmul_gflops_samples)}), copy {cal.copy_gbs:.2f} GB/s "
            f"({cal.copy_mib} MiB), {cal.threads} threads, load average "
            f"{cal.loadavg_before[0]:.2f} -> {cal.loadavg_after[0]:.2f}"
        )
        if config.precision is not Precision.FP32_STRICT:
            stdout.print(f"on a CPU {config.precision.value} runs in plain fp32")


def _print(record, top: int) -> None:
    reports, config = record.results, record.config
    print_device(record)
    kernels = config.kernels.describe() if config.kernels else "not recorded"
    title = f"{config.precision.value}, batch {config.batch}, {config.resolution} px"
    title += f"; kernels: {kernels}"
    columns = [
        left("model", lambda r: r.display_name),
        Column("GMACs/img", lambda r: f"{r.gmacs_per_image:.2f}"),
        Column("bound img/s", lambda r: f"{r.img_per_s:,.1f}"),
        Column("ms/forward", lambda r: f"{r.ms_per_forward:.2f}"),
        Column("TFLOP/s at bound", lambda r: f"{r.tflops_at_bound:.3g}"),
        Column("memory-bound", lambda r: f"{r.memory_bound_share:.0%}"),
        Column("measured img/s", lambda r: fmt(r.measured.img_per_s if r.measured else None, 2)),
        Column("measured / bound", lambda r: fmt(r.measured_over_predicted, 2)),
    ]
    show_table(columns, reports, title)
    if len(reports) > 1 and reports[-1].img_per_s:
        ref = reports[-1]
        ratios = ", ".join(f"{r.display_name} {r.img_per_s / ref.img_per_s:.2f}x" for r in reports)
        stdout.print(f"bound ratios vs {ref.display_name}: {ratios}")
    for r in reports:
        if top:
            print_ops(f"{r.display_name}: top operators (block indices folded to *)", r, top)
    for r in reports:
        if r.measured:
            stdout.print(f"measured {r.display_name}: {r.measured.source}")
    stdout.print("assumptions: " + "; ".join(record.assumptions) + ".")


def print_ops(title: str, result, top: int) -> None:
    """The `top` costliest operator groups of a result (`time_s` is its whole time)."""
    columns = [
        left("operator", lambda o: o.op.removeprefix("aten.")),
        left("module", lambda o: o.module or "(root)"),
        left("unit", lambda o: o.unit),
        Column("calls", lambda o: str(o.calls)),
        Column("GFLOP", lambda o: f"{o.flops / 1e9:.1f}"),
        Column("MB", lambda o: f"{o.bytes / 1e6:.0f}"),
        Column("FLOP/B", lambda o: f"{o.intensity:.1f}"),
        Column("ms", lambda o: f"{o.time_s * 1e3:.2f}"),
        Column("share", lambda o: f"{o.time_s / result.time_s:.1%}"),
        left("bound", lambda o: o.bound),
    ]
    show_table(columns, result.ops[:top], title)


def _link(figure) -> str:
    if figure and not figure.value:
        return "none"
    return fmt(figure and figure.value, 1)


def _print_devices() -> None:
    from fcdmbench.devices import load_devices

    columns = [
        left("key", lambda d: d.key),
        left("name", lambda d: d.name),
        *(left(c, lambda d, c=c: fmt(d.peak(c), 1)) for c in ("fp32", "tf32", "bf16", "fp16")),
        left("GiB", lambda d: fmt(d.memory_gib, 0)),
        left("GB/s", lambda d: fmt(d.bandwidth_gbs, 0)),
        left("NVLink GB/s/dir", lambda d: _link(d.nvlink_figure)),
        left("PCIe GB/s/dir", lambda d: fmt(d.pcie_figure and d.pcie_figure.value, 1)),
        left("fabric GB/s/dir/GPU", lambda d: fmt(d.fabric_figure and d.fabric_figure.value, 1)),
        left("source", lambda d: d.source),
        left("checked", lambda d: d.checked),
    ]
    title = "device table (fcdmbench/devices.toml); TFLOP/s dense"
    show_table(columns, load_devices(), title)
