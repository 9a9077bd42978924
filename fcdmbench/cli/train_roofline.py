"""`fcdmbench train-roofline`: a predicted upper bound of optimizer steps/s of one data-parallel
training step on a named GPU (the inference bound: `fcdmbench roofline`)."""

from __future__ import annotations

from typing import Annotated

import typer

from fcdmbench.cli.options import GpuKey, Models, RecordJson, Resolution
from fcdmbench.cli.output import Column, emit_record, fmt, left, show_table, stdout
from fcdmbench.cli.roofline import (
    AttentionKernel,
    Calibration,
    LinearAttentionKernel,
    PrecisionOption,
    Records,
    Top,
    check_outputs,
    default_records,
    preflight,
    print_device,
    print_ops,
    progress,
    resolve_kernels,
    warn,
)
from fcdmbench.precision import Precision

TrainJson = RecordJson("roofline-train/2")
Nodes = Annotated[
    int,
    typer.Option(
        min=1,
        help="Nodes of --gpus GPUs each; the all-reduce crosses the DGX system's inter-node "
        "fabric (A100: 8x HDR 200 Gb/s; H100/H200: 8x NDR 400 Gb/s).",
    ),
]
PHASES = ("forward", "backward", "recompute", "optimizer", "ema", "ddp-copies")


def register(app: typer.Typer) -> None:
    app.command("train-roofline")(train_roofline_command)


def train_roofline_command(
    models: Models = None,
    gpu: GpuKey = "a100-80gb-sxm",
    precision: PrecisionOption = Precision.TF32,
    batch: Annotated[
        int, typer.Option("--batch", "-b", min=1, help="Global batch, split over every GPU.")
    ] = 256,
    gpus: Annotated[
        int, typer.Option(min=1, help="GPUs per node sharing --batch (DGX/HGX: up to 8).")
    ] = 1,
    nodes: Nodes = 1,
    grad_checkpointing: Annotated[
        bool, typer.Option("--grad-checkpointing", help="Checkpoint every block.")
    ] = False,
    ema: Annotated[bool, typer.Option("--ema/--no-ema", help="Price the EMA.")] = True,
    resolution: Resolution = 256,
    attention_kernel: AttentionKernel = "sdpa",
    linear_attention_kernel: LinearAttentionKernel = None,
    records: Records = None,
    calibration: Calibration = None,
    top: Top = 8,
    json_path: TrainJson = None,
) -> None:
    """Predict an upper bound of training steps/s (a model, not measured).

    One data-parallel training step: forward, backward with checkpointing's recomputation,
    AdamW, EMA, DDP copies, the gradient all-reduce over NVLink or PCIe, and between --nodes
    over InfiniBand; --batch is the global batch.

    Example: fcdmbench train-roofline -m fcdm-xl --gpu rtx-4090 --gpus 4 --batch 256
    --grad-checkpointing

    Four DGX A100 nodes: fcdmbench train-roofline -m dico-xl --gpu a100-80gb-sxm --nodes 4
    --gpus 8 --batch 256
    """
    from fcdmbench.perfmodel.train_roofline import run_train_roofline
    from fcdmbench.records.roofline import TrainConfig

    records = default_records(records)
    kernels = (attention_kernel, linear_attention_kernel)
    pf, selected, device = preflight(
        models, gpu, precision, resolution, kernels, records, calibration
    )
    _check_parallel(pf, device, batch, gpus, nodes)
    check_outputs(pf, json_path, None)
    config = TrainConfig(
        models=tuple(selected),
        device=gpu,
        precision=precision,
        batch=batch,
        gpus=gpus,
        nodes=nodes,
        resolution=resolution,
        grad_checkpointing=grad_checkpointing,
        kernels=resolve_kernels(gpu, *kernels),
        ema=ema,
        calibration=calibration,
        records=tuple(records),
    )
    record = run_train_roofline(config, warn=warn, progress=progress)
    if emit_record(record, json_path):
        return
    _print(record, top)


