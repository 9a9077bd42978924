"""`fcdmbench roofline`: a predicted upper bound of images/s on a named GPU, per operator; with
``--mode train`` of optimizer steps/s of a data-parallel training step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from fcdmbench.cli.output import emit_record, fmt, print_table, stderr, stdout
from fcdmbench.precision import Precision
from fcdmbench.throughput.workloads import Mode

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
    batch: Annotated[
        int | None,
        typer.Option(
            "--batch",
            "-b",
            min=1,
            help="Images per forward (infer; default 64) or the global batch (train; 256).",
        ),
    ] = None,
    resolution: Annotated[
        int, typer.Option("--resolution", "-r", min=8, help="Image side in pixels.")
    ] = 256,
    attention_kernel: AttentionKernel = "sdpa",
    linear_attention_kernel: LinearAttentionKernel = None,
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
    mode: Annotated[Mode, typer.Option(help="infer: images/s; train: steps/s (DDP).")] = Mode.INFER,
    gpus: Annotated[
        int, typer.Option(min=1, help="train: GPUs per node sharing --batch (DGX/HGX: up to 8).")
    ] = 1,
    nodes: Annotated[
        int,
        typer.Option(
            min=1,
            help="train: nodes of --gpus GPUs each; the all-reduce crosses the DGX system's "
            "inter-node fabric (A100: 8x HDR 200 Gb/s; H100/H200: 8x NDR 400 Gb/s).",
        ),
    ] = 1,
    grad_checkpointing: Annotated[
        bool, typer.Option("--grad-checkpointing", help="train: checkpoint every block.")
    ] = False,
    ema: Annotated[bool, typer.Option("--ema/--no-ema", help="train: price the EMA.")] = True,
) -> None:
    """Predict an upper bound of images/s (a model, not measured).

    Per operator of one meta-device forward: FLOPs (those of fcdmbench flops), unfused bytes,
    unit, max(compute, memory) time on the device; summed into a bound with its memory-bound
    share and top operators.

    Example: fcdmbench roofline --models fcdm-xl dit-xl-2 --gpu a100-80gb-sxm --precision tf32

    --mode train: the bound of optimizer steps/s of one data-parallel training step (forward,
    backward with checkpointing's recomputation, AdamW, EMA, DDP copies, the gradient
    all-reduce over NVLink or PCIe, and between --nodes over InfiniBand); --batch is then the
    global batch.

    Training: fcdmbench roofline -m fcdm-xl --mode train --gpu rtx-4090 --gpus 4 --batch 256
    --grad-checkpointing

    Four DGX A100 nodes: fcdmbench roofline -m dico-xl --mode train --gpu a100-80gb-sxm
    --nodes 4 --gpus 8 --batch 256
    """
    if list_devices:
        _print_devices()
        return
    batch = batch or (256 if mode is Mode.TRAIN else 64)
    train = _TrainOptions(mode, gpus, batch, grad_checkpointing, ema, nodes)
    if records is None:
        default = Path("reports/throughput")
        records = [default] if default.is_dir() else []
    kernels = (attention_kernel, linear_attention_kernel)
    selected = _preflight(
        models, gpu, precision, resolution, kernels, records, calibration, json_path, plot, train
    )
    kernels = _kernels(gpu, *kernels)
    args = (selected, gpu, precision, batch, resolution, kernels, calibration, records)
    if mode is Mode.TRAIN:
        _train(train, *args, json_path=json_path, top=top)
    else:
        _infer(*args, json_path=json_path, plot=plot, top=top)


def _infer(models, gpu, precision, batch, resolution, kernels, calibration, records, **out):
    from fcdmbench.perfmodel.roofline import run_roofline
    from fcdmbench.records.roofline import RooflineConfig

    config = RooflineConfig(
        models=tuple(models),
        device=gpu,
        precision=precision,
        batch=batch,
        resolution=resolution,
        kernels=kernels,
        records=tuple(records),
        calibration=calibration,
    )
    record = run_roofline(
        config,
        warn=lambda m: stderr.print(f"warning: {m}"),
        progress=lambda m: stderr.print(m, style="dim"),
    )
    if out["plot"] is not None:
        from fcdmbench.reporting.roofline_plot import plot_roofline

        plot_roofline(record, out["plot"])
        stderr.print(f"wrote {out['plot']}")
    if emit_record(record, out["json_path"]):
        return
    _print(record, out["top"])


@dataclass(frozen=True, slots=True)
class _TrainOptions:
    """The ``--mode train`` options, and the check that none is given for the wrong mode."""

    mode: Mode
    gpus: int
    batch: int
    grad_checkpointing: bool
    ema: bool
    nodes: int = 1

    def check(self, pf, device, plot) -> None:
        from fcdmbench.errors import ConfigError
        from fcdmbench.perfmodel.train_roofline import fabric, interconnect
        from fcdmbench.records.memory import split_batch

        if self.mode is Mode.INFER:
            if self.gpus != 1 or self.nodes != 1 or self.grad_checkpointing or not self.ema:
                pf.add(
                    ConfigError(
                        "--gpus, --nodes, --grad-checkpointing and --no-ema apply to --mode train",
                        hint="add --mode train, or drop them",
                    )
                )
            return
        pf.check(split_batch, self.batch, self.gpus * self.nodes)
        if device is not None and self.nodes > 1 and not device.is_calibrated:
            pf.check(fabric, device.key)
        if device is not None and self.gpus * self.nodes > 1:
            if device.is_calibrated:
                pf.add(ConfigError("--gpu cpu models one process", hint="use --gpus 1 --nodes 1"))
            elif self.gpus > 1:
                pf.check(interconnect, device.key, self.gpus)
        if plot is not None:
            pf.add(ConfigError("--plot is for --mode infer", hint="drop --plot in train mode"))


def _kernels(gpu: str, attention: str, linear: str | None):
    from fcdmbench.perfmodel.kernels import default_linear_attention_kernel
    from fcdmbench.records.roofline import Kernels

    linear = linear or default_linear_attention_kernel(gpu.lower() == "cpu")
    return Kernels(attention=attention, linear_attention=linear)


def _preflight(
    models, gpu, precision, resolution, kernels, records, calibration, json_path, plot, train
):
    """Every problem with the command line at once, before anything is traced or measured
    (creates nothing). Returns the selected model names."""
    from fcdmbench.cli.selection import select_models
    from fcdmbench.devices import get_device
    from fcdmbench.errors import ConfigError, InputError
    from fcdmbench.perfmodel.cpu_calibration import load_calibration
    from fcdmbench.perfmodel.kernels import ATTENTION_KERNELS, LINEAR_ATTENTION_KERNELS
    from fcdmbench.perfmodel.roofline import roofline_device
    from fcdmbench.preflight import Preflight, check_input_file, check_record_outputs
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
    attention, linear = kernels
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
    train.check(pf, device, plot)
    check_record_outputs(pf, json_path, plot)
    pf.raise_all()
    return selected


def _train(
    options, models, gpu, precision, batch, resolution, kernels, calibration, records, **out
):
    from fcdmbench.perfmodel.train_roofline import run_train_roofline
    from fcdmbench.records.roofline import TrainConfig

    config = TrainConfig(
        models=tuple(models),
        device=gpu,
        precision=precision,
        batch=batch,
        gpus=options.gpus,
        nodes=options.nodes,
        resolution=resolution,
        grad_checkpointing=options.grad_checkpointing,
        kernels=kernels,
        ema=options.ema,
        calibration=calibration,
        records=tuple(records),
    )
    record = run_train_roofline(
        config,
        warn=lambda m: stderr.print(f"warning: {m}"),
        progress=lambda m: stderr.print(m, style="dim"),
    )
    if emit_record(record, out["json_path"]):
        return
    _print_train(record, out["top"])


def _print_train(record, top: int) -> None:
    from rich.table import Table

    from fcdmbench.perfmodel.train_roofline import published_speeds

    config = record.config
    _print_device(record)
    world = config.gpus * config.nodes
    rows = config.batch // world
    where = f"{config.gpus} GPU(s)"
    if config.nodes > 1:
        where = f"{config.nodes} nodes x {config.gpus} GPU(s)"
    title = (
        f"training step, {config.precision.value}: global batch {config.batch} over {where} "
        f"({rows} rows each), {config.resolution} px"
    )
    table = Table(title=title)
    headers = ("model", "checkpoint", "bound\nsteps/s", "img/s", "ms/step", "serial\nsteps/s")
    headers += ("TFLOP/s\nper GPU", "measured\nsteps/s", "measured\n/ bound")
    for header in (*headers, "published\nsteps/s", "published\n/ bound"):
        table.add_column(header, justify="left" if header == "model" else "right")
    rows = [(r, published_speeds(r, config.device)) for r in record.results]
    for r, published in rows:
        speeds = [row.steps_per_s for row in published]
        table.add_row(
            r.display_name,
            "off" if r.checkpointing == "off" else "on",
            f"{r.steps_per_s:.3f}",
            f"{r.images_per_s:,.1f}",
            f"{r.ms_per_step:.1f}",
            f"{r.serial_steps_per_s:.3f}",
            f"{r.tflops_at_bound:.3g}",
            fmt(r.measured_steps_per_s, 3),
            fmt(r.measured_over_predicted, 2),
            ", ".join(f"{p:g}" for p in speeds) or "—",
            ", ".join(f"{p / r.steps_per_s:.2f}" for p in speeds) or "—",
        )
    print_table(table)
    _print_phases(record)
    for r, published in rows:
        if r.allreduce is not None:
            _print_allreduce(r)
        if r.checkpointing != "off":
            stdout.print(f"{r.display_name} checkpointing: {r.checkpointing}")
        for row in published:
            stdout.print(
                f"published {r.display_name}: {row.steps_per_s:g} steps/s, run in {row.precision}"
                f"; {row.setting} ({row.source})"
            )
        if r.measured:
            stdout.print(f"measured {r.display_name}: {r.measured.source}")
        if top:
            _print_ops(f"{r.display_name}: top operators of the step", r, top)
    stdout.print("assumptions: " + "; ".join(record.assumptions) + ".")


def _print_allreduce(r) -> None:
    """The all-reduce's arithmetic, and the serial bound beside the overlapped one."""
    a = r.allreduce
    if a.nodes <= 1:
        stdout.print(
            f"{r.display_name} all-reduce: ring over {a.gpus} GPUs, "
            f"{a.wire_bytes / 1e9:.2f} GB sent per GPU over {a.link} at {a.link_gbs:g} GB/s "
            f"per direction: {a.time_s * 1e3:.1f} ms ({a.source})"
        )
    else:
        stdout.print(
            f"{r.display_name} all-reduce over {a.nodes} nodes x {a.gpus_per_node} GPUs: "
            f"{a.algorithm} {a.time_s * 1e3:.1f} ms (NCCL ring over all {a.gpus} GPUs "
            f"{a.ring_s * 1e3:.1f} ms; hierarchical: in the node {a.intra_s * 1e3:.1f} ms over "
            f"{a.link} at {a.link_gbs:g} GB/s, between nodes {a.inter_s * 1e3:.1f} ms over "
            f"{a.fabric} at {a.fabric_gbs:g} GB/s per GPU, pipelined "
            f"{a.hierarchical_s * 1e3:.1f} ms) ({a.source}; {a.fabric_source})"
        )
    stdout.print(
        f"{r.display_name} bound: {r.steps_per_s:.3f} steps/s with the all-reduce hidden under "
        f"backward, {r.serial_steps_per_s:.3f} steps/s serial (all-reduce after backward)"
    )


