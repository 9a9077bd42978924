"""Pairwise squared distances for the precision/recall manifold estimator.

ADM's block (`evaluations/evaluator.py`, 22e0df8) is ``max(|u|^2 - 2 u.v + |v|^2, 0)`` with both
blocks cast to float16 and every operation in float16; if any value of the block is not finite
(float16 overflows above 65504) the whole block is recomputed from the float32 inputs. Three
kernels, chosen by `DistanceBackend`:

- ``adm`` (default, ADM-exact): the float16 cast, the squared norms and the ``MatMul`` run in
  TensorFlow as the very ops of ADM's graph on the same block shapes; the element-wise rest
  (``2 p``, ``|u|^2 - 2p``, ``+ |v|^2``, ``max(., 0)``) runs in torch, in place, in float16.
  Each of those is one IEEE float16 operation, correctly rounded in both libraries (each
  computes in float32 and rounds once, which is exact for a single add, subtract or multiply of
  float16 values), so the values are the same bits; the block stays float16 (half the memory;
  converting to float32 is exact and is left to the comparisons). Any block with a non-finite
  norm, product or distance is handed whole to ``adm-graph``, so ADM's overflow fallback is
  reproduced by ADM's own ops. Tested equal to ``adm-graph``, overflow blocks included
  (tests/evaluation/test_distance.py). `SplitADMKernel.pair` also shares one product between
  the blocks ``(i, j)`` and ``(j, i)`` of the radii where a bit-for-bit check allows it; speed
  figures in docs/evaluation.md.
- ``adm-graph``: ADM's whole block graph run by TensorFlow, float32 out: the reference the
  ``adm`` kernel is tested against, and its fallback.
- ``torch``: the same formula in torch, float16 on CUDA with the same per-block float32
  fallback, float32 on CPU. Faster on a GPU; its deviation from ``adm`` is measured by
  ``benchmarks/bench_eval_metrics.py`` and is a few samples at most, never zero by guarantee.

Every kernel returns a numpy ``(m, n)`` array of float16 or float32 values. TensorFlow is
imported lazily here and in `inception.py` only.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

import numpy as np

from fcdmbench.evaluation.inception import import_tensorflow

__all__ = ["DistanceBackend", "DistanceFn", "SplitADMKernel", "get_distance_fn", "mirror_note"]

#: ``(U (m, D) float32, V (n, D) float32) -> (m, n)`` squared distances, float16 or float32.
DistanceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


class DistanceBackend(enum.Enum):
    """Which kernel computes the manifold estimator's distances."""

    ADM = "adm"
    ADM_GRAPH = "adm-graph"
    TORCH = "torch"

    @property
    def needs_tensorflow(self) -> bool:
        """Whether this kernel runs (part of) its arithmetic in TensorFlow."""
        return self is not DistanceBackend.TORCH

    @property
    def adm_exact(self) -> bool:
        """Whether this kernel reproduces ADM's distances bit for bit."""
        return self is not DistanceBackend.TORCH


#: ``(rows, cols, dim) -> True`` when ``V U^T`` equalled ``(U V^T)^T`` bit for bit: a property of
#: the ``MatMul`` kernel, so one verdict per shape serves every evaluation in the process.
_MIRROR_VERDICTS: dict[tuple[int, int, int], bool] = {}


def get_distance_fn(backend: DistanceBackend, device: str | None = None) -> DistanceFn:
    """A distance kernel for one evaluation (`device` applies to ``torch`` only).

    Each call returns a new ``adm`` kernel, whose `mirror_note` reports only its own blocks; the
    mirror verdicts and the traced TensorFlow functions are shared by the whole process.

    Raises:
        MissingExtraError: ``adm`` or ``adm-graph`` without TensorFlow installed.
    """
    if backend is DistanceBackend.ADM:
        return SplitADMKernel(_MIRROR_VERDICTS)
    if backend is DistanceBackend.ADM_GRAPH:
        return _adm_graph_kernel()
    return _torch_kernel(device)


def mirror_note(distance_fn: DistanceFn) -> str:
    """Which block shapes `distance_fn` computed once for both orders ("not used": none)."""
    return distance_fn.mirror_note() if isinstance(distance_fn, SplitADMKernel) else "not used"


def _tf():
    return import_tensorflow("ADM's float16 precision/recall distances")


def _adm_formula(tf, u, v):
    norm_u = tf.reshape(tf.reduce_sum(tf.square(u), 1), [-1, 1])
    norm_v = tf.reshape(tf.reduce_sum(tf.square(v), 1), [1, -1])
    return tf.maximum(norm_u - 2 * tf.matmul(u, v, False, True) + norm_v, 0.0)


