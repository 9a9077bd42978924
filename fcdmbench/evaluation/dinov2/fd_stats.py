"""Fréchet statistics accumulated in float64 sums, and edm2's reference ``.pkl`` files.

`FeatureMoments` keeps ``n``, ``sum x`` and ``sum x x^T`` in float64, as NVlabs/edm2 4bf8162
``calculate_metrics.py`` (``calculate_stats_for_iterable``) does, so that batches add up
exactly as the whole set would; ``mu = sum / n`` and
``sigma = (sum x x^T - n mu mu^T) / (n - 1)``.

edm2 publishes reference statistics as pickles of ``{metric: {"mu": array, "sigma": array}}``.
`read_stats_pickle` reads them with an unpickler that builds only numpy arrays and dicts: any
other global (a class, a function) is refused before it is created, so a hostile file cannot run
code.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fcdmbench.errors import InputError
from fcdmbench.evaluation.statistics import FIDStats

__all__ = ["FeatureMoments", "read_stats_pickle"]


@dataclass(frozen=True, slots=True, eq=False)
class FeatureMoments:
    """``n``, ``sum x`` (D,) and ``sum x x^T`` (D, D) of a feature set, float64."""

    count: int
    total: np.ndarray
    outer: np.ndarray

    @classmethod
    def empty(cls, dim: int) -> FeatureMoments:
        return cls(0, np.zeros(dim, np.float64), np.zeros((dim, dim), np.float64))

    @classmethod
    def of(cls, features: np.ndarray) -> FeatureMoments:
        """Moments of ``(N, D)`` features (converted to float64 first, as edm2 does)."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2:
            raise InputError(f"features must be (N, D), got {x.shape}", hint="one row per image")
        return cls(len(x), x.sum(0), x.T @ x)

    def __add__(self, other: FeatureMoments) -> FeatureMoments:
        return FeatureMoments(
            self.count + other.count, self.total + other.total, self.outer + other.outer
        )

    def to_stats(self) -> FIDStats:
        """Mean and covariance (edm2's formula).

        Raises:
            InputError: fewer than 2 images (no covariance).
        """
        if self.count < 2:
            raise InputError(
                f"FD-DINOv2 needs at least 2 images for a covariance, got {self.count}",
                hint="evaluate more images",
            )
        mu = self.total / self.count
        sigma = (self.outer - np.outer(mu, mu) * self.count) / (self.count - 1)
        return FIDStats(mu, sigma)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays, dicts, lists and scalars; refuses every other global."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed")


def read_stats_pickle(path: Path, metric: str = "fd_dinov2") -> FIDStats:
    """`metric`'s ``mu``/``sigma`` from an edm2 reference ``.pkl``, read without running code.

    Raises:
        InputError: the pickle holds anything but dicts and arrays, or lacks `metric`.
    """
    hint = (
        "pass an edm2 reference .pkl (dict of {'fd_dinov2': {'mu', 'sigma'}}) or an npz of "
        "reference images; fcdmbench never unpickles other objects"
    )
    try:
        obj = _ArraysOnly(io.BytesIO(Path(path).read_bytes())).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise InputError(f"{path} is not a pickle of arrays only ({exc})", hint=hint) from None
    entry = obj.get(metric) if isinstance(obj, dict) else None
    if not isinstance(entry, dict) or not {"mu", "sigma"} <= entry.keys():
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise InputError(f"{path} has no '{metric}' statistics (it holds {keys})", hint=hint)
    mu, sigma = entry["mu"], entry["sigma"]
    if not all(isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in (mu, sigma)):
        raise InputError(f"{path}: '{metric}' mu/sigma are not float arrays", hint=hint)
    return FIDStats(mu.astype(np.float64), sigma.astype(np.float64))
