"""Pairwise squared distances for the precision/recall manifold estimator.

ADM's block (`evaluations/evaluator.py`, 22e0df8) is ``max(|u|^2 - 2 u.v + |v|^2, 0)`` with both
blocks cast to float16 and every operation in float16; if any value of the block is not finite
(float16 overflows above 65504) the whole block is recomputed from the float32 inputs. Three
kernels, chosen by `DistanceBackend`:

- ``adm`` (default, ADM-exact, torch only: TensorFlow is never imported for a finite block): the
  float16 cast (round to nearest even, as TensorFlow's ``Cast``), the squared norms in
  TensorFlow's CPU summation order (`fcdmbench.evaluation.tf_reduce`, bit for bit), the float16
  product with torch's CPU kernel (the oneDNN float16 GEMM, which gave TensorFlow's ``MatMul``
  bits at every shape measured; one-row blocks use a contiguous ``V^T`` and one-column blocks
  ``torch.mv``, which match TensorFlow's matrix-vector kernels), and the element-wise rest in
  place in float16 (each op one correctly rounded IEEE float16 operation in both libraries).
  Blocks with a non-finite norm, product or distance are recomputed in float32 as ADM does:
  by ADM's own graph where TensorFlow is installed, else in torch float32 with a warning (torch's
  float32 product is not TensorFlow's bit for bit; `TorchADMKernel.inexact_blocks` counts them).
  `TorchADMKernel.pair` shares one product between the blocks ``(i, j)`` and ``(j, i)`` of the
  radii where a bit-for-bit check allows it. Agreement table and speed: docs/evaluation.md.
- ``adm-graph``: ADM's whole block graph run by TensorFlow, float32 out: the reference the
  ``adm`` kernel is tested against (tests/evaluation/test_distance.py).
- ``torch``: the same formula in torch, float16 on CUDA with the same per-block float32
  fallback, float32 on CPU. Not ADM-exact.

`DistanceBackend.adm_exact` is true for ``adm`` only where torch runs float16 products with
oneDNN's float16 kernel (CPUs with AVX512-FP16 or AMX-FP16), the configuration in which its
products were measured equal to TensorFlow's (whose default x86 ``MatMul`` is oneDNN's), and
not with ``TF_ENABLE_ONEDNN_OPTS=0`` (ADM's evaluator would then run Eigen's kernel); elsewhere
use ``adm-graph``.

Every kernel returns a numpy ``(m, n)`` array of float16 or float32 values. TensorFlow is
imported lazily here and in `inception/tf_inception.py` only.
"""

from __future__ import annotations

import enum
import importlib.util
import os
import warnings
from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

import numpy as np

from fcdmbench.evaluation.tf_reduce import tf_square_norms

__all__ = [
    "DistanceBackend",
    "DistanceFn",
    "SplitADMKernel",
    "TorchADMKernel",
    "get_distance_fn",
    "mirror_note",
    "torch_half_products_measured",
]

#: ``(U (m, D) float32, V (n, D) float32) -> (m, n)`` squared distances, float16 or float32.
DistanceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


class DistanceBackend(enum.Enum):
    """Which kernel computes the manifold estimator's distances."""

    ADM = "adm"
    ADM_GRAPH = "adm-graph"
    TORCH = "torch"

    @property
    def needs_tensorflow(self) -> bool:
        """Whether this kernel cannot run without TensorFlow (``adm`` uses it, where installed,
        only for ADM's float32 fallback of overflowing blocks)."""
        return self is DistanceBackend.ADM_GRAPH

    @property
    def adm_exact(self) -> bool:
        """Whether this kernel reproduces ADM's distances bit for bit on this machine."""
        if self is DistanceBackend.ADM:
            return torch_half_products_measured()
        return self is DistanceBackend.ADM_GRAPH


def torch_half_products_measured() -> bool:
    """Whether torch's CPU float16 products are those measured equal to TensorFlow's here.

    They were measured equal to TensorFlow's default x86 ``MatMul`` (oneDNN) when torch runs
    them on oneDNN's float16 GEMM (CPUs with AVX512-FP16 or AMX-FP16; docs/evaluation.md). On
    other CPUs torch falls back to its own kernel, never compared; and with
    ``TF_ENABLE_ONEDNN_OPTS=0`` ADM's evaluator would itself run Eigen's float16 ``MatMul``,
    whose bits differ.
    """
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() in ("0", "false"):
        return False
    return _onednn_half_gemm()


@cache
def _onednn_half_gemm() -> bool:
    import torch

    return bool(
        torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_fp16_supported()
    )