@cache
def _adm_graph_kernel() -> DistanceFn:
    tf = _tf()
    spec = tf.TensorSpec([None, None], tf.float32)

    @tf.function(input_signature=[spec, spec])
    def block(u, v):
        half = _adm_formula(tf, tf.cast(u, tf.float16), tf.cast(v, tf.float16))
        return tf.cond(
            tf.reduce_all(tf.math.is_finite(half)),
            lambda: tf.cast(half, tf.float32),
            lambda: _adm_formula(tf, u, v),
        )

    def run(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return block(np.asarray(u, np.float32), np.asarray(v, np.float32)).numpy()

    return run


@cache
def _adm_ops() -> tuple[Any, Any]:
    """ADM's float16 cast with squared norms, and its ``MatMul``, as traced TensorFlow functions."""
    tf = _tf()
    spec = tf.TensorSpec([None, None], tf.float32)
    half_spec = tf.TensorSpec([None, None], tf.float16)

    @tf.function(input_signature=[spec])
    def half_and_norm(x):
        half = tf.cast(x, tf.float16)
        return half, tf.reduce_sum(tf.square(half), 1)

    @tf.function(input_signature=[half_spec, half_spec])
    def product(u, v):
        return tf.matmul(u, v, False, True)

    return half_and_norm, product


class SplitADMKernel:
    """ADM's block as TensorFlow's cast, norms and ``MatMul`` plus torch float16 element-wise ops.

    `pair` returns the blocks ``D(U, V)`` and ``D(V, U)``, which the radii of one set both need.
    Computing ``V U^T`` as the transpose of ``U V^T`` is exact only if the ``MatMul`` kernel adds
    each dot product in the same order whichever operand comes first; that is true of the
    kernels seen here for blocks of two or more rows and columns and false for one-row blocks
    (docs/evaluation.md), and nothing guarantees it elsewhere. So the first pair of each shape
    computes both products and compares them bit for bit; the transpose is reused for later
    pairs of that shape only if they were equal. `mirror_checks` holds each verdict (pass a
    shared dict to keep them across kernels); `shapes_used` the shapes this kernel computed.
    """

    def __init__(self, mirror_checks: dict[tuple[int, int, int], bool] | None = None) -> None:
        self._graph = _adm_graph_kernel()
        self._half_and_norm, self._product = _adm_ops()
        self.mirror_checks = {} if mirror_checks is None else mirror_checks
        self.shapes_used: set[tuple[int, int, int]] = set()

    def mirror_note(self) -> str:
        """``"600x500x2048: bit-equal, reused, ..."`` for the shapes this kernel paired."""
        checks = {k: ok for k, ok in self.mirror_checks.items() if k in self.shapes_used}
        if not checks:
            return "not used"
        return ", ".join(
            f"{r}x{c}x{d}: {'bit-equal, reused' if ok else 'differ, both computed'}"
            for (r, c, d), ok in sorted(checks.items())
        )

    def __call__(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        a, b = self._operand(u), self._operand(v)
        prod = self._torch_product(a.half, b.half)
        return self._finish(a, b, prod, _all_finite(prod))

    def pair(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(D(U, V), D(V, U))``, ADM-exact, with one product where that was verified exact."""
        import torch

        a, b = self._operand(u), self._operand(v)
        prod = self._torch_product(a.half, b.half)
        prod_finite = _all_finite(prod)
        key = (len(u), len(v), a.features.shape[1])
        self.shapes_used.add(key)
        if self.mirror_checks.get(key):
            prod_t, prod_t_finite = prod.T, prod_finite  # the same values
        else:
            prod_t = self._torch_product(b.half, a.half)
            prod_t_finite = _all_finite(prod_t)
            if key not in self.mirror_checks and min(len(u), len(v)) >= 2:
                self.mirror_checks[key] = torch.equal(prod_t, prod.T)
        return (
            self._finish(a, b, prod, prod_finite),
            self._finish(b, a, prod_t, prod_t_finite),
        )

    def _operand(self, x: np.ndarray) -> _Operand:
        import torch

        features = np.asarray(x, np.float32)
        half, norm = self._half_and_norm(features)
        norm = torch.from_numpy(norm.numpy())
        return _Operand(features, half, norm, _all_finite(norm))

    def _torch_product(self, u16, v16):
        import torch

        return torch.from_numpy(self._product(u16, v16).numpy())

    def _finish(self, a: _Operand, b: _Operand, prod, prod_finite: bool) -> np.ndarray:
        """``max(|a|^2 - 2p + |b|^2, 0)`` in float16, one rounding per op, as ADM's graph."""
        import torch

        if not (a.norm_finite and b.norm_finite and prod_finite):
            return self._graph(a.features, b.features)
        dist = torch.empty(prod.shape, dtype=prod.dtype)  # row-major even for a transpose
        torch.mul(prod, 2, out=dist)  # the product itself is never written
        torch.sub(a.norm.unsqueeze(1), dist, out=dist)
        dist.add_(b.norm.unsqueeze(0))
        dist.clamp_min_(0)
        if not _all_finite(dist):
            return self._graph(a.features, b.features)
        return dist.numpy()


class _Operand(NamedTuple):
    """One side of a block: float32 features, their float16 cast and squared norms (ADM's ops)."""

    features: np.ndarray
    half: Any  # tf.Tensor, float16
    norm: Any  # torch.Tensor, float16
    norm_finite: bool


def _all_finite(tensor) -> bool:
    """No inf or NaN (min/max propagate NaN; ~10x faster than `isfinite` on float16 CPU)."""
    import torch

    low, high = tensor.aminmax()
    return bool(torch.isfinite(low) and torch.isfinite(high))


def _torch_kernel(device: str | None) -> DistanceFn:
    import torch

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    use_half = dev.type == "cuda"

    def squared(u, v):
        norm_u = u.square().sum(1, keepdim=True)
        norm_v = v.square().sum(1).unsqueeze(0)
        return (norm_u - 2 * (u @ v.T) + norm_v).clamp_min_(0)

    def run(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        tu = torch.from_numpy(np.ascontiguousarray(u, np.float32)).to(dev)
        tv = torch.from_numpy(np.ascontiguousarray(v, np.float32)).to(dev)
        with torch.inference_mode():
            if use_half:
                out = squared(tu.half(), tv.half())
                out = out.float() if bool(torch.isfinite(out).all()) else squared(tu, tv)
            else:
                out = squared(tu, tv)
        return out.cpu().numpy()

    return run
