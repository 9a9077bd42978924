"""`ReportTable` -> markdown, CSV, LaTeX and one self-contained HTML page (images inline)."""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Sequence
from pathlib import Path

from fcdmbench.reporting.tables import Cell, Column, ReportTable

__all__ = [
    "DASH",
    "NOT_COMPARABLE",
    "format_delta",
    "format_measured",
    "format_published",
    "records_to_csv",
    "table_to_csv",
    "table_to_latex",
    "table_to_markdown",
    "tables_to_html",
]

DASH = "—"
#: The delta cell of a measured value that does not measure the published quantity.
NOT_COMPARABLE = "not comparable"


def format_published(value) -> str:
    """A published value as stored: shortest exact form (68.4, 2687.2, 400), '—' when absent."""
    if value is None or value == "":
        return DASH
    if isinstance(value, float):
        return repr(value) if value != int(value) or abs(value) >= 1e15 else f"{value:.1f}"
    return str(value)


def format_measured(cell: Cell, column: Column, with_on: bool = True) -> str:
    if cell.measured is None:
        return DASH
    text = f"{cell.measured.value:.{column.digits}f}"
    return f"{text} ({cell.measured.on})" if with_on else text


def format_delta(cell: Cell, column: Column) -> str:
    """Measured minus published: percent for `delta="pct"`, difference for `"abs"`."""
    published = cell.published
    if cell.measured is None or not isinstance(published, (int, float)):
        return DASH
    if not cell.measured.comparable:
        return NOT_COMPARABLE
    if column.delta == "pct":
        if published == 0:
            return DASH
        pct = 100 * (cell.measured.value - published) / published
        return f"{0.0 if abs(pct) < 0.05 else pct:+.1f}%"
    diff = cell.measured.value - published
    return f"{0.0 if abs(diff) < 0.5 * 10**-column.digits else diff:+.{column.digits}f}"


def _expanded(table: ReportTable) -> list[bool]:
    """Per column: show measured + delta sub-columns (paired and measured in at least one row)."""
    return [
        column.paired
        and any(isinstance(row[i], Cell) and row[i].measured is not None for row in table.rows)
        for i, column in enumerate(table.columns)
    ]


def _headers(table: ReportTable) -> list[str]:
    out = []
    for column, expanded in zip(table.columns, _expanded(table), strict=True):
        if expanded:
            out += [f"{column.header} (paper)", f"{column.header} (measured)", "Δ"]
        else:
            out.append(column.header)
    return out


def _display_row(table: ReportTable, row: Sequence) -> list[str]:
    out = []
    for column, value, expanded in zip(table.columns, row, _expanded(table), strict=True):
        if expanded:
            cell = value if isinstance(value, Cell) else Cell(value)
            out += [
                format_published(cell.published),
                format_measured(cell, column),
                format_delta(cell, column),
            ]
        else:
            out.append(format_published(value.published if isinstance(value, Cell) else value))
    return out


def table_to_markdown(table: ReportTable) -> str:
    """GitHub markdown: title, table, notes. Paired columns with no measured value in any row
    collapse to the paper column (CSV keeps every column)."""

    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    headers = _headers(table)
    lines = [
        f"### {table.title}",
        "",
        "| " + " | ".join(map(esc, headers)) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(map(esc, _display_row(table, row))) + " |" for row in table.rows]
    lines.append("")
    lines += [f"- {note}" for note in table.notes]
    return "\n".join(lines) + "\n"


#: The CSV columns of one paired column, after its key.
_PAIRED_CSV = ("_paper", "_measured", "_delta", "_measured_on", "_comparable")


