"""`fcdmbench flops`: MACs per image, labelled, against published numbers and a reference model."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer

from fcdmbench.cli.output import emit_record, fmt, print_table, stderr, stdout

#: Columns of the table and of ``--csv`` (key, header, shown only with ``--wide``). The default
#: table fits 100 columns; ``--json`` always carries every field.
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("model", "model", False),
    ("resolution", "res", True),
    ("batch", "batch", True),
    ("params_m", "params (M)", False),
    ("gmacs", "GMACs", False),
    ("gflops", "GFLOPs", False),
    ("dense_gmacs", "matmul+conv+attn GMACs", True),
    ("published_gmacs", "published GMACs", False),
    ("delta_pct", "Δ %", False),
    ("ratio_to_ref", "× ref", False),
    ("cfg_gmacs_per_image", "CFG GMACs/img", True),
    ("train_gmacs_per_image", "train GMACs/img", True),
)


def register(app: typer.Typer) -> None:
    app.command("flops")(flops_command)


def flops_command(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Model names or patterns (same as --models).", show_default=False),
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--models",
            "-m",
            help="Models: several values, repeats, commas and "
            "wildcards ('fcdm-*', '*-xl*') all work; aliases resolve (dit-xl).",
            show_default=False,
        ),
    ] = None,
    resolution: Annotated[
        int, typer.Option("--resolution", "-r", min=8, help="Image side in pixels (256, 512).")
    ] = 256,
    batch: Annotated[int, typer.Option("--batch", "-b", min=1, help="Images per forward.")] = 1,
    cfg: Annotated[
        bool, typer.Option("--cfg", help="Count 2×batch rows, as CFG sampling runs.")
    ] = False,
    counter: Annotated[
        str,
        typer.Option(
            "--counter",
            help="flop_counter (canonical, meta device), fvcore, "
            "torchprofile, or all (side by side, flags a disagreement over 1%).",
        ),
    ] = "flop_counter",
    ref: Annotated[
        str | None,
        typer.Option(
            "--ref",
            help="Reference model for the ratio column ('none': no ratio). [default: dit-xl-2]",
            show_default=False,
        ),
    ] = None,
    breakdown: Annotated[
        bool, typer.Option("--breakdown", help="Per-operator and per-module tables.")
    ] = False,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide",
            help="Every column: also resolution, batch, matmul+conv+attn GMACs, CFG and "
            "training GMACs per image.",
        ),
    ] = False,
    depth: Annotated[
        int, typer.Option("--depth", min=0, help="Module depth of the --breakdown table.")
    ] = 2,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json",
            metavar="PATH",
            help="Write a fcdmbench.flops/2 record ('-': print it to stdout instead of the table).",
        ),
    ] = None,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", metavar="PATH", help="Write the table as CSV.")
    ] = None,
) -> None:
    """Count MACs per image (the DiT/paper convention).

    GMACs count a multiply-add once (the papers' "GFLOPs" column); GFLOPs = 2 x GMACs. The
    default table fits 100 columns; --wide adds every column (all are always in --json).

    Example: fcdmbench flops --models fcdm-xl dit-xl
    """
    from fcdmbench.cli.selection import select_models
    from fcdmbench.errors import ConfigError
    from fcdmbench.flops.counter import Counter
    from fcdmbench.flops.run import FlopsConfig, run_flops
    from fcdmbench.preflight import Preflight, check_output
    from fcdmbench.registry import DEFAULT_REF

    def parse_counter() -> Counter:
        try:
            return Counter(counter.lower())
        except ValueError:
            raise ConfigError(
                f"unknown counter {counter!r}",
                hint="choose one of: " + ", ".join(c.value for c in Counter),
            ) from None

    pf = Preflight()  # every problem at once, before any model is built
    counter_choice = pf.check(parse_counter)
    selected = pf.check(select_models, [*(models or []), *(names or [])])
    for path in (json_path, csv_path):
        if path is not None and str(path) != "-":
            pf.check(check_output, path)
    pf.raise_all()
    is_none = ref is not None and ref.lower() == "none"
    config = FlopsConfig(
        models=tuple(selected),
        resolution=resolution,
        batch=batch,
        cfg=cfg,
        counter=counter_choice,
        ref=None if is_none else (ref or DEFAULT_REF),
        is_ref_explicit=ref is not None,
    )
    record = run_flops(
        config, progress=lambda msg: stderr.print(msg) if len(selected) > 3 else None
    )
    if emit_record(record, json_path):
        return
    if csv_path is not None:
        _write_csv(csv_path, record)
        stderr.print(f"wrote {csv_path}")
    _print_tables(record, breakdown, depth, wide)


def _row(report) -> dict:
    return {key: getattr(report, key) for key, _, _ in COLUMNS}


def _write_csv(path: Path, record) -> None:

    from fcdmbench.files import atomic_output

    with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([key for key, _, _ in COLUMNS] + ["counter", "cfg", "convention"])
        for report in record.results:
            row = _row(report)
            writer.writerow(
                [row[k] if row[k] is not None else "" for k, _, _ in COLUMNS]
                + [report.counter, report.cfg, "GMACs = multiply-adds per image"]
            )


def _print_tables(run, breakdown: bool, depth: int, wide: bool) -> None:
    from rich.table import Table

    from fcdmbench.records.flops import CONVENTION, TRAIN_FACTOR

    ref = next((r.ref_model for r in run.results if r.ref_model), None)
    caption = (
        f"{CONVENTION}; GFLOPs = 2 × GMACs. Counter: {run.results[0].counter}"
        f"{' (meta device)' if run.results[0].device == 'meta' else ''}. Published: as "
        "printed (source in `fcdmbench models show`); Δ % = GMACs against it. "
        f"× ref = GMACs / {ref or 'no reference'}."
    )
    if wide:
        caption += (
            f" CFG GMACs/img = 2 rows per image per step{' (counted)' if run.cfg else ''}; "
            f"train ≈ {TRAIN_FACTOR}× forward (forward + backward, FCDM paper Fig. 6)."
        )
    else:
        caption += " --wide: every column."
    columns = [(key, header) for key, header, is_wide in COLUMNS if wide or not is_wide]
    table = Table(
        title=f"FLOPs at {run.resolution} px, batch {run.batch}",
        caption=caption,
        title_justify="left",
        caption_justify="left",
    )
    for key, header in columns:
        table.add_column(
            header, justify="left" if key == "model" else "right", no_wrap=key == "model"
        )
    digits = {
        "params_m": 1,
        "gmacs": 2,
        "gflops": 2,
        "dense_gmacs": 2,
        "published_gmacs": 1,
        "delta_pct": 2,
        "ratio_to_ref": 3,
        "cfg_gmacs_per_image": 2,
        "train_gmacs_per_image": 1,
    }
    for report in run.results:
        row = _row(report)
        table.add_row(
            *[str(row[k]) if k not in digits else fmt(row[k], digits[k]) for k, _ in columns]
        )
    print_table(table)
    for note in run.notes:
        stdout.print(f"note: {note}")
    if run.comparisons:
        _print_comparisons(run)
    if breakdown:
        for report in run.results:
            _print_breakdown(report, depth)


def _print_comparisons(run) -> None:
    from rich.table import Table

    from fcdmbench.records.flops import DISAGREEMENT_PCT

    table = Table(
        title="counters side by side (GMACs per image)",
        title_justify="left",
        caption=f"flag: a counter differs from flop_counter by > {DISAGREEMENT_PCT} %; "
        "skipped = operators without a handler (counted as 0), with calls.",
        caption_justify="left",
    )
    for header in (
        "model",
        "flop_counter",
        "fvcore",
        "torchprofile",
        "max Δ %",
        "flag",
        "fvcore skipped",
        "torchprofile skipped",
    ):
        table.add_column(
            header, justify="left" if "skipped" in header or header == "model" else "right"
        )
    for c in run.comparisons:
        skipped = {
            k: ", ".join(f"{op}×{n}" for op, n in sorted(v.items())) or "—"
            for k, v in c.skipped_ops.items()
        }
        table.add_row(
            c.model,
            fmt(c.gmacs["flop_counter"], 2),
            fmt(c.gmacs["fvcore"], 2),
            fmt(c.gmacs["torchprofile"], 2),
            fmt(c.max_disagreement_pct, 2),
            "[bold red]DISAGREE[/]" if c.is_flagged else "ok",
            skipped.get("fvcore", "—"),
            skipped.get("torchprofile", "—"),
        )
    print_table(table)


def _print_breakdown(report, depth: int) -> None:
    from rich.table import Table

    rows = report.rows
    total = report.macs or 1.0
    ops = Table(
        title=f"{report.model}: by operator ({report.counter})",
        title_justify="left",
        caption="kind: dense = matmul/conv/attention; elementwise = per-element products "
        "counted as torchprofile does; zero = computes but counted 0; view = no compute; "
        "skipped = counter has no handler.",
        caption_justify="left",
    )
    for header in ("operator", "kind", "calls", "GMACs/img", "share %"):
        ops.add_column(header, justify="left" if header in ("operator", "kind") else "right")
    for o in report.ops:
        ops.add_row(
            o.op, o.kind, str(o.calls), f"{o.macs / rows / 1e9:.4f}", f"{100 * o.macs / total:.2f}"
        )
    stdout.print(ops)
    if not report.modules:
        return
    mods = Table(title=f"{report.model}: by module (depth ≤ {depth})", title_justify="left")
    for header in ("module", "GMACs/img", "share %"):
        mods.add_column(header, justify="left" if header == "module" else "right")
    first_seen = {m.module: i for i, m in enumerate(report.modules)}
    for m in sorted(report.modules, key=lambda m: _module_key(m.module, first_seen)):
        level = 0 if not m.module else m.module.count(".") + 1
        if level > depth:
            continue
        label = "(model)" if not m.module else "  " * (level - 1) + m.module
        mods.add_row(label, f"{m.macs / rows / 1e9:.4f}", f"{100 * m.macs / total:.2f}")
    stdout.print(mods)


def _module_key(name: str, first_seen: dict[str, int]) -> tuple:
    """Parents before children, siblings in execution order."""
    if not name:
        return ()
    parts = name.split(".")
    prefixes = [".".join(parts[: i + 1]) for i in range(len(parts))]
    return tuple(first_seen.get(p, len(first_seen)) for p in prefixes)
