"""Block statistics shared by the profiler and the regression gate (pure, no torch)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

__all__ = ["relative_dispersion", "summarize"]


def summarize(samples: Sequence[float]) -> dict[str, float | list[float] | None]:
    """Median, quartiles (inclusive method) and IQR of per-block samples; samples kept raw."""
    values = [float(v) for v in samples]
    if not values:
        return {"median": None, "q1": None, "q3": None, "iqr": None, "samples": []}
    if len(values) == 1:
        q1 = med = q3 = values[0]
    else:
        q1, med, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {"median": med, "q1": q1, "q3": q3, "iqr": q3 - q1, "samples": values}


def relative_dispersion(summary: dict) -> float:
    """IQR / median (0 for a single sample, inf when the median is not positive)."""
    median, iqr = summary.get("median"), summary.get("iqr")
    if median is None or iqr is None:
        return math.inf
    if median <= 0:
        return math.inf
    return float(iqr) / float(median)
