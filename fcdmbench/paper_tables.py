"""The seed paper's tables as data: every printed cell of FCDM Tables 1-11, plus a few rows from
the baselines' own repositories, read from ``paper_tables.toml`` beside this module.

Seed paper: "All Convolution, No Attention: Designing Diffusion with Convolutions" (FCDM, arXiv
2603.09408), transcribed from its text (tables 1-5 in the main body, 6-11 in the appendix). Rows
the seed paper copied from other papers (its Tables 2 and 3 say "Reported values follow the
respective papers") keep the seed paper as their `source`. A "-" in the paper is None here.

Conventions:
    * ``model`` is the registry name (``fcdm-xl``, ``dit-xl-2``, ``dic-h``, ``dico-xl``) when
      fcdmbench implements or plans the model, else the paper's display name (``ADM-U``,
      ``SiT-XL/2``). Ablation configurations that are not registered models get a descriptive
      display-style name (``FCDM-L 5x5 DWConv``); the unablated default rows use the registry name.
    * The paper's "FLOPs (G)" column counts multiply-accumulates (DiT convention): it is stored
      as ``gmacs``. GFLOPs = 2 x GMACs.
    * ``setting`` makes (model, table, resolution, setting) unique and says what the row measured
      ("w/o cfg; 400K iters", "flow matching; 150K steps", "ablation: kernel size").
    * Table-specific columns live in ``extra``: ``blocks_l``, ``hidden_channels``,
      ``flops_ratio_to_dit_pct`` (Table 1), ``depths`` (Tables 10, 11), ``group`` (Table 3).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from fcdmbench.published import PublishedResult

__all__ = ["ROWS", "TABLES_PATH", "rows_for_model"]

#: The data file: one ``[[table]]`` per printed table (format in its header).
TABLES_PATH = Path(__file__).with_name("paper_tables.toml")


def _table_rows(table: dict[str, Any]) -> list[PublishedResult]:
    shared = {k: v for k, v in table.items() if k not in ("columns", "rows")}
    out = []
    for cells in table["rows"]:
        fields, extra = dict(shared), []
        for column, cell in zip(table["columns"], cells, strict=True):
            value = None if cell == "-" else cell
            if column.startswith("extra."):
                extra.append((column.removeprefix("extra."), value))
            else:
                fields[column] = value
        out.append(PublishedResult(**fields, extra=tuple(extra)))
    return out


def _load(path: Path) -> tuple[PublishedResult, ...]:
    with path.open("rb") as f:
        tables = tomllib.load(f)["table"]
    return tuple(row for table in tables for row in _table_rows(table))


ROWS: tuple[PublishedResult, ...] = _load(TABLES_PATH)


def rows_for_model(name: str) -> tuple[PublishedResult, ...]:
    """Published rows whose `model` is the registry name `name`, in the order of `ROWS`."""
    return tuple(row for row in ROWS if row.model == name)
