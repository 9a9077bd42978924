"""Rendering shared by every command: results to stdout, progress and logs to stderr.

Every table goes through `show_table`, driven by `Column` specs: a header, how the cell is
justified and wrapped, and a function from the row to the cell's text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from rich.console import Console

from fcdmbench.files import to_jsonable

__all__ = ["Column", "emit_record", "fmt", "left", "print_json", "show_table", "stderr", "stdout"]

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


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: `cell` turns a row into the cell's text (rich markup allowed)."""

    header: str
    cell: Callable[[Any], str]
    justify: Literal["left", "right"] = "right"
    no_wrap: bool = False
    style: str | None = None


def left(header: str, cell: Callable[[Any], str], **kw: Any) -> Column:
    """A left-justified column (names, labels)."""
    return Column(header, cell, justify="left", **kw)


def show_table(
    columns: Iterable[Column],
    rows: Iterable[Any],
    title: str | None = None,
    caption: str | None = None,
    justify: Literal["left", "center"] = "center",
    is_plain: bool = False,
) -> None:
    """Print `rows` as a table of `columns` on stdout; `justify` places the title and caption.

    Through `print_table` (no cell cut, caption as a paragraph), or with `is_plain` as rich
    prints a table on its own (the console's width, the caption inside the table's width)."""
    from rich.table import Table

    columns = list(columns)
    table = Table(title=title, caption=caption, title_justify=justify, caption_justify=justify)
    for c in columns:
        table.add_column(c.header, justify=c.justify, no_wrap=c.no_wrap, style=c.style)
    for row in rows:
        table.add_row(*(c.cell(row) for c in columns))
    if is_plain:
        stdout.print(table)
    else:
        _print_table(table)


def _print_table(table) -> None:
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