def _check_parallel(pf, device, batch: int, gpus: int, nodes: int) -> None:
    """The batch splits over every GPU; the links the all-reduce crosses are in the table."""
    from fcdmbench.errors import ConfigError
    from fcdmbench.perfmodel.train_roofline import fabric, interconnect
    from fcdmbench.records.memory import split_batch

    pf.check(split_batch, batch, gpus * nodes)
    if device is not None and nodes > 1 and not device.is_calibrated:
        pf.check(fabric, device.key)
    if device is not None and gpus * nodes > 1:
        if device.is_calibrated:
            pf.add(ConfigError("--gpu cpu models one process", hint="use --gpus 1 --nodes 1"))
        elif gpus > 1:
            pf.check(interconnect, device.key, gpus)


def _title(config) -> str:
    rows = config.batch // (config.gpus * config.nodes)
    where = f"{config.gpus} GPU(s)"
    if config.nodes > 1:
        where = f"{config.nodes} nodes x {config.gpus} GPU(s)"
    return (
        f"training step, {config.precision.value}: global batch {config.batch} over {where} "
        f"({rows} rows each), {config.resolution} px"
    )


def _print(record, top: int) -> None:
    from fcdmbench.perfmodel.train_roofline import published_speeds

    config = record.config
    print_device(record)
    rows = [
        (r, [p.steps_per_s for p in published_speeds(r, config.device)]) for r in record.results
    ]
    columns = [
        left("model", lambda x: x[0].display_name),
        Column("checkpoint", lambda x: "off" if x[0].checkpointing == "off" else "on"),
        Column("bound\nsteps/s", lambda x: f"{x[0].steps_per_s:.3f}"),
        Column("img/s", lambda x: f"{x[0].images_per_s:,.1f}"),
        Column("ms/step", lambda x: f"{x[0].ms_per_step:.1f}"),
        Column("serial\nsteps/s", lambda x: f"{x[0].serial_steps_per_s:.3f}"),
        Column("TFLOP/s\nper GPU", lambda x: f"{x[0].tflops_at_bound:.3g}"),
        Column("measured\nsteps/s", lambda x: fmt(x[0].measured_steps_per_s, 3)),
        Column("measured\n/ bound", lambda x: fmt(x[0].measured_over_predicted, 2)),
        Column("published\nsteps/s", lambda x: ", ".join(f"{p:g}" for p in x[1]) or "—"),
        Column(
            "published\n/ bound",
            lambda x: ", ".join(f"{p / x[0].steps_per_s:.2f}" for p in x[1]) or "—",
        ),
    ]
    show_table(columns, rows, _title(config))
    _print_phases(record)
    for r in record.results:
        _print_notes(r, config, top)
    stdout.print("assumptions: " + "; ".join(record.assumptions) + ".")


def _print_notes(r, config, top: int) -> None:
    from fcdmbench.perfmodel.train_roofline import published_speeds

    if r.allreduce is not None:
        _print_allreduce(r)
    if r.checkpointing != "off":
        stdout.print(f"{r.display_name} checkpointing: {r.checkpointing}")
    for row in published_speeds(r, config.device):
        stdout.print(
            f"published {r.display_name}: {row.steps_per_s:g} steps/s, run in {row.precision}"
            f"; {row.setting} ({row.source})"
        )
    if r.measured:
        stdout.print(f"measured {r.display_name}: {r.measured.source}")
    if top:
        print_ops(f"{r.display_name}: top operators of the step", r, top)


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


def _phase_ms(result, name: str) -> float | None:
    phase = result.phase(name)
    return phase.time_s * 1e3 if phase and phase.calls else None


def _print_phases(record) -> None:
    """The step's bound split by phase, in ms per GPU (all-reduce overlaps backward)."""
    columns = [
        left("model", lambda r: r.display_name),
        *(Column(p, lambda r, p=p: fmt(_phase_ms(r, p), 1)) for p in PHASES),
        Column("all-reduce", lambda r: fmt(r.allreduce.time_s * 1e3 if r.allreduce else None, 1)),
    ]
    title = "where the bound's time goes, ms per GPU (all-reduce overlaps backward)"
    show_table(columns, record.results, title)
