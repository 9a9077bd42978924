"""`fcdmbench baseline update|compare|list`: the per-GPU throughput baselines the gate reads."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from fcdmbench.cli.output import print_json, stderr, stdout

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
    app.add_typer(baseline_app, name="baseline")


def render_verdict(verdict: Verdict) -> None:
    """The gate's verdict line and its messages."""
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
    from fcdmbench.throughput.baseline_files import write_baseline
    from fcdmbench.throughput.preflight import preflight_baseline_update

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
    from fcdmbench.preflight import Preflight, check_input_file
    from fcdmbench.records.io import read_record
    from fcdmbench.records.throughput import ThroughputRecord
    from fcdmbench.throughput.baseline_files import (
        baseline_relpath,
        default_baselines_dir,
        load_baseline,
    )
    from fcdmbench.throughput.gate import compare, no_baseline
    from fcdmbench.throughput.preflight import RECORD_HINT

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