def _print_phases(record) -> None:
    """The step's bound split by phase, in ms per GPU (all-reduce overlaps backward)."""
    from rich.table import Table

    phases = ("forward", "backward", "recompute", "optimizer", "ema", "ddp-copies")
    table = Table(title="where the bound's time goes, ms per GPU (all-reduce overlaps backward)")
    for header in ("model", *phases, "all-reduce"):
        table.add_column(header, justify="left" if header == "model" else "right")
    for r in record.results:
        times = [
            r.phase(p).time_s * 1e3 if r.phase(p) and r.phase(p).calls else None for p in phases
        ]
        allreduce = r.allreduce.time_s * 1e3 if r.allreduce else None
        table.add_row(r.display_name, *(fmt(t, 1) for t in times), fmt(allreduce, 1))
    print_table(table)


def _print_device(record) -> None:
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
    from rich.table import Table

    reports, config = record.results, record.config
    _print_device(record)
    kernels = config.kernels.describe() if config.kernels else "not recorded"
    title = f"{config.precision.value}, batch {config.batch}, {config.resolution} px"
    table = Table(title=f"{title}; kernels: {kernels}")
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
        if top:
            _print_ops(f"{r.display_name}: top operators (block indices folded to *)", r, top)
    for r in reports:
        if r.measured:
            stdout.print(f"measured {r.display_name}: {r.measured.source}")
    stdout.print("assumptions: " + "; ".join(record.assumptions) + ".")