#: ``(rows, cols, dim) -> True`` when ``V U^T`` equalled ``(U V^T)^T`` bit for bit: a property of
#: the product kernel, so one verdict per shape serves every evaluation in the process.
_MIRROR_VERDICTS: dict[tuple[int, int, int], bool] = {}


def get_distance_fn(
    backend: DistanceBackend, device: str | None = None, tensorflow_fallback: bool | None = None
) -> DistanceFn:
    """A distance kernel for one evaluation.

    `device` applies to ``torch`` (default: CUDA if available) and ``adm`` (default: CPU, the
    measured ADM-exact path; ``"cuda"`` runs the float16 products on tensor cores, not proven
    exact); `tensorflow_fallback` is `TorchADMKernel`'s. Each call returns a new ``adm`` kernel,
    whose `mirror_note` reports only its own blocks; mirror verdicts (per device) and traced
    TensorFlow functions are shared.

    Raises:
        MissingExtraError: ``adm-graph`` without TensorFlow installed.
    """
    if backend is DistanceBackend.ADM:
        dev = device or "cpu"
        shared = _MIRROR_VERDICTS if dev == "cpu" else _device_verdicts(dev)
        return TorchADMKernel(shared, device=dev, tensorflow_fallback=tensorflow_fallback)
    if backend is DistanceBackend.ADM_GRAPH:
        return _adm_graph_kernel()
    return _torch_kernel(device)


@cache
def _device_verdicts(device: str) -> dict[tuple[int, int, int], bool]:
    return {}


def mirror_note(distance_fn: DistanceFn) -> str:
    """Which block shapes `distance_fn` computed once for both orders ("not used": none)."""
    return distance_fn.mirror_note() if isinstance(distance_fn, TorchADMKernel) else "not used"


def _tf():
    from fcdmbench.evaluation.inception.tf_inception import import_tensorflow

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


