"""`fcdmbench models list|show`: the registry, without importing torch."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from fcdmbench.cli.output import Column, fmt, left, print_json, show_table, stdout
from fcdmbench.registry import get_spec, list_models, resolve

models_app = typer.Typer(no_args_is_help=True, help="List and inspect registered models.")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


#: The columns of `models list`.
LIST_COLUMNS = (
    left("name", lambda r: r["name"], no_wrap=True),
    left("paper name", lambda r: r["display_name"]),
    left("family", lambda r: r["family"]),
    Column("params (exact)", lambda r: f"{r['params']:,}", no_wrap=True),
    Column("params M", lambda r: fmt(r["params_m"], 2)),
    Column("published GMACs @256", lambda r: fmt(r["published_gmacs_256"])),
    left("resolutions", lambda r: ", ".join(map(str, r["resolutions"]))),
)
#: The published numbers `models show` can list (those some row has).
PUBLISHED = ("source", "resolution", "setting", "params_m", "gmacs", "throughput_it_s",
             "training_steps", "cfg_scale", "fid", "sfid", "inception_score", "precision",
             "recall")  # fmt: skip


def _row(name: str) -> dict:
    spec = get_spec(name)
    return {
        "name": spec.name,
        "display_name": spec.display_name,
        "family": spec.family,
        "params": spec.num_params(),
        "params_m": round(spec.num_params() / 1e6, 2),
        "published_gmacs_256": spec.published_value("gmacs", 256),
        "published_params_m": spec.published_value("params_m", 256),
        "resolutions": list(spec.resolutions),
        "aliases": list(spec.aliases),
    }


@models_app.command("list")
def list_command(
    patterns: Annotated[
        list[str] | None,
        typer.Argument(help="fnmatch patterns, e.g. 'fcdm-*' '*-xl*' (default: all)."),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", "-x", help="Patterns to leave out.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List registered models, exact parameters and published GMACs.

    Example: fcdmbench models list 'fcdm-*'
    """
    from fcdmbench.errors import UnknownModelError

    names = list_models(patterns or "*", exclude=exclude or ())
    if not names:
        raise UnknownModelError(
            f"no registered model matches {patterns or ['*']}",
            hint="run `fcdmbench models list` to see every name",
        )
    rows = [_row(n) for n in names]
    if as_json:
        print_json(rows)
        return
    show_table(LIST_COLUMNS, rows, "fcdmbench models", justify="left")
    stdout.print("GMACs = multiply-accumulates per image, one forward, batch 1 (DiT convention).")


@models_app.command("show")
def show_command(
    name: Annotated[
        str, typer.Argument(help="Model name, any spelling: fcdm-xl, FCDM-XL, DiT-XL/2.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Show a model's config, inputs, upstream and published numbers.

    Each published number is shown with its source (paper and table).

    Example: fcdmbench models show FCDM-XL
    """

    spec, _ = resolve(name)
    info = {
        **_row(spec.name),
        "paper": dataclasses.asdict(spec.paper_info),
        "upstream": dataclasses.asdict(spec.upstream),
        "config": dataclasses.asdict(spec.config),
        "input_shapes": {str(r): list(spec.input_shape(r)) for r in spec.resolutions},
        "call": "model(x, t, y)",
        "cfg_method": spec.cfg_method,
        "published": [
            {k: v for k, v in dataclasses.asdict(row).items() if v not in (None, "")}
            for row in spec.published
        ],
    }
    if as_json:
        print_json(info)
        return
    stdout.print(f"[bold]{spec.display_name}[/] ({spec.name}), family {spec.family}")
    stdout.print(f"paper: {spec.paper_info.title} (arXiv {spec.paper_info.arxiv or '—'})")
    up = spec.upstream
    stdout.print(f"upstream: {up.repo} @ {up.commit[:7]} ({up.path}, {up.license})")
    stdout.print(f"params: {spec.num_params():,} (exact)")
    shapes = ", ".join(
        f"{r} px -> {'x'.join(map(str, spec.input_shape(r)))}" for r in spec.resolutions
    )
    stdout.print(f"latent input (C x H x W): {shapes}")
    stdout.print("config: " + ", ".join(f"{k}={v}" for k, v in info["config"].items()))
    if not spec.published:
        stdout.print("published numbers: none recorded")
        return
    used = [c for c in PUBLISHED if any(row.get(c) is not None for row in info["published"])]
    columns = [left(c, lambda row, c=c: str(row.get(c, "—"))) for c in used]
    title = "published numbers (as printed; not measured by fcdmbench)"
    show_table(columns, info["published"], title, justify="left")
