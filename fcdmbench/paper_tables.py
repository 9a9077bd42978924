"""The seed paper's tables as data (filled in by the paper-data work; see published.py)."""

from __future__ import annotations

from fcdmbench.published import PublishedResult

ROWS: tuple[PublishedResult, ...] = ()