class TorchADMKernel:
    """ADM's float16 block in torch alone: TensorFlow's cast, norms, product and rounding.

    `pair` returns the blocks ``D(U, V)`` and ``D(V, U)``, which the radii of one set both need.
    Computing ``V U^T`` as the transpose of ``U V^T`` is exact only if the product kernel adds
    each dot product in the same order whichever operand comes first; that is true of the
    kernels seen here for blocks of two or more rows and columns and false for one-row blocks
    (docs/evaluation.md), and nothing guarantees it elsewhere. So the first pair of each shape
    computes both products and compares them bit for bit; the transpose is reused for later
    pairs of that shape only if they were equal. `mirror_checks` holds each verdict (pass a
    shared dict to keep them across kernels); `shapes_used` the shapes this kernel computed;
    `fallback_blocks` the blocks recomputed in float32, `inexact_blocks` those of them that
    did not use ADM's graph. `tensorflow_fallback`: recompute such blocks with ADM's graph
    (True), in torch float32 (False: the torch backend, which never imports TensorFlow), or with
    ADM's graph where TensorFlow is installed (None).
    """

    def __init__(
        self,
        mirror_checks: dict[tuple[int, int, int], bool] | None = None,
        device: str = "cpu",
        tensorflow_fallback: bool | None = None,
    ) -> None:
        import torch

        self.device = torch.device(device)
        self.tensorflow_fallback = tensorflow_fallback
        self.mirror_checks = {} if mirror_checks is None else mirror_checks
        self.shapes_used: set[tuple[int, int, int]] = set()
        self.fallback_blocks = 0
        self.inexact_blocks = 0

    def mirror_note(self) -> str:
        """``"600x500x2048: bit-equal, reused, ..."`` for the shapes this kernel paired."""
        checks = {k: ok for k, ok in self.mirror_checks.items() if k in self.shapes_used}
        if not checks:
            return "not used"
        return ", ".join(
            f"{r}x{c}x{d}: {'bit-equal, reused' if ok else 'differ, both computed'}"
            for (r, c, d), ok in sorted(checks.items())
        )

    def prepare(self, x: np.ndarray) -> _Operand:
        """One block's float16 cast and norms, to pass instead of `x` to several calls."""
        return self._operand(x)

    def __call__(self, u: np.ndarray | _Operand, v: np.ndarray | _Operand) -> np.ndarray:
        a, b = self._operand(u), self._operand(v)
        prod = self._product(a.half, b.half)
        return self._finish(a, b, prod, _max_abs(prod))

    def pair(
        self, u: np.ndarray | _Operand, v: np.ndarray | _Operand
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(D(U, V), D(V, U))``, ADM-exact, with one product where that was verified exact."""
        import torch

        a, b = self._operand(u), self._operand(v)
        prod = self._product(a.half, b.half)
        prod_max = _max_abs(prod)
        key = (*a.features.shape[:1], *b.features.shape)
        self.shapes_used.add(key)
        if self.mirror_checks.get(key):
            prod_t, prod_t_max = prod.T, prod_max  # the same values
        else:
            prod_t = self._product(b.half, a.half)
            prod_t_max = _max_abs(prod_t)
            if key not in self.mirror_checks and min(key[:2]) >= 2:
                self.mirror_checks[key] = torch.equal(prod_t, prod.T)
        return (
            self._finish(a, b, prod, prod_max),
            self._finish(b, a, prod_t, prod_t_max),
        )

    def _operand(self, x: np.ndarray | _Operand) -> _Operand:
        import torch

        if isinstance(x, _Operand):
            return x
        features = np.ascontiguousarray(x, np.float32)
        half = torch.from_numpy(features).to(self.device).half()  # round to nearest even
        norm = tf_square_norms(half)
        return _Operand(features, half, norm, _max_abs(norm))

    def _product(self, u16, v16):
        """``u16 v16^T`` in float16 with the kernel TensorFlow's ``MatMul`` agreed with."""
        import torch

        if self.device.type == "cpu":
            if len(u16) == 1:
                return torch.mm(u16, v16.T.contiguous())
            if len(v16) == 1:
                return torch.mv(u16, v16[0]).unsqueeze(1)
        return torch.mm(u16, v16.T)

    def _finish(self, a: _Operand, b: _Operand, prod, prod_max: float) -> np.ndarray:
        """``max(|a|^2 - 2p + |b|^2, 0)`` in float16, one rounding per op, as ADM's graph.

        ``2p`` is exact in float16 unless it overflows (``|p| > 32752``), so while it does not,
        ``|a|^2 + (-2) p`` rounded once (one fused pass) is ADM's ``|a|^2 - 2p``; otherwise the
        doubled product is formed first, as ADM's graph does (its ``-inf`` clamps to 0). The
        finiteness of the result is checked only when the bound ``max|a|^2 + 2 max|p| +
        max|b|^2`` does not rule out an overflow.
        """
        import torch

        if max(a.norm_max, b.norm_max, prod_max) == np.inf:
            return self._fallback(a, b)
        dist = torch.empty(prod.shape, dtype=prod.dtype, device=prod.device)  # row-major
        if 2 * prod_max <= _HALF_MAX:
            torch.add(a.norm.unsqueeze(1), prod, alpha=-2, out=dist)
        else:
            torch.mul(prod, 2, out=dist)  # the product itself is never written
            torch.sub(a.norm.unsqueeze(1), dist, out=dist)
        dist.add_(b.norm.unsqueeze(0))
        dist.clamp_min_(0)
        bound = a.norm_max + 2 * prod_max + b.norm_max
        if bound >= _HALF_MAX / 2 and not _all_finite(dist):
            return self._fallback(a, b)
        return dist.cpu().numpy()

    def _fallback(self, a: _Operand, b: _Operand) -> np.ndarray:
        """ADM's float32 recomputation of a block with a non-finite float16 value."""
        import torch

        self.fallback_blocks += 1
        use_tf = self.tensorflow_fallback
        if use_tf is None:
            use_tf = importlib.util.find_spec("tensorflow") is not None
        if use_tf:
            return _adm_graph_kernel()(a.features, b.features)
        self.inexact_blocks += 1
        if self.tensorflow_fallback is None:
            warnings.warn(
                "precision/recall: a float16 block overflowed and TensorFlow is not installed; "
                "recomputing it in torch float32, whose product is not TensorFlow's bit for bit",
                RuntimeWarning,
                stacklevel=4,
            )
        u, v = torch.from_numpy(a.features), torch.from_numpy(b.features)
        dist = torch.mm(u, v.T).mul_(-2)
        dist.add_(tf_square_norms(u).unsqueeze(1)).add_(tf_square_norms(v).unsqueeze(0))
        return dist.clamp_min_(0).numpy()


#: The kernel's previous name (its norms and product ran in TensorFlow then).
SplitADMKernel = TorchADMKernel


class _Operand(NamedTuple):
    """One side of a block: float32 features, their float16 cast and squared norms."""

    features: np.ndarray
    half: Any  # torch.Tensor, float16
    norm: Any  # torch.Tensor, float16
    norm_max: float  # inf if any norm is not finite


#: The largest finite float16.
_HALF_MAX = 65504.0


def _max_abs(tensor) -> float:
    """``max |tensor|`` as a float, ``inf`` if any value is inf or NaN (one ``aminmax`` pass)."""
    low, high = (float(x) for x in tensor.aminmax())
    out = max(-low, high)
    return out if out == out else np.inf  # NaN propagates through aminmax


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
