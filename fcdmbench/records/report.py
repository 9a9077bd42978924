"""``fcdmbench.report/2``: the manifest `fcdmbench report` writes into its output folder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from fcdmbench.records._base import Record, RunInfo

__all__ = ["ReportManifest"]


@dataclass(frozen=True, slots=True)
class ReportManifest(Record):
    """What a report was built from and what it contains (paths relative to the folder)."""

    SCHEMA: ClassVar[str] = "fcdmbench.report/2"

    run: RunInfo
    files: tuple[str, ...]
    tables: tuple[str, ...]
    figures: tuple[str, ...]
    measured_cells: int
    inputs: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    local_device: str = ""
    torch: str = ""
