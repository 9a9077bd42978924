"""The split ``adm`` kernel returns ADM's graph's distances bit for bit; radii selection is exact.

``adm-graph`` runs ADM's whole float16 block graph in TensorFlow (the reference); ``adm`` runs the
norms and the product as those same TensorFlow ops and the element-wise rest in torch float16.
"""

from __future__ import annotations

import numpy as np
import pytest

from fcdmbench.errors import InputError
from fcdmbench.evaluation.metrics import compute_manifold_radii
from fcdmbench.evaluation.synthetic import make_activations

pytest.importorskip("tensorflow")

from fcdmbench.evaluation.distance import DistanceBackend, get_distance_fn  # noqa: E402


def _normal(seed, rows, dim=2048, scale=1.0):
    return (np.random.default_rng(seed).standard_normal((rows, dim)) * scale).astype(np.float32)


def _constant_rows(rows):
    out = np.full((rows, 2048), 4.0, np.float32)
    out[::3] = 3.9
    return out


CASES = {
    "inception-like": lambda: (make_activations(1, 3000), make_activations(2, 2500, shift=0.02)),
    "normal": lambda: (_normal(3, 1500), _normal(4, 1700)),
    "one-row": lambda: (_normal(5, 1), _normal(6, 900)),
    "one-column": lambda: (_normal(7, 900), _normal(8, 1)),
    "odd-shape-2023d": lambda: (
        make_activations(9, 777, dim=2023),
        make_activations(10, 1234, dim=2023),
    ),
    # Norms above 256 overflow float16 (|u|^2 > 65504): ADM recomputes the block in float32.
    "norm-overflow": lambda: (_normal(11, 600, scale=8.0), _normal(12, 500)),
    # Finite norms (32768) whose doubled product overflows: ADM's max(-inf, 0) gives 0, no fallback.
    "product-overflow": lambda: (_constant_rows(40), _constant_rows(30)),
}


@pytest.mark.parity
@pytest.mark.parametrize("name", sorted(CASES))
def test_split_kernel_equals_adm_graph(name):
    u, v = CASES[name]()
    fast = get_distance_fn(DistanceBackend.ADM)(u, v)
    graph = get_distance_fn(DistanceBackend.ADM_GRAPH)(u, v)
    assert fast.shape == graph.shape == (len(u), len(v))
    # Same values; the split kernel keeps float16 blocks (the graph casts to float32, exactly).
    np.testing.assert_array_equal(fast.astype(np.float32), graph)


def test_overflowing_block_comes_back_float32():
    u, v = CASES["norm-overflow"]()
    out = get_distance_fn(DistanceBackend.ADM)(u, v)
    assert out.dtype == np.float32 and np.isfinite(out).all() and out.max() > 65504


def test_radii_equal_partition_of_whole_rows_with_ties():
    rng = np.random.default_rng(0)
    points = rng.integers(0, 3, (700, 5)).astype(np.float32)  # many equal distances

    def exact(u, v):
        return ((u[:, None, :] - v[None, :, :]) ** 2).sum(-1).astype(np.float32)

    for k, rows, cols in [(3, 700, 700), (3, 128, 100), (1, 256, 37), (5, 70, 3)]:
        got = compute_manifold_radii(points, exact, k=k, row_batch_size=rows, col_batch_size=cols)
        want = np.partition(exact(points, points), k, axis=1)[:, k]
        np.testing.assert_array_equal(got, want)


def test_radii_need_more_than_k_vectors():
    with pytest.raises(InputError, match="more than 3"):
        compute_manifold_radii(np.zeros((3, 4), np.float32), lambda u, v: np.zeros((3, 3)), k=3)


def _split_kernel():
    from fcdmbench.evaluation.distance import SplitADMKernel

    return SplitADMKernel()  # its own mirror verdicts, not the process's


@pytest.mark.parity
def test_pair_equals_two_direct_blocks_before_and_after_the_mirror_check():
    kernel = _split_kernel()
    u, v = make_activations(13, 600), make_activations(14, 500, shift=0.02)
    direct = (kernel(u, v), kernel(v, u))
    for _ in range(2):  # the first call checks the mirror, the second may reuse it
        got = kernel.pair(u, v)
        for a, b in zip(got, direct, strict=True):
            np.testing.assert_array_equal(a, b)
    assert set(kernel.mirror_checks) == {(600, 500, 2048)}


def test_a_failed_mirror_check_computes_both_products(monkeypatch):
    import torch

    kernel = _split_kernel()
    real = kernel._torch_product
    calls = []

    def skewed(a16, b16):  # V U^T one ulp off U V^T at one entry: the mirror must be refused
        out = real(a16, b16)
        calls.append(out.shape)
        if len(calls) % 2 == 0:
            out = out.clone()
            out[0, 0] = torch.nextafter(out[0, 0], torch.tensor(torch.inf, dtype=out.dtype))
        return out

    monkeypatch.setattr(kernel, "_torch_product", skewed)
    u, v = make_activations(15, 300), make_activations(16, 200)
    kernel.pair(u, v)
    assert kernel.mirror_checks == {(300, 200, 2048): False}
    calls.clear()
    kernel.pair(u, v)
    assert calls == [(300, 200), (200, 300)]  # no reuse after a refused check


@pytest.mark.parity
def test_radii_with_mirrored_blocks_equal_adm_graph():
    x = make_activations(17, 2100, shift=0.05)
    fast = compute_manifold_radii(x, _split_kernel(), row_batch_size=700, col_batch_size=700)
    graph = get_distance_fn(DistanceBackend.ADM_GRAPH)
    ref = compute_manifold_radii(x, graph, row_batch_size=700, col_batch_size=700)
    np.testing.assert_array_equal(fast, ref)
