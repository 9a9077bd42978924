"""Pairwise squared distances for the precision/recall manifold estimator.

Two kernels, chosen by `DistanceBackend`:

- ``adm``: ADM's own arithmetic, run by TensorFlow: both blocks cast to float16, squared norms and
  ``|u|^2 - 2 u.v + |v|^2`` (clamped at 0) in float16; if any value in the block is not finite
  (float16 overflows above 65504), the whole block is recomputed from the float32 inputs. Only
  TensorFlow running these same float16 ops reproduces ADM to the sample (a float64 computation
  differs by a few samples in 3,000), so this is the reference mode.
- ``torch``: the same formula in torch, float16 on CUDA with the same per-block float32
  fallback, float32 on CPU. Faster on a GPU; its deviation from ``adm`` is measured by
  ``benchmarks/bench_eval_metrics.py`` and is a few samples at most, never zero by guarantee.

TensorFlow is imported lazily here and in `inception.py` only.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import cache

import numpy as np

from fcdmbench.errors import require

__all__ = ["DistanceBackend", "DistanceFn", "get_distance_fn"]

#: ``(U (m, D) float32, V (n, D) float32) -> (m, n) float32`` squared distances.
DistanceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


class DistanceBackend(enum.Enum):
    """Which kernel computes the manifold estimator's distances."""

    ADM = "adm"
    TORCH = "torch"


def get_distance_fn(backend: DistanceBackend, device: str | None = None) -> DistanceFn:
    """Return the distance kernel for `backend` (`device` applies to ``torch`` only).

    Raises:
        MissingExtraError: ``adm`` without TensorFlow installed.
    """
    if backend is DistanceBackend.ADM:
        return _adm_tf_kernel()
    return _torch_kernel(device)


@cache
def _adm_tf_kernel() -> DistanceFn:
    tf = require("tensorflow", "eval-cpu", "ADM's float16 precision/recall distances")

    def squared(u, v):
        norm_u = tf.reshape(tf.reduce_sum(tf.square(u), 1), [-1, 1])
        norm_v = tf.reshape(tf.reduce_sum(tf.square(v), 1), [1, -1])
        return tf.maximum(norm_u - 2 * tf.matmul(u, v, False, True) + norm_v, 0.0)

    spec = tf.TensorSpec([None, None], tf.float32)

    @tf.function(input_signature=[spec, spec])
    def block(u, v):
        half = squared(tf.cast(u, tf.float16), tf.cast(v, tf.float16))
        return tf.cond(
            tf.reduce_all(tf.math.is_finite(half)),
            lambda: tf.cast(half, tf.float32),
            lambda: squared(u, v),
        )

    def run(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return block(np.asarray(u, np.float32), np.asarray(v, np.float32)).numpy()

    return run


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
