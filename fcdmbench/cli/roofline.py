"""`fcdmbench roofline`: a predicted upper bound of images/s on a named GPU, per operator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fcdmbench.cli.output import emit_record, fmt, print_table, stderr, stdout
from fcdmbench.profiling.precision import Precision


def register(app: typer.Typer) -> None:
    app.command("roofline")(roofline_command)


def roofline_command(
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--models", "-m", help="Models: --models fcdm-xl dit-xl-2; commas, wildcards work."
        ),
    ] = None,
    gpu: Annotated[
        str,
        typer.Option(
            "--gpu",
            "--device",
            help="Device table key (a100-40gb-sxm, a100-80gb-sxm, h100-sxm, h100-pcie, h200-sxm, "
            "rtx-4090, l40s; --list-devices) or 'cpu' (calibrated on this machine).",
        ),
    ] = "a100-80gb-sxm",
    precision: Annotated[
        Precision,
        typer.Option(help="Which units and dtypes (paper-default: convs TF32, matmuls FP32)."),
    ] = Precision.TF32,
    batch: Annotated[int, typer.Option("--batch", "-b", min=1, help="Images per forward.")] = 64,
    resolution: Annotated[
        int, typer.Option("--resolution", "-r", min=8, help="Image side in pixels.")
    ] = 256,
    attention: Annotated[
        str, typer.Option(help="fused: SDPA as one kernel; unfused: its math path op by op.")
    ] = "fused",
    records: Annotated[
        list[Path] | None,
        typer.Option(
            "--records",
            metavar="PATH",
            help="Throughput records (files or folders) for measured beside predicted "
            "[default: reports/throughput when it exists].",
        ),
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(
            metavar="JSON",
            help="--gpu cpu: reuse the calibration in a roofline JSON written before "
            "(default: measure now, a few seconds).",
        ),
    ] = None,
    top: Annotated[int, typer.Option(min=0, help="Operator groups listed per model.")] = 8,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json", metavar="PATH", help="Write a fcdmbench.roofline/2 record ('-': stdout)."
        ),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(metavar="PNG", help="Write the roofline figure (.png or .svg).")
    ] = None,
    list_devices: Annotated[
        bool, typer.Option("--list-devices", help="Print the device table with sources and exit.")
    ] = False,
) -> None:
    """Predict an upper bound of images/s (a model, not measured).

    Per operator of one meta-device forward: FLOPs (those of fcdmbench flops), unfused bytes,
    unit, max(compute, memory) time on the device; summed into a bound with its memory-bound
    share and top operators.

    Example: fcdmbench roofline --models fcdm-xl dit-xl-2 --gpu a100-80gb-sxm --precision tf32
    """
    if list_devices:
        _print_devices()
        return
    from fcdmbench.profiling.roofline import RooflineConfig, run_roofline

    if records is None:
        default = Path("reports/throughput")
        records = [default] if default.is_dir() else []
    selected = _preflight(
        models, gpu, precision, resolution, attention, records, calibration, json_path, plot
    )
    config = RooflineConfig(
        models=tuple(selected),
        device=gpu,
        precision=precision,
        batch=batch,
        resolution=resolution,
        attention=attention,
        records=tuple(records),
        calibration=calibration,
    )
    record = run_roofline(
        config,
        warn=lambda m: stderr.print(f"warning: {m}"),
        progress=lambda m: stderr.print(m, style="dim"),
    )
    if plot is not None:
        from fcdmbench.reporting.roofline_plot import plot_roofline

        plot_roofline(record, plot)
        stderr.print(f"wrote {plot}")
    if emit_record(record, json_path):
        return
    _print(record, top)


def _preflight(models, gpu, precision, resolution, attention, records, calibration, *outputs):
    """Every problem with the command line at once, before anything is traced or measured
    (creates nothing). Returns the selected model names."""
    from fcdmbench.cli.selection import select_models
    from fcdmbench.errors import ConfigError, InputError
    from fcdmbench.files import check_output
    from fcdmbench.preflight import Preflight, check_input_file
    from fcdmbench.profiling.cpu_calibration import load_calibration
    from fcdmbench.profiling.devices import get_device
    from fcdmbench.profiling.op_trace import ATTENTION_MODES
    from fcdmbench.profiling.roofline import roofline_device
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
    if attention not in ATTENTION_MODES:
        pf.add(ConfigError(f"--attention must be one of {ATTENTION_MODES}, got {attention!r}"))
    if calibration is not None:
        hint = "write one with: fcdmbench roofline --gpu cpu --json PATH"
        if pf.check(check_input_file, calibration, "calibration file", hint) is not None:
            pf.check(load_calibration, calibration)
    for path in records:
        if not Path(path).exists():
            pf.add(
                InputError(
                    f"throughput records {path} not found",
                    hint="pass record files or folders written by fcdmbench throughput",
                )
            )
    json_path, plot = outputs
    if json_path is not None and str(json_path) != "-":
        pf.check(check_output, json_path)
    if plot is not None:
        if Path(plot).suffix.lower() not in (".png", ".svg", ".pdf"):
            pf.add(ConfigError(f"--plot {plot}: use a .png, .svg or .pdf name"))
        pf.check(check_output, plot)
    pf.raise_all()
    return selected


def _print(record, top: int) -> None:
    from rich.table import Table

    device, reports, config = record.device, record.results, record.config
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
        if config.precision != Precision.FP32_STRICT.value:
            stdout.print(f"on a CPU {config.precision} runs in plain fp32")
    table = Table(title=f"{config.precision}, batch {config.batch}, {config.resolution} px")
    for header in (
        "model",
        "GMACs/img",
        "bound img/s",
        "ms/forward",
        "TFLOP/s at bound",
        "memory-bound",
        "measured img/s",
        "measured / bound",
    ):
        table.add_column(header, justify="left" if header == "model" else "right")
    for r in reports:
        measured = r.measured.img_per_s if r.measured else None
        ratio = r.measured_over_predicted
        table.add_row(
            r.display_name,
            f"{r.gmacs_per_image:.2f}",
            f"{r.img_per_s:,.1f}",
            f"{r.ms_per_forward:.2f}",
            f"{r.tflops_at_bound:.3g}",
            f"{r.memory_bound_share:.0%}",
            fmt(measured, 2),
            f"{ratio:.2f}" if ratio is not None else "—",
        )
    print_table(table)
    if len(reports) > 1 and reports[-1].img_per_s:
        ref = reports[-1]
        stdout.print(
            "bound ratios vs "
            + ref.display_name
            + ": "
            + ", ".join(f"{r.display_name} {r.img_per_s / ref.img_per_s:.2f}x" for r in reports)
        )
    for r in reports:
        if not top:
            break
        ops = Table(title=f"{r.display_name}: top operators (block indices folded to *)")
        for header in (
            "operator",
            "module",
            "unit",
            "calls",
            "GFLOP",
            "MB",
            "FLOP/B",
            "ms",
            "share",
            "bound",
        ):
            ops.add_column(
                header,
                justify="left" if header in ("operator", "module", "unit", "bound") else "right",
            )
        for o in r.top_ops(top):
            ops.add_row(
                o.op.removeprefix("aten."),
                o.module or "(root)",
                o.unit,
                str(o.calls),
                f"{o.flops / 1e9:.1f}",
                f"{o.bytes / 1e6:.0f}",
                f"{o.intensity:.1f}",
                f"{o.time_s * 1e3:.2f}",
                f"{o.time_s / r.time_s:.1%}",
                o.bound,
            )
        print_table(ops)
    for r in reports:
        if r.measured:
            stdout.print(f"measured {r.display_name}: {r.measured.source}")
    stdout.print("assumptions: " + "; ".join(record.assumptions) + ".")


def _print_devices() -> None:
    from rich.table import Table

    from fcdmbench.profiling.devices import load_devices

    table = Table(title="device table (fcdmbench/profiling/devices.toml); TFLOP/s dense")
    for header in (
        "key",
        "name",
        "fp32",
        "tf32",
        "bf16",
        "fp16",
        "GiB",
        "GB/s",
        "source",
        "checked",
    ):
        table.add_column(header)
    for d in load_devices():
        table.add_row(
            d.key,
            d.name,
            *(fmt(d.peak(c), 1) for c in ("fp32", "tf32", "bf16", "fp16")),
            fmt(d.memory_gib, 0),
            fmt(d.bandwidth_gbs, 0),
            d.source,
            d.checked,
        )
    print_table(table)
