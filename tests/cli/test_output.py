"""`show_table`: one renderer, driven by `Column` specs, for every table the CLI prints."""

from __future__ import annotations

from types import SimpleNamespace

from fcdmbench.cli.output import Column, fmt, left, show_table


def _lines(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_columns_drive_headers_cells_and_justification(capsys):
    rows = [
        SimpleNamespace(name="fcdm-s", gmacs=3.08),
        SimpleNamespace(name="dit-xl-2", gmacs=None),
    ]
    columns = [left("model", lambda r: r.name), Column("GMACs", lambda r: fmt(r.gmacs, 2))]
    show_table(columns, rows, "title", "a caption", justify="left")
    lines = _lines(capsys)
    assert lines[0].startswith("title")
    header = next(line for line in lines if "model" in line)
    assert header.index("model") < header.index("GMACs")
    (fcdm,) = [line for line in lines if "fcdm-s" in line]
    (dit,) = [line for line in lines if "dit-xl-2" in line]
    assert "3.08" in fcdm and "—" in dit  # a missing value is an em dash
    # left-justified names start in the same column; right-justified numbers end in the same one
    assert fcdm.index("fcdm-s") == dit.index("dit-xl-2")
    assert fcdm.index("3.08") + len("3.08") == dit.index("—") + 1
    assert lines[-1] == "a caption"  # the caption follows the table as a paragraph


def test_no_cell_is_cut_off_a_terminal(capsys):
    """Off a terminal a wide table takes the width it needs (up to 200), never an ellipsis."""
    wide = "x" * 150
    show_table([left("cell", lambda r: r)], [wide])
    text = capsys.readouterr().out
    assert wide in text and "…" not in text
