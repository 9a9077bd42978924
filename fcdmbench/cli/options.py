"""Options several commands share, as typer parameter types (one definition, one help text)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["GpuKey", "Models", "RecordJson", "Resolution", "config_fields", "split_values"]

Models = Annotated[
    list[str] | None,
    typer.Option(
        "--models", "-m", help="Models: --models fcdm-xl dit-xl-2; commas, wildcards work."
    ),
]
Resolution = Annotated[int, typer.Option("--resolution", "-r", min=8, help="Image side in pixels.")]
GpuKey = Annotated[
    str,
    typer.Option(
        "--gpu",
        "--device",
        help="Device table key (a100-40gb-sxm, a100-80gb-sxm, h100-sxm, h100-pcie, h200-sxm, "
        "rtx-4090, l40s; --list-devices) or 'cpu' (calibrated on this machine).",
    ),
]


def RecordJson(schema: str) -> type:  # noqa: N802 (a type factory)
    """``--json PATH``: write the command's record (``-``: print it instead of the tables)."""
    return Annotated[
        Path | None,
        typer.Option(
            "--json", metavar="PATH", help=f"Write a fcdmbench.{schema} record ('-': stdout)."
        ),
    ]


def split_values(values: list[str] | None) -> tuple[str, ...]:
    """``["2,3", "4"]`` -> ``("2", "3", "4")``."""
    return tuple(v.strip() for value in values or () for v in value.split(",") if v.strip())


def config_fields(cls: type, options: dict, renamed: dict[str, str] | None = None) -> dict:
    """The command's `options` (name -> value) that are fields of the config dataclass `cls`,
    by name; `renamed` maps a field to its option's name where the two differ."""
    renamed = renamed or {}
    names = ((f.name, renamed.get(f.name, f.name)) for f in dataclasses.fields(cls))
    return {field: options[option] for field, option in names if option in options}
