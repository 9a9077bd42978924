"""`fcdmbench throughput` (measure, `--check`, `--update-baseline`) and `fcdmbench baseline ...`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fcdmbench.cli.output import fmt, print_json, print_table, stderr, stdout
from fcdmbench.cli.selection import select_models
from fcdmbench.precision import Precision
from fcdmbench.throughput.measure import FcdmCheckpointing, Order
from fcdmbench.throughput.workloads import Mode

if TYPE_CHECKING:
    from fcdmbench.records.gate import Verdict

baseline_app = typer.Typer(
    no_args_is_help=True, help="Per-GPU throughput baselines: update, compare, list."
)

_BASELINES_HELP = (
    "Baseline folder (default: benchmarks/baselines of the checkout the current directory is in)."
)
BaselinesDir = Annotated[
    Path | None,
    typer.Option(
        "--baselines-dir", envvar="FCDMBENCH_BASELINES", metavar="DIR", help=_BASELINES_HELP
    ),
]


def register(app: typer.Typer) -> None:
    app.command("throughput")(throughput_command)
    app.add_typer(baseline_app, name="baseline")


def throughput_command(
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--models",
            "-m",
            help=("Models: --models fcdm-xl dit-xl-2, commas or wildcards ('fcdm-*') work too."),
        ),
    ] = None,
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
    compile_mode: Annotated[
        str | None,
        typer.Option(
            "--compile",
            metavar="MODE",
            help=(
                "torch.compile mode (default, reduce-overhead, max-autotune); compile time is "
                "reported apart and excluded."
            ),
        ),
    ] = None,
    cuda_graphs: Annotated[
        bool,
        typer.Option(
            "--cuda-graphs",
            help=("Also time each model replayed from a CUDA graph; both are reported."),
        ),
    ] = False,
    fcdm_checkpointing: Annotated[
        FcdmCheckpointing | None,
        typer.Option(
            help=(
                "FCDM per-block checkpointing: always = as published (even in eval), "
                "off = bypassed [default: both for infer, off for train]"
            )
        ),
    ] = None,
    grad_checkpointing: Annotated[bool, typer.Option(help="Train: gradient checkpointing.")] = (
        False
    ),
    ref: Annotated[
        str | None,
        typer.Option(
            help=(
                "Model for 'vs ref' ratios (explicit: added to the run; 'none': off) "
                "[default: dit-xl-2 when among --models]"
            )
        ),
    ] = None,
    cudnn_benchmark: Annotated[
        bool,
        typer.Option("--cudnn-benchmark/--no-cudnn-benchmark", help="cudnn.benchmark (recorded)."),
    ] = True,
    warmup_calls: Annotated[
        int, typer.Option(min=1, help="Warm-up: at least this many calls per model.")
    ] = 10,
    warmup_s: Annotated[
        float, typer.Option(min=0.0, help="Warm-up: at least this many seconds per model.")
    ] = 2.0,
    blocks: Annotated[int, typer.Option(min=1, help="Timed blocks per model.")] = 7,
    min_block_s: Annotated[float, typer.Option(min=0.0, help="Minimum seconds per block.")] = 1.0,
    pause_s: Annotated[float, typer.Option(min=0.0, help="Pause between models.")] = 1.0,
    order: Annotated[
        Order | None,
        typer.Option(
            help="Models interleaved block by block (A B C A B C) or one after another. "
            "[default: interleaved for infer, sequential for train]"
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="JSON",
            help=("Record path [default: reports/throughput/<date>-<device>-...json]"),
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help=("Gate against the stored baseline: exit 5 on a confirmed regression.")
        ),
    ] = False,
    update_baseline: Annotated[
        bool,
        typer.Option(
            "--update-baseline",
            help=("Store this run as the device's baseline (review the file in a PR)."),
        ),
    ] = False,
    baselines_dir: BaselinesDir = None,
    strict: Annotated[bool, typer.Option(help="--check: 'insufficient data' exits 5.")] = False,
    force: Annotated[
        bool, typer.Option(help="--update-baseline even if the gate calls the run noisy.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
) -> None:
    """Measure images/s per network evaluation (the papers' it/s).

    One fixed protocol: warm-up by count and time, interleaved timed blocks, median and IQR,
    the precision mode always named; one JSON record per run. --check gates the run against the
    stored baseline of this GPU type.

    Example: fcdmbench throughput --models fcdm-xl dit-xl-2 --precision bf16 --check
    """
    from fcdmbench.preflight.checks import Preflight
    from fcdmbench.preflight.commands import preflight_throughput
    from fcdmbench.throughput.measure import ProtocolConfig, ThroughputConfig

    pf = Preflight()  # every problem at once, before any model is built or timed
    selected = pf.check(select_models, models or [])
    protocol = pf.check(
        ProtocolConfig,
        warmup_calls=warmup_calls,
        warmup_s=warmup_s,
        blocks=blocks,
        min_block_s=min_block_s,
        pause_s=pause_s,
        order=order,
    )
    config = None
    if selected is not None and protocol is not None:
        config = pf.check(
            ThroughputConfig,
            models=tuple(selected),
            batch=batch,
            resolution=resolution,
            precision=precision,
            mode=mode,
            device=device,
            cfg=cfg,
            channels_last=channels_last,
            compile_mode=compile_mode,
            cuda_graphs=cuda_graphs,
            cudnn_benchmark=cudnn_benchmark,
            fcdm_checkpointing=fcdm_checkpointing,
            grad_checkpointing=grad_checkpointing,
            ref=ref,
            protocol=protocol,
        )
    if config is not None:
        pf.check(
            preflight_throughput,
            config,
            out=out,
            check=check,
            update_baseline=update_baseline,
            baselines_dir=baselines_dir,
            force=force,
        )
    pf.raise_all()
    print_plan(config)

    from rich.markup import escape

    from fcdmbench.throughput.run import run_throughput

    record, verdict = run_throughput(
        config,
        out=out,
        check=check,
        update_baseline=update_baseline,
        baselines_dir=baselines_dir,
        strict=strict,
        force=force,
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


def print_plan(config: Any) -> None:
    """On stderr, before anything is built: what will be timed, why, and how long it takes."""
    from rich.markup import escape

    from fcdmbench.throughput.measure import estimate_seconds, plan_items, resolve_device

    device = resolve_device(config.device)
    items = plan_items(config, device.type)
    proto = config.protocol

    def say(text: str) -> None:
        stderr.print(text, soft_wrap=True)

    say(
        f"plan: {len(items)} items on {device}, {config.precision.value}, {config.mode.value}, "
        f"batch {config.batch}, {config.resolution} px{', CFG' if config.cfg else ''}, "
        f"{config.order.value} order"
    )
    width = max(len(item.key) for item in items)
    for item in items:
        say(f"  {escape(item.key.ljust(width))}  [dim]{escape(item.reason)}[/]")
    say(
        f"protocol: per item a warm-up of >= {proto.warmup_calls} calls and >= "
        f"{proto.warmup_s:g} s, then {proto.blocks} timed blocks of >= {proto.min_block_s:g} s "
        f"(one untimed call before each), {proto.pause_s:g} s pause before each block"
    )
    floor = estimate_seconds(config, len(items))
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


def render_record(record: Any) -> None:
    """A rich table of a `ThroughputRecord`, labelled with device, precision and protocol."""
    from rich.markup import escape
    from rich.table import Table

    env, cfg, proto = record.env, record.config, record.protocol
    label = "CPU" if env.device_type == "cpu" else "GPU"
    title = (
        f"throughput on {label} {env.device_name} ({env.device_slug}), "
        f"{cfg.precision}, {cfg.mode}, batch {cfg.batch}, {cfg.resolution} px"
        f"{', CFG' if cfg.cfg else ''}, torch {env.torch}"
    )
    table = Table(title=title, title_justify="left")
    for column in (
        "model",
        "batch",
        "img/s",
        "IQR %",
        "ms/call",
        "peak GiB",
        "GMACs/img",
        "TFLOP/s",
        "MFU %",
        "/canary",
        "vs ref",
        "paper vs ref",
    ):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in record.results:
        stats = row.img_per_s
        iqr_pct = 100 * stats.iqr / stats.median if stats.median else None
        batch = f"{row.batch}" + (" (halved: OOM)" if row.batch_halved else "")
        if row.status != "ok":
            table.add_row(escape(row.key), batch, row.status, *[""] * 9)
            continue
        table.add_row(
            escape(row.key),
            batch,
            fmt(stats.median, 2),
            fmt(iqr_pct),
            fmt(row.ms_per_forward),
            fmt(row.peak_mem_gib, 2),
            fmt(row.gmacs_per_img, 2),
            fmt(row.tflops_achieved, 2),
            fmt(100 * row.mfu if row.mfu else None),
            fmt(row.ratio_to_canary, 3),
            fmt(row.ratio_to_ref, 2),
            fmt(row.paper_ratio_to_ref, 2),
        )
    print_table(table)
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


def render_verdict(verdict: Verdict) -> None:
    """The gate's verdict line and its messages."""
    from rich.markup import escape

    colour = {0: "green", 5: "red"}.get(verdict.exit_code, "yellow")
    stdout.print(f"[bold {colour}]verdict: {escape(verdict.summary)}[/] (exit {verdict.exit_code})")
    for message in verdict.messages:
        stdout.print(f"  - {escape(message)}")


@baseline_app.command("update")
def baseline_update_command(
    record_path: Annotated[Path, typer.Argument(metavar="RECORD", help="A throughput record.")],
    baselines_dir: BaselinesDir = None,
    force: Annotated[
        bool,
        typer.Option(help="Store even a run the gate calls insufficient data, or partly failed."),
    ] = False,
) -> None:
    """Store a throughput record as its GPU type's baseline.

    This command (or `throughput --update-baseline`) is the only way a baseline is created.

    Written under benchmarks/baselines of the checkout you run it from (or --baselines-dir);
    refused when the gate would call the run insufficient data (fewer than 5 blocks, canary or
    a model IQR/median above 10 %) or a model failed, unless --force.

    Example: fcdmbench baseline update reports/throughput/RECORD.json
    """
    from fcdmbench.preflight.commands import preflight_baseline_update
    from fcdmbench.throughput.baseline_files import write_baseline

    record, root = preflight_baseline_update(record_path, baselines_dir)
    path = write_baseline(record, root, str(record_path), force=force)
    stdout.print(f"baseline written: {path}")
    if record.env.device_type == "cpu":
        stderr.print("note: a CPU baseline is not useful for a gate (benchmarks/README.md)")


@baseline_app.command("compare")
def baseline_compare_command(
    record_path: Annotated[Path, typer.Argument(metavar="RECORD", help="A throughput record.")],
    baseline: Annotated[
        Path | None,
        typer.Option(
            metavar="JSON",
            help=("Baseline file [default: the stored one for the record's device and config]"),
        ),
    ] = None,
    rerun: Annotated[
        Path | None,
        typer.Option(
            metavar="RECORD", help=("A re-run record: confirms or clears a first-run regression.")
        ),
    ] = None,
    baselines_dir: BaselinesDir = None,
    strict: Annotated[bool, typer.Option(help="'insufficient data' exits 5.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Gate recorded runs against a baseline without measuring.

    Verdicts and exit codes are those of `throughput --check`.

    Example: fcdmbench baseline compare run.json --rerun run2.json
    """
    from fcdmbench.preflight.checks import Preflight, check_input_file
    from fcdmbench.preflight.commands import RECORD_HINT
    from fcdmbench.records.io import read_record
    from fcdmbench.records.throughput import ThroughputRecord
    from fcdmbench.throughput.baseline_files import (
        baseline_relpath,
        default_baselines_dir,
        load_baseline,
    )
    from fcdmbench.throughput.gate import compare, no_baseline

    pf = Preflight()
    for given in (record_path, rerun):
        if given is not None:
            pf.check(check_input_file, given, "record", hint=RECORD_HINT)
    root = pf.check(default_baselines_dir, baselines_dir) if baseline is None else None
    pf.raise_all()
    record = read_record(record_path, kind=ThroughputRecord)
    path = baseline or root / baseline_relpath(record)
    stored = load_baseline(path)
    if stored is None:
        verdict = no_baseline(f"no baseline at {path}; create one with `fcdmbench baseline update`")
    else:
        verdict = compare(record, stored, strict=strict)
        if rerun is not None:
            second = read_record(rerun, kind=ThroughputRecord)
            verdict = compare(second, stored, previous=verdict, strict=strict)
    if as_json:
        print_json(dataclasses.replace(verdict, baseline=str(path)).to_json())
    else:
        stdout.print(f"baseline: {path}")
        render_verdict(verdict)
    if verdict.exit_code:
        raise typer.Exit(verdict.exit_code)


@baseline_app.command("list")
def baseline_list_command(baselines_dir: BaselinesDir = None) -> None:
    """List stored baselines by device.

    Example: fcdmbench baseline list
    """
    from fcdmbench.throughput.baseline_files import default_baselines_dir

    root = default_baselines_dir(baselines_dir)
    files = sorted(root.glob("*/*.json")) if root.exists() else []
    if not files:
        stdout.print(f"no baselines under {root}")
        return
    for path in files:
        stdout.print(str(path.relative_to(root)))
