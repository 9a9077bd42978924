"""`fcdmbench throughput`: measure images/s (`--check`: gate it, `--update-baseline`: store it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from fcdmbench.cli.baseline import BaselinesDir, render_verdict
from fcdmbench.cli.output import Column, fmt, left, print_json, show_table, stderr, stdout
from fcdmbench.cli.selection import select_models
from fcdmbench.precision import Precision
from fcdmbench.throughput.measure import FcdmCheckpointing, Order
from fcdmbench.throughput.workloads import Mode

Models = Annotated[
    list[str] | None,
    typer.Option(
        "--models",
        "-m",
        help=("Models: --models fcdm-xl dit-xl-2, commas or wildcards ('fcdm-*') work too."),
    ),
]
CompileMode = Annotated[
    str | None,
    typer.Option(
        "--compile",
        metavar="MODE",
        help=(
            "torch.compile mode (default, reduce-overhead, max-autotune); compile time is "
            "reported apart and excluded."
        ),
    ),
]
CudaGraphs = Annotated[
    bool,
    typer.Option(
        "--cuda-graphs",
        help=("Also time each model replayed from a CUDA graph; both are reported."),
    ),
]
Checkpointing = Annotated[
    FcdmCheckpointing | None,
    typer.Option(
        help=(
            "FCDM per-block checkpointing: always = as published (even in eval), "
            "off = bypassed [default: both for infer, off for train]"
        )
    ),
]
Ref = Annotated[
    str | None,
    typer.Option(
        help=(
            "Model for 'vs ref' ratios (explicit: added to the run; 'none': off) "
            "[default: dit-xl-2 when among --models]"
        )
    ),
]
CudnnBenchmark = Annotated[
    bool,
    typer.Option("--cudnn-benchmark/--no-cudnn-benchmark", help="cudnn.benchmark (recorded)."),
]
WarmupCalls = Annotated[
    int, typer.Option(min=1, help="Warm-up: at least this many calls per model.")
]
WarmupS = Annotated[
    float, typer.Option(min=0.0, help="Warm-up: at least this many seconds per model.")
]
OrderOption = Annotated[
    Order | None,
    typer.Option(
        help="Models interleaved block by block (A B C A B C) or one after another. "
        "[default: interleaved for infer, sequential for train]"
    ),
]
Out = Annotated[
    Path | None,
    typer.Option(
        metavar="JSON",
        help=("Record path [default: reports/throughput/<date>-<device>-...json]"),
    ),
]
Check = Annotated[
    bool,
    typer.Option(
        "--check", help=("Gate against the stored baseline: exit 5 on a confirmed regression.")
    ),
]
UpdateBaseline = Annotated[
    bool,
    typer.Option(
        "--update-baseline",
        help=("Store this run as the device's baseline (review the file in a PR)."),
    ),
]
Force = Annotated[
    bool, typer.Option(help="--update-baseline even if the gate calls the run noisy.")
]
#: The options that are not the run's `ThroughputConfig` or `ProtocolConfig`: the gate's.
GATE_OPTIONS = ("out", "check", "update_baseline", "baselines_dir", "force")


def register(app: typer.Typer) -> None:
    app.command("throughput")(throughput_command)


def throughput_command(
    models: Models = None,
    batch: Annotated[int, typer.Option("--batch", "-b", min=1, help="Images per call.")] = 64,
    resolution: Annotated[int, typer.Option(help="Image resolution (latent = /8).")] = 256,
    precision: Annotated[Precision, typer.Option(help="TF32 flags and autocast dtype.")] = (
        Precision.PAPER_DEFAULT
    ),
    mode: Annotated[Mode, typer.Option(help="infer: one NFE per call; train: fwd+bwd+AdamW.")] = (
        Mode.INFER
    ),
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    cfg: Annotated[bool, typer.Option("--cfg", help="Time forward_with_cfg (2B rows).")] = False,
    channels_last: Annotated[
        bool, typer.Option("--channels-last", help="Channels-last memory format (recorded).")
    ] = False,
    compile_mode: CompileMode = None,
    cuda_graphs: CudaGraphs = False,
    fcdm_checkpointing: Checkpointing = None,
    grad_checkpointing: Annotated[bool, typer.Option(help="Train: gradient checkpointing.")] = (
        False
    ),
    ref: Ref = None,
    cudnn_benchmark: CudnnBenchmark = True,
    warmup_calls: WarmupCalls = 10,
    warmup_s: WarmupS = 2.0,
    blocks: Annotated[int, typer.Option(min=1, help="Timed blocks per model.")] = 7,
    min_block_s: Annotated[float, typer.Option(min=0.0, help="Minimum seconds per block.")] = 1.0,
    pause_s: Annotated[float, typer.Option(min=0.0, help="Pause between models.")] = 1.0,
    order: OrderOption = None,
    out: Out = None,
    check: Check = False,
    update_baseline: UpdateBaseline = False,
    baselines_dir: BaselinesDir = None,
    strict: Annotated[bool, typer.Option(help="--check: 'insufficient data' exits 5.")] = False,
    force: Force = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
) -> None:
    """Measure images/s per network evaluation (the papers' it/s).

    One fixed protocol: warm-up by count and time, interleaved timed blocks, median and IQR,
    the precision mode always named; one JSON record per run. --check gates the run against the
    stored baseline of this GPU type.

    Example: fcdmbench throughput --models fcdm-xl dit-xl-2 --precision bf16 --check
    """
    options = dict(locals())  # the options by name, as edm2's commands keep them
    from fcdmbench.throughput.run import run_throughput

    gate = {name: options[name] for name in GATE_OPTIONS}
    config, protocol = _preflight(options, gate)
    print_plan(config, protocol)
    record, verdict = run_throughput(
        config,
        protocol,
        **gate,
        strict=strict,
        log=lambda message: stderr.print(f"[dim]{escape(message)}[/]"),
    )
    if as_json:
        print_json(record.to_json())
    else:
        render_record(record)
        if verdict is not None:
            render_verdict(verdict)
    if verdict is not None and verdict.exit_code:
        raise typer.Exit(verdict.exit_code)


def _preflight(options: dict, gate: dict) -> Any:
    """The run's `ThroughputConfig` and `ProtocolConfig`, once every problem of the command line
    is reported at once, before any model is built or timed."""
    from fcdmbench.cli.options import config_fields
    from fcdmbench.preflight import Preflight
    from fcdmbench.records.throughput import ProtocolConfig, ThroughputConfig
    from fcdmbench.throughput.measure import step_options
    from fcdmbench.throughput.preflight import preflight_throughput

    pf = Preflight()
    selected = pf.check(select_models, options["models"] or [])
    protocol = pf.check(ProtocolConfig, **config_fields(ProtocolConfig, options))
    config = None
    if selected is not None and protocol is not None:
        fields = config_fields(ThroughputConfig, options, {"compile": "compile_mode"})
        config = pf.check(ThroughputConfig, **{**fields, "models": tuple(selected)})
    if config is not None:
        pf.check(step_options, config)
        pf.check(preflight_throughput, config, **gate, protocol=protocol)
    pf.raise_all()
    return config, protocol


def print_plan(config: Any, protocol: Any) -> None:
    """On stderr, before anything is built: what will be timed, why, and how long it takes."""
    from fcdmbench.throughput.measure import estimate_seconds, plan_items, resolve_device

    device = resolve_device(config.device)
    items = plan_items(config, device.type)
    proto = protocol

    def say(text: str) -> None:
        stderr.print(text, soft_wrap=True)

    say(
        f"plan: {len(items)} items on {device}, {config.precision.value}, {config.mode.value}, "
        f"batch {config.batch}, {config.resolution} px{', CFG' if config.cfg else ''}, "
        f"{protocol.for_mode(config.mode).value} order"
    )
    width = max(len(item.key) for item in items)
    for item in items:
        say(f"  {escape(item.key.ljust(width))}  [dim]{escape(item.reason)}[/]")
    say(
        f"protocol: per item a warm-up of >= {proto.warmup_calls} calls and >= "
        f"{proto.warmup_s:g} s, then {proto.blocks} timed blocks of >= {proto.min_block_s:g} s "
        f"(one untimed call before each), {proto.pause_s:g} s pause before each block"
    )
    floor = estimate_seconds(protocol, len(items))
    say(
        f"time: at least {_duration(floor)} from these settings, plus building the models; "
        f"longer when one call takes more than {proto.min_block_s:g} s (each warm-up is then "
        f"{proto.warmup_calls} calls and each block 2); an estimate follows the warm-up"
    )
    if device.type == "cpu":
        say(
            "[dim]quick CPU look (small batch, fewer and shorter blocks; on a shared machine "
            "also set OMP_NUM_THREADS=1): --batch 2 "
            "--fcdm-checkpointing off --warmup-calls 2 --warmup-s 0.5 --blocks 5 "
            "--min-block-s 0.5 --pause-s 0.1[/]"
        )


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _ok(cell):
    """A cell shown only for a model that ran (a failed row shows its status, then blanks)."""
    return lambda row: cell(row) if row.status == "ok" else ""


def _iqr_pct(row) -> str:
    stats = row.img_per_s
    return fmt(100 * stats.iqr / stats.median if stats.median else None)


#: The columns of the throughput table.
RECORD_COLUMNS = (
    left("model", lambda row: escape(row.key)),
    Column("batch", lambda row: f"{row.batch}" + (" (halved: OOM)" if row.batch_halved else "")),
    Column("img/s", lambda row: fmt(row.img_per_s.median, 2) if row.status == "ok" else row.status),
    Column("IQR %", _ok(_iqr_pct)),
    Column("ms/call", _ok(lambda row: fmt(row.ms_per_forward))),
    Column("peak GiB", _ok(lambda row: fmt(row.peak_mem_gib, 2))),
    Column("GMACs/img", _ok(lambda row: fmt(row.gmacs_per_img, 2))),
    Column("TFLOP/s", _ok(lambda row: fmt(row.tflops_achieved, 2))),
    Column("MFU %", _ok(lambda row: fmt(100 * row.mfu if row.mfu else None))),
    Column("/canary", _ok(lambda row: fmt(row.ratio_to_canary, 3))),
    Column("vs ref", _ok(lambda row: fmt(row.ratio_to_ref, 2))),
    Column("paper vs ref", _ok(lambda row: fmt(row.paper_ratio_to_ref, 2))),
)


def render_record(record: Any) -> None:
    """A rich table of a `ThroughputRecord`, labelled with device, precision and protocol."""
    env, cfg, proto = record.env, record.config, record.protocol
    label = "CPU" if env.device_type == "cpu" else "GPU"
    title = (
        f"throughput on {label} {env.device_name} ({env.device_slug}), "
        f"{cfg.precision.value}, {cfg.mode.value}, batch {cfg.batch}, {cfg.resolution} px"
        f"{', CFG' if cfg.cfg else ''}, torch {env.torch}"
    )
    show_table(RECORD_COLUMNS, record.results, title, justify="left")
    stdout.print(
        f"unit: {cfg.unit}. Protocol: {proto.blocks} blocks >= "
        f"{proto.min_block_s} s, {proto.order}, timer {proto.timer}; "
        f"TF32 matmul={cfg.tf32_matmul} conv={cfg.tf32_cudnn}"
        f" (effective: {cfg.tf32_effective}), autocast {cfg.autocast_dtype}. "
        f"/canary = images/s over {record.canary.name} calls/s (what the gate compares). "
        "GMACs = multiply-accumulates per image (DiT convention); MFU needs a known GPU."
    )
    for row in record.results:
        if row.error:
            stderr.print(f"[yellow]{escape(row.key)}: {escape(row.error)}[/]")
    for note in record.notes:
        stderr.print(f"note: {escape(note)}")
