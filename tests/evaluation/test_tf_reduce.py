"""`tf_square_norms` equals TensorFlow's CPU ``reduce_sum(square(x), 1)`` bit for bit.

Every bit is compared (float16 as uint16, float32 as uint32); the shapes cover the leaf splits
(1,600 float16 / 8,192 float32 values), ragged packets and unaligned row starts (``D`` not a
multiple of 8). The same comparison under each ``ATEN_CPU_CAPABILITY`` runs in
benchmarks/adm_distance_agreement.py (slow test in test_distance.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import make_activations

from fcdmbench.evaluation.tf_reduce import tf_square_norms

tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

DIMS = [1, 7, 8, 9, 31, 32, 33, 100, 1025, 1601, 2023, 2047, 2048, 2049, 3000, 8193]
DISTRIBUTIONS = {
    "inception-like": lambda dim: make_activations(dim, 29, dim=dim),
    "normal": lambda dim: np.random.default_rng(dim).standard_normal((29, dim)).astype(np.float32),
    "large": lambda dim: (np.random.default_rng(dim).standard_normal((29, dim)) * 40).astype(
        np.float32
    ),
    "tiny": lambda dim: (np.random.default_rng(dim).standard_normal((29, dim)) * 1e-3).astype(
        np.float32
    ),
}


def _bits(array: np.ndarray) -> np.ndarray:
    return array.view(np.uint16 if array.dtype == np.float16 else np.uint32)


def _tf_norms(x: np.ndarray, dtype) -> np.ndarray:
    return tf.reduce_sum(tf.square(tf.cast(x, dtype)), 1).numpy()


@pytest.mark.parity
@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
def test_norms_equal_tensorflow_bit_for_bit(dtype, dist):
    for dim in DIMS:
        x = DISTRIBUTIONS[dist](dim)
        want = _tf_norms(x, getattr(tf, dtype))
        got = tf_square_norms(torch.from_numpy(x).to(getattr(torch, dtype))).numpy()
        assert np.array_equal(_bits(got), _bits(want)), (dim, dist, dtype)


def test_norms_overflow_to_inf_as_tensorflow():
    x = np.full((3, 2048), 8.0, np.float32)  # squares 64, sum 131072 > 65504
    got = tf_square_norms(torch.from_numpy(x).half()).numpy()
    assert np.isinf(got).all() and np.isinf(_tf_norms(x, tf.float16)).all()


def test_a_plain_float16_sum_is_not_tensorflows():
    """Negative control: torch's own float16 row sum differs, so the test above can fail."""
    x = make_activations(3, 200)
    plain = (torch.from_numpy(x).half() ** 2).sum(1).numpy()
    assert not np.array_equal(_bits(plain), _bits(_tf_norms(x, tf.float16)))
