"""Rendering helpers shared by every command: results to stdout, progress and logs to stderr."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from rich.console import Console

__all__ = ["fmt", "print_json", "print_table", "stderr", "stdout", "to_jsonable"]

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False)


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, enums, tuples and paths to plain JSON types (NaN/inf become None)."""
    import enum
    from pathlib import Path

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def print_json(obj: Any) -> None:
    """One JSON object on stdout (plain print: no rich markup or wrapping)."""
    print(json.dumps(to_jsonable(obj), indent=2))


def fmt(value: float | int | None, digits: int = 1) -> str:
    """Number for a table cell; missing values print as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def print_table(table) -> None:
    """Print a rich table on stdout without cutting any cell: columns fold instead of ending in
    an ellipsis, and off a terminal (pipes, CliRunner), where rich would assume 80 columns, the
    table gets 200."""
    for column in table.columns:
        column.overflow = "fold"
    if stdout.is_terminal:
        stdout.print(table)
        return
    Console(width=max(stdout.width, 200), highlight=False, soft_wrap=True).print(table)
