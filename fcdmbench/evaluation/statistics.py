"""Fréchet statistics exactly as ADM's evaluator forms them (pure, no IO).

ADM (openai/guided-diffusion 22e0df8, `evaluations/evaluator.py`) takes the mean in the
activations' own dtype (float32 from TensorFlow) and the covariance with `np.cov`, which promotes
to float64. A reference batch's stored `mu`/`sigma` (and `mu_s`/`sigma_s`) are used as stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fcdmbench.errors import InputError

__all__ = ["FIDStats", "features_to_stats"]


@dataclass(frozen=True, slots=True, eq=False)
class FIDStats:
    """Mean and covariance of one feature set (pool_3 or spatial)."""

    mu: np.ndarray
    sigma: np.ndarray

    def __post_init__(self) -> None:
        mu, sigma = np.atleast_1d(self.mu), np.atleast_2d(self.sigma)
        if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
            raise InputError(
                f"statistics have mismatched shapes: mu {mu.shape}, sigma {sigma.shape}",
                hint="mu must be (D,) and sigma (D, D)",
            )
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "sigma", sigma)

    @property
    def dim(self) -> int:
        return int(self.mu.shape[0])


def features_to_stats(features: np.ndarray) -> FIDStats:
    """Mean (in the features' dtype) and float64 covariance of ``(N, D)`` features, as ADM does.

    Example:
        stats = features_to_stats(pool_features)  # mu float32, sigma float64
    """
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] < 2:
        raise InputError(
            f"features must be (N >= 2, D), got shape {features.shape}",
            hint="pass one row per image",
        )
    return FIDStats(mu=np.mean(features, axis=0), sigma=np.cov(features, rowvar=False))