def table_to_csv(table: ReportTable) -> str:
    """One header row; a paired column becomes five:
    ``<key>_paper``, ``<key>_measured``, ``<key>_delta``, ``<key>_measured_on`` and
    ``<key>_comparable`` (``yes``/``no``; the delta is empty when ``no``).

    Numbers are plain (no units, no thousands separators); missing values are empty.
    """
    headers = []
    for column in table.columns:
        suffixes = _PAIRED_CSV if column.paired else ("",)
        headers += [column.key + suffix for suffix in suffixes]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    for row in table.rows:
        out = []
        for column, value in zip(table.columns, row, strict=True):
            if column.paired:
                cell = value if isinstance(value, Cell) else Cell(value)
                delta = format_delta(cell, column)
                out += [
                    "" if cell.published is None else cell.published,
                    ""
                    if cell.measured is None
                    else round(cell.measured.value, max(column.digits, 4)),
                    "" if delta in (DASH, NOT_COMPARABLE) else delta.rstrip("%"),
                    "" if cell.measured is None else cell.measured.on,
                    "" if cell.measured is None else ("yes" if cell.measured.comparable else "no"),
                ]
            else:
                out.append("" if value is None else value)
        writer.writerow(out)
    return buffer.getvalue()


def records_to_csv(paths: Sequence[Path]) -> str:
    """The records a report read as one tidy CSV, one row per number
    (`fcdmbench.records.to_frame`: model, quantity, value, unit, device, precision, ...)."""
    from fcdmbench.records.frame import to_frame

    return to_frame(paths).to_csv(index=False, lineterminator="\n")


_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "—": "--",
    "Δ": r"$\Delta$",
    "×": r"$\times$",
    "→": r"$\to$",
    "*": r"$^*$",
}


def _tex(text: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)


def table_to_latex(table: ReportTable) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    headers = _headers(table)
    spec = "l" + "r" * (len(headers) - 1)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\scriptsize",
        rf"\caption{{{_tex(table.title)}}}",
        rf"\label{{tab:{table.key}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(_tex(h) for h in headers) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(_tex(c) for c in _display_row(table, row)) + r" \\" for row in table.rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [rf"\par\smallskip\noindent {_tex(note)}" for note in table.notes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def _table_to_html(table: ReportTable) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in _headers(table))
    body = []
    muted = table.muted or (False,) * len(table.rows)
    for row, grey in zip(table.rows, muted, strict=True):
        cells = []
        for text, kind in zip(_display_row(table, row), _kinds(table), strict=True):
            css = f' class="{kind}"' if kind else ""
            cells.append(f"<td{css}>{html.escape(text)}</td>")
        body.append(("<tr class=muted>" if grey else "<tr>") + "".join(cells) + "</tr>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in table.notes)
    return (
        f'<section id="{table.key}"><h2>{html.escape(table.title)}</h2>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f"<ul class=notes>{notes}</ul></section>"
    )


def _kinds(table: ReportTable) -> list[str]:
    kinds = []
    for expanded in _expanded(table):
        kinds += ["paper", "measured", "delta"] if expanded else [""]
    return kinds


_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
section{overflow-x:auto}table{border-collapse:collapse;font-size:13px;margin:.5em 0}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}td{white-space:nowrap}
td:first-child,th:first-child{text-align:left}
td.measured{background:#eef6ee}td.delta{color:#555}th{background:#f3f3f3}
tr.muted td{color:#aaa}
.notes{font-size:12px;color:#555}figure{margin:1em 0}figure img{max-width:100%}
figcaption{font-size:13px;color:#444}code{background:#f3f3f3;padding:0 3px}"""


def tables_to_html(
    title: str,
    preamble: Sequence[str],
    tables: Sequence[ReportTable],
    figures: Sequence[tuple[str, Path]],
) -> str:
    """One self-contained page: tables, then PNG figures inlined as base64 data URIs."""
    parts = [
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
    ]
    parts += [f"<p>{html.escape(p)}</p>" for p in preamble]
    parts.append(
        "<nav>"
        + " · ".join(f'<a href="#{t.key}">{html.escape(t.key)}</a>' for t in tables)
        + "</nav>"
    )
    parts += [_table_to_html(t) for t in tables]
    for caption, png in figures:
        data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
        parts.append(
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,'
            f'{data}"><figcaption>{html.escape(caption)}</figcaption></figure>'
        )
    parts.append("</body></html>")
    return "\n".join(parts)
