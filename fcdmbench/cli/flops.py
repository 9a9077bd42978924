"""`fcdmbench flops`: MACs per image, labelled, against published numbers and a reference model."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from fcdmbench.cli.output import Column, emit_record, fmt, left, show_table, stderr, stdout
from fcdmbench.flops.counter import Counter

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
#: Digits of each numeric column (the others print as they are).
DIGITS = {"params_m": 1, "gmacs": 2, "gflops": 2, "dense_gmacs": 2, "published_gmacs": 1,
          "delta_pct": 2, "ratio_to_ref": 3, "cfg_gmacs_per_image": 2,
          "train_gmacs_per_image": 1}  # fmt: skip

Names = Annotated[
    list[str] | None,
    typer.Argument(help="Model names or patterns (same as --models).", show_default=False),
]
Models = Annotated[
    list[str] | None,
    typer.Option(
        "--models",
        "-m",
        help="Models: several values, repeats, commas and "
        "wildcards ('fcdm-*', '*-xl*') all work; aliases resolve (dit-xl).",
        show_default=False,
    ),
]
CounterOption = Annotated[
    Counter,
    typer.Option(
        "--counter",
        case_sensitive=False,
        help="flop_counter (canonical, meta device), fvcore, "
        "torchprofile, or all (side by side, flags a disagreement over 1%).",
    ),
]
Ref = Annotated[
    str | None,
    typer.Option(
        "--ref",
        help="Reference model for the ratio column ('none': no ratio). [default: dit-xl-2]",
        show_default=False,
    ),
]
Wide = Annotated[
    bool,
    typer.Option(
        "--wide",
        help="Every column: also resolution, batch, matmul+conv+attn GMACs, CFG and "
        "training GMACs per image.",
    ),
]
JsonOut = Annotated[
    Path | None,
    typer.Option(
        "--json",
        metavar="PATH",
        help="Write a fcdmbench.flops/2 record ('-': print it to stdout instead of the table).",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("flops")(flops_command)


def flops_command(
    names: Names = None,
    models: Models = None,
    resolution: Annotated[
        int, typer.Option("--resolution", "-r", min=8, help="Image side in pixels (256, 512).")
    ] = 256,
    batch: Annotated[int, typer.Option("--batch", "-b", min=1, help="Images per forward.")] = 1,
    cfg: Annotated[
        bool, typer.Option("--cfg", help="Count 2×batch rows, as CFG sampling runs.")
    ] = False,
    counter: CounterOption = Counter.FLOP_COUNTER,
    ref: Ref = None,
    breakdown: Annotated[
        bool, typer.Option("--breakdown", help="Per-operator and per-module tables.")
    ] = False,
    wide: Wide = False,
    depth: Annotated[
        int, typer.Option("--depth", min=0, help="Module depth of the --breakdown table.")
    ] = 2,
    json_path: JsonOut = None,
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
    from fcdmbench.files import check_output
    from fcdmbench.flops.run import FlopsConfig, run_flops
    from fcdmbench.preflight import Preflight
    from fcdmbench.registry import DEFAULT_REF

    pf = Preflight()  # every problem at once, before any model is built
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
        counter=counter,
        ref=None if is_none else (ref or DEFAULT_REF),
        is_ref_explicit=ref is not None,
    )
    with _cli_objects_frozen():
        record = run_flops(
            config, progress=lambda msg: stderr.print(msg) if len(selected) > 3 else None
        )
    if emit_record(record, json_path):
        return
    if csv_path is not None:
        _write_csv(csv_path, record)
        stderr.print(f"wrote {csv_path}")
    _print_tables(record, breakdown, depth, wide)


@contextlib.contextmanager
def _cli_objects_frozen() -> Iterator[None]:
    """Python's collector leaves the objects alive before the count (typer's, rich's, the
    fcdmbench modules': kept until the process ends) out of its walks while torch is imported
    and the models counted (`gc.freeze`), and takes them back afterwards (`gc.unfreeze`): the
    collections those trigger then walk what `python -c 'import torch'` would hold, not the CLI
    as well (one full collection fewer, 0.05-0.15 s CPU). Nothing is done when torch is loaded
    already (its import is what this spares; and `gc.get_referrers`, which
    `fcdmbench.flops.skip_dynamo` uses to find torch's wrapped references, does not see frozen
    objects) or when objects are frozen already (someone else manages the permanent
    generation)."""
    import gc
    import sys

    if "torch" in sys.modules or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _cell(report, key: str) -> str:
    value = getattr(report, key)
    return fmt(value, DIGITS[key]) if key in DIGITS else str(value)


def _write_csv(path: Path, record) -> None:
    from fcdmbench.files import atomic_output

    with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([key for key, _, _ in COLUMNS] + ["counter", "cfg", "convention"])
        for report in record.results:
            values = [getattr(report, key) for key, _, _ in COLUMNS]
            writer.writerow(
                ["" if v is None else v for v in values]
                + [report.counter, report.cfg, "GMACs = multiply-adds per image"]
            )


def _caption(run, wide: bool) -> str:
    from fcdmbench.records.flops import CONVENTION, TRAIN_FACTOR

    ref = next((r.ref_model for r in run.results if r.ref_model), None)
    caption = (
        f"{CONVENTION}; GFLOPs = 2 × GMACs. Counter: {run.results[0].counter}"
        f"{' (meta device)' if run.results[0].device == 'meta' else ''}. Published: as "
        "printed (source in `fcdmbench models show`); Δ % = GMACs against it. "
        f"× ref = GMACs / {ref or 'no reference'}."
    )
    if not wide:
        return caption + " --wide: every column."
    return caption + (
        f" CFG GMACs/img = 2 rows per image per step{' (counted)' if run.cfg else ''}; "
        f"train ≈ {TRAIN_FACTOR}× forward (forward + backward, FCDM paper Fig. 6)."
    )


def _print_tables(run, breakdown: bool, depth: int, wide: bool) -> None:
    columns = [
        Column(
            header,
            lambda r, k=key: _cell(r, k),
            "left" if key == "model" else "right",
            no_wrap=key == "model",
        )  # fmt: skip
        for key, header, is_wide in COLUMNS
        if wide or not is_wide
    ]
    title = f"FLOPs at {run.resolution} px, batch {run.batch}"
    show_table(columns, run.results, title, _caption(run, wide), justify="left")
    for note in run.notes:
        stdout.print(f"note: {note}")
    if run.comparisons:
        _print_comparisons(run)
    if breakdown:
        for report in run.results:
            _print_breakdown(report, depth)


def _skipped(comparison, counter: str) -> str:
    ops = comparison.skipped_ops.get(counter, {})
    return ", ".join(f"{op}×{n}" for op, n in sorted(ops.items())) or "—"


def _print_comparisons(run) -> None:
    from fcdmbench.records.flops import DISAGREEMENT_PCT

    columns = [
        left("model", lambda c: c.model),
        *(Column(k, lambda c, k=k: fmt(c.gmacs[k], 2))
          for k in ("flop_counter", "fvcore", "torchprofile")),
        Column("max Δ %", lambda c: fmt(c.max_disagreement_pct, 2)),
        Column("flag", lambda c: "[bold red]DISAGREE[/]" if c.is_flagged else "ok"),
        *(left(f"{k} skipped", lambda c, k=k: _skipped(c, k)) for k in ("fvcore", "torchprofile")),
    ]  # fmt: skip
    caption = (
        f"flag: a counter differs from flop_counter by > {DISAGREEMENT_PCT} %; "
        "skipped = operators without a handler (counted as 0), with calls."
    )
    show_table(columns, run.comparisons, "counters side by side (GMACs per image)", caption, "left")


def _print_breakdown(report, depth: int) -> None:
    rows, total = report.rows, report.macs or 1.0
    per_image = Column("GMACs/img", lambda o: f"{o.macs / rows / 1e9:.4f}")
    share = Column("share %", lambda o: f"{100 * o.macs / total:.2f}")
    ops = [left("operator", lambda o: o.op), left("kind", lambda o: o.kind),
           Column("calls", lambda o: str(o.calls)), per_image, share]  # fmt: skip
    caption = (
        "kind: dense = matmul/conv/attention; elementwise = per-element products "
        "counted as torchprofile does; zero = computes but counted 0; view = no compute; "
        "skipped = counter has no handler."
    )
    title = f"{report.model}: by operator ({report.counter})"
    show_table(ops, report.ops, title, caption, justify="left", is_plain=True)
    if not report.modules:
        return
    first_seen = {m.module: i for i, m in enumerate(report.modules)}
    modules = sorted(report.modules, key=lambda m: _module_key(m.module, first_seen))
    shown = [m for m in modules if _level(m.module) <= depth]
    label = left(
        "module", lambda m: "  " * (_level(m.module) - 1) + m.module if m.module else "(model)"
    )
    title = f"{report.model}: by module (depth ≤ {depth})"
    show_table([label, per_image, share], shown, title, justify="left", is_plain=True)


def _level(module: str) -> int:
    return 0 if not module else module.count(".") + 1


def _module_key(name: str, first_seen: dict[str, int]) -> tuple:
    """Parents before children, siblings in execution order."""
    if not name:
        return ()
    parts = name.split(".")
    prefixes = [".".join(parts[: i + 1]) for i in range(len(parts))]
    return tuple(first_seen.get(p, len(first_seen)) for p in prefixes)