def _print_ops(title: str, r, top: int) -> None:
    """The `top` costliest operator groups of a result (`time_s` is its whole time)."""
    from rich.table import Table

    ops = Table(title=title)
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
    for o in r.ops[:top]:
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


def _print_devices() -> None:
    from rich.table import Table

    from fcdmbench.devices import load_devices

    table = Table(title="device table (fcdmbench/devices.toml); TFLOP/s dense")
    for header in (
        "key",
        "name",
        "fp32",
        "tf32",
        "bf16",
        "fp16",
        "GiB",
        "GB/s",
        "NVLink GB/s/dir",
        "PCIe GB/s/dir",
        "fabric GB/s/dir/GPU",
        "source",
        "checked",
    ):
        table.add_column(header)
    for d in load_devices():
        nvlink = d.nvlink_figure
        table.add_row(
            d.key,
            d.name,
            *(fmt(d.peak(c), 1) for c in ("fp32", "tf32", "bf16", "fp16")),
            fmt(d.memory_gib, 0),
            fmt(d.bandwidth_gbs, 0),
            "none" if nvlink and not nvlink.value else fmt(nvlink and nvlink.value, 1),
            fmt(d.pcie_figure and d.pcie_figure.value, 1),
            fmt(d.fabric_figure and d.fabric_figure.value, 1),
            d.source,
            d.checked,
        )
    print_table(table)
