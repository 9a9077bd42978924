"""`fcdmbench report`: the seed paper's tables and figures, published beside measured."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fcdmbench.cli.output import print_json, stderr, stdout


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)


def _formats(text: str):
    from fcdmbench.errors import ConfigError
    from fcdmbench.reporting.report import ReportFormat

    out = []
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        try:
            out.append(ReportFormat(part))
        except ValueError:
            raise ConfigError(
                f"unknown report format {part!r}", hint="use a comma list of md, csv, tex, html"
            ) from None
    return tuple(dict.fromkeys(out))


def report_command(
    records: Annotated[
        list[Path] | None,
        typer.Option(
            "--records",
            "-r",
            metavar="DIR|FILE",
            help="Folder(s) or file(s) with fcdmbench JSON records (flops, throughput, "
            "baseline, eval, sample, spectral). A missing path or a file that is not a record "
            "is an error (exit 3). Repeatable; several values after one flag work too.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Output folder (default: reports/<date>-<device>-<precision>-<torch>).",
        ),
    ] = None,
    formats: Annotated[
        str, typer.Option("--format", "-f", help="Comma list of md, csv, tex, html.")
    ] = "md,csv,tex,html",
    no_meta: Annotated[
        bool, typer.Option("--no-meta", help="Do not count GMACs on the meta device (no torch).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Rebuild the paper's tables and figures beside records.

    Tables 1-5 and 7-11 and Figures 2, 5, 6 and 9 of the FCDM paper, each published number
    beside what the records given measured.

    Needs no GPU, network or records: published numbers plus instant meta-device GMACs.

    Example: fcdmbench report --records runs/ --out reports/demo
    """
    from fcdmbench.reporting.preflight import preflight_report
    from fcdmbench.reporting.report import ReportConfig, build_report

    preflight_report(records=records or (), out=out)

    config = ReportConfig(
        records=tuple(records or ()), out=out, formats=_formats(formats), use_meta=not no_meta
    )
    with stderr.status("building report"):
        result = build_report(
            config, warn=lambda m: stderr.print(f"[yellow]warning:[/] {m}", highlight=False)
        )
    if as_json:
        print_json(result.to_record())
        return
    stdout.print(f"report written to [bold]{result.out_dir}[/]")
    stdout.print(f"tables: {', '.join(result.tables)}")
    stdout.print(f"figures: {', '.join(result.figures)}")
    stdout.print(
        f"measured cells: {result.measured_cells}; records read: {result.records_read}; "
        f"warnings: {len(result.warnings)}"
    )
    for name in ("report.html", "report.md"):
        if (result.out_dir / name).exists():
            stdout.print(f"open: {result.out_dir / name}")
