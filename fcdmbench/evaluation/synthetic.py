"""Deterministic synthetic Inception-like activations for parity tests and benchmarks.

The recipe is fixed: the parity fixture ``tests/fixtures/adm_metrics.json`` stores numbers that
ADM's own metric code produced on these arrays, with their sha256, so a change here is caught.
Vectors are non-negative (like pool_3 after ReLU and average pooling), low-rank plus noise, so
that precision and recall land strictly between 0 and 1.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["array_sha256", "make_activations"]

_BASIS_SEED = 20210701


def make_activations(
    seed: int,
    num: int,
    dim: int = 2048,
    *,
    rank: int = 32,
    shift: float = 0.0,
    noise: float = 0.5,
    scale: float = 1.0,
) -> np.ndarray:
    """Return ``(num, dim)`` float32 activations from a seeded recipe.

    All sets share one random basis (seeded by a constant), so sets with different `seed` come
    from nearby distributions; `shift` moves a set away from the others.

    Example:
        ref = make_activations(0, 2500)
    """
    basis = np.random.default_rng(_BASIS_SEED).standard_normal((rank, dim)) / np.sqrt(rank)
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((num, rank))
    values = latent @ basis + shift + noise * rng.standard_normal((num, dim))
    return (np.maximum(values, 0.0) * scale).astype(np.float32)


def array_sha256(array: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and C-order bytes (to detect recipe drift)."""
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
