"""`fcdmbench audit`: every published throughput figure against its roofline bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fcdmbench.cli.options import split_values
from fcdmbench.cli.output import Column, emit_record, left, show_table, stderr, stdout


def register(app: typer.Typer) -> None:
    app.command("audit")(audit_command)


def audit_command(
    tables: Annotated[
        list[str] | None,
        typer.Option("--tables", help="Seed-paper tables: --tables 2 4 (default: 2 3 4 11)."),
    ] = None,
    devices: Annotated[
        list[str] | None,
        typer.Option(
            "--devices", help="Device table keys (default: every GPU with a bandwidth figure)."
        ),
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--settings",
            help="paper, authors, fp32-strict, tf32, bf16 (default: all; docs/perfmodel.md).",
        ),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", "-b", min=1, help="The paper's: 64.")] = 64,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json", metavar="PATH", help="Write a fcdmbench.audit/2 record ('-': stdout)."
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(metavar="PNG", help="Write the published/bound figure (.png, .svg, .pdf)."),
    ] = None,
) -> None:
    """Audit the paper's throughput figures against their bounds.

    Where each published figure can be true, and how close it sits to its bound. Every figure of
    Tables 2, 3, 4 and 11 is priced by the roofline model (a predicted upper bound, never a
    measurement) on every GPU of the device table under each setting; the most plausible device
    and setting per table, the paper's ratios under each setting, figures no setting reaches, and
    figures the paper prints twice with different values.

    Example: fcdmbench audit --tables 2 --json audit.json --plot audit.png
    """
    from fcdmbench.perfmodel.audit import run_audit

    config = _preflight(tables, devices, settings, batch, json_path, plot)
    record = run_audit(config, progress=lambda m: stderr.print(m, style="dim"))
    if plot is not None:
        from fcdmbench.reporting.figures.audit_plot import plot_audit

        plot_audit(record, plot)
        stderr.print(f"wrote {plot}")
    if emit_record(record, json_path):
        return
    _print(record)


def _preflight(tables, devices, settings, batch, *outputs):
    """Every problem with the command line at once, before anything is traced."""
    from fcdmbench.devices import get_device
    from fcdmbench.errors import ConfigError
    from fcdmbench.perfmodel.audit import TABLES, AuditConfig, check_names
    from fcdmbench.perfmodel.audit_readings import SETTINGS
    from fcdmbench.perfmodel.roofline import roofline_device
    from fcdmbench.perfmodel.trace_cache import trace_workers
    from fcdmbench.preflight import Preflight, check_record_outputs

    pf = Preflight()
    tables, devices, settings = (split_values(v) for v in (tables, devices, settings))
    keys = tuple(f"table{t.lower().removeprefix('table')}" for t in tables)
    pf.check(check_names, "table", keys or TABLES, TABLES)
    pf.check(check_names, "setting", settings or SETTINGS, SETTINGS)
    for key in devices:
        device = pf.check(get_device, key)
        if device is not None and device.is_calibrated:
            pf.add(ConfigError("the audit prices GPUs; 'cpu' has no published figure"))
        elif device is not None:
            pf.check(roofline_device, key)  # a bandwidth figure must exist
    pf.check(trace_workers)  # FCDMBENCH_TRACE_WORKERS
    check_record_outputs(pf, *outputs)
    pf.raise_all()
    return AuditConfig(keys or TABLES, devices, settings or SETTINGS, batch)


def _pct(value: float | None) -> str:
    if value is None:
        return "—"
    text = f"{value:.1%}" if 0.995 <= value < 1.005 else f"{value:.0%}"  # never "100%" above 1
    return f"[bold red]{text}[/]" if value > 1.0 else text


def _fraction(figure, device: str, setting: str) -> str:
    if not figure.modelled:
        return ""
    bound = figure.bound(device, setting)
    return _pct(bound.fraction if bound else None)


def _figure_table(record, table: str) -> None:
    plausible = record.plausible_for(table)
    device = plausible.device if plausible else record.devices[0]
    pairs = len(record.devices) * len(record.settings)

    def modelled(cell):
        return lambda f: cell(f) if f.modelled else ""

    columns = [
        left("figure", lambda f: f.label + (f" ({', '.join(f.overrides)})" if f.overrides else "")),
        Column("px", lambda f: str(f.resolution)),
        Column("it/s", lambda f: f"{f.published_it_s:g}"),
        Column("GMACs", lambda f: f"{f.gmacs:.1f}" if f.modelled else "not modelled"),
        Column("TFLOP/s", modelled(lambda f: f"{f.implied_tflops:.1f}")),
        *(Column(s.key, lambda f, k=s.key: _fraction(f, device, k)) for s in record.settings),
        Column("feasible pairs", modelled(lambda f: f"{len(f.feasible_on)}/{pairs}")),
    ]
    title = (
        f"{table.replace('table', 'Table ')}: published / bound on {device} "
        "(above 100 %: the figure cannot be true there)"
    )
    show_table(columns, [f for f in record.figures if f.table == table], title)
    if plausible is not None:
        verdict = "explains every figure" if plausible.all_feasible else "explains most figures"
        stdout.print(
            f"most plausible: {plausible.device}, setting '{plausible.setting}' ({verdict}; "
            f"tightest compute-bound figure at {plausible.max_fraction:.0%} of its bound): "
            f"{plausible.evidence}"
        )
        if plausible.ties:
            stdout.print("  within the tie margin: " + ", ".join(plausible.ties))


def _ratio_table(record) -> None:
    devices = list(dict.fromkeys(p.device for p in record.plausible))
    rows = []
    for claim in dict.fromkeys(r.claim for r in record.ratios):
        ratios = [r for r in record.ratios if r.claim == claim]
        for device in devices:
            by_setting = {r.setting: r.bound_ratio for r in ratios if r.device == device}
            rows.append((claim, ratios[0].published, device, by_setting))
    columns = [
        left("ratio", lambda row: row[0]),
        Column("published", lambda row: f"{row[1]:.2f}x"),
        left("device", lambda row: row[2]),
        *(Column(s.key, lambda row, k=s.key: f"{v:.2f}x" if (v := row[3].get(k)) else "—")
          for s in record.settings),
    ]  # fmt: skip
    show_table(columns, rows, "The paper's ratios beside the bounds' (images/s ratio)")


def _print(record) -> None:
    stdout.print(f"[bold]{record.label}[/] (batch {record.batch})")
    for s in record.settings:
        if s.per_family:
            what = "; ".join(f"{family}: {text}" for family, text in s.per_family.items())
        else:
            what = f"{s.precision}; {s.kernels}"
        stdout.print(f"setting {s.key} ({s.title}): {what}")
    for table in record.tables:
        _figure_table(record, table)
    infeasible = [f for f in record.figures if f.infeasible]
    stdout.print(
        "infeasible on every modelled device and setting: " + ("none" if not infeasible else "")
    )
    for f in infeasible:
        stdout.print(f"  {f.label} ({f.table}): {f.arithmetic}")
    if record.ratios:
        _ratio_table(record)
    for item in record.inconsistencies:
        stdout.print(f"inconsistent: {item.text}")
    skipped = sorted({f.label for f in record.figures if not f.modelled})
    if skipped:
        stdout.print("not modelled (no fcdmbench model): " + ", ".join(skipped))
    stdout.print("evidence per setting: fcdmbench audit --json - (settings[].evidence)")
    stdout.print("assumptions: " + "; ".join(record.assumptions) + ".")
