"""Rendering helpers shared by every command: results to stdout, progress and logs to stderr."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

from fcdmbench.files import to_jsonable

__all__ = ["emit_record", "fmt", "print_json", "print_table", "stderr", "stdout", "to_jsonable"]

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False)


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
    an ellipsis. Off a terminal (a pipe, CliRunner), where rich would assume 80 columns, the
    table takes the width it needs, up to 200. The caption follows as a paragraph wrapped to the
    table's width, but never narrower than 80 columns (or the terminal)."""
    from rich.measure import Measurement

    for column in table.columns:
        column.overflow = "fold"
    console = stdout if stdout.is_terminal else Console(width=200, highlight=False)
    caption, table.caption = table.caption, None
    console.print(table, soft_wrap=False)
    if caption:
        width = Measurement.get(console, console.options, table).maximum
        console.print(caption, width=max(width, min(80, console.width)), soft_wrap=False)


def emit_record(record: Any, json_path: Any) -> bool:
    """Handle a command's ``--json PATH|-`` option for a typed record.

    Returns True when the record went to stdout (``-``), so the command prints nothing else;
    otherwise writes it atomically to `json_path` (if given), says so on stderr, and returns False.
    """
    if json_path is None:
        return False
    if str(json_path) == "-":
        print_json(record.to_json())
        return True
    from fcdmbench.records.io import write_record

    write_record(json_path, record)
    stderr.print(f"wrote {json_path}")
    return False
