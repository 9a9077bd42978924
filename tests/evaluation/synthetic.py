"""Deterministic synthetic inputs for the evaluator's tests and benchmarks: Inception-like
activations (`make_activations`) and DINOv2 weights (`seeded_state_dict`).

Test support (tests and benchmarks/ import it; the package does not ship it).

The activations' recipe is fixed: the parity fixture ``tests/fixtures/adm_metrics.json`` stores
numbers that ADM's own metric code produced on these arrays, with their sha256, so a change here
is caught. Vectors are non-negative (like pool_3 after ReLU and average pooling), low-rank plus
noise, so that precision and recall land strictly between 0 and 1.
"""

from __future__ import annotations

import hashlib

import numpy as np

from fcdmbench.evaluation.dinov2.network import DINOV2_VITL14, DinoV2Config, build_dinov2

__all__ = ["array_sha256", "make_activations", "seeded_state_dict"]

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


def seeded_state_dict(config: DinoV2Config = DINOV2_VITL14, seed: int = 0) -> dict:
    """Random weights in the official key layout, the same on any machine for a seed.

    Stand-in for the real checkpoint in tests and benchmarks: each tensor, in sorted key order,
    is drawn from one CPU `torch.Generator`; matrices ~ N(0, 0.02), norms' weights ~ 1 + N(0,
    0.1), layer scales ~ U(0.05, 0.25) (large enough that every block moves the features).
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.device("meta"):  # shapes only: no time spent initialising (2.4 s for ViT-L)
        shapes = {k: v.shape for k, v in build_dinov2(config).state_dict().items()}
    out = {}
    for key in sorted(shapes):
        shape = shapes[key]
        if key.endswith(".gamma"):
            value = 0.05 + 0.2 * torch.rand(shape, generator=gen)
        elif "norm" in key and key.endswith(".weight"):
            value = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            value = 0.02 * torch.randn(shape, generator=gen)
        out[key] = value
    return out
