"""The torch ``adm`` kernel returns ADM's graph's distances bit for bit; radii selection is exact.

``adm-graph`` runs ADM's whole float16 block graph in TensorFlow (the reference); ``adm`` runs
everything in torch (TensorFlow's norms reproduced by `tf_reduce`). Also: precision/recall equal
``adm-graph``'s where the products agree and stay within 2 samples where they do not (with a
negative control), the default kernel never imports TensorFlow, and the agreement holds under
each ``ATEN_CPU_CAPABILITY`` (slow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from synthetic import make_activations

from fcdmbench.errors import InputError
from fcdmbench.evaluation.metrics import compute_manifold_radii, precision_recall

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
    from fcdmbench.evaluation.distance import TorchADMKernel

    return TorchADMKernel()  # its own mirror verdicts, not the process's


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
    real = kernel._product
    calls = []

    def skewed(a16, b16):  # V U^T one ulp off U V^T at one entry: the mirror must be refused
        out = real(a16, b16)
        calls.append(out.shape)
        if len(calls) % 2 == 0:
            out = out.clone()
            out[0, 0] = torch.nextafter(out[0, 0], torch.tensor(torch.inf, dtype=out.dtype))
        return out

    monkeypatch.setattr(kernel, "_product", skewed)
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


def _tf_product(u, v):
    import tensorflow as tf

    return tf.matmul(u.astype(np.float16), v.astype(np.float16), False, True).numpy()


def _float32_product_kernel():
    """Products accumulated in float32 and rounded once: another legitimate float16 GEMM."""
    import torch

    from fcdmbench.evaluation.distance import TorchADMKernel

    class Float32Product(TorchADMKernel):
        def _product(self, u16, v16):
            return torch.mm(u16.float(), v16.float().T).half()

    return Float32Product()


def _bfloat16_product_kernel():
    """Negative control: products from bfloat16 operands (8-bit significands): wrong radii."""
    import torch

    from fcdmbench.evaluation.distance import TorchADMKernel

    class Bfloat16Product(TorchADMKernel):
        def _product(self, u16, v16):
            return torch.mm(u16.bfloat16(), v16.bfloat16().T).half()

    return Bfloat16Product()


def _samples_off(pr, ref_pr) -> int:
    """How many samples or references changed side, the larger of precision and recall."""
    return max(
        round(abs(pr.precision - ref_pr.precision) * pr.num_sample),
        round(abs(pr.recall - ref_pr.recall) * pr.num_ref),
    )


PR_BLOCKS = dict(row_batch_size=1000, col_batch_size=1000)


@pytest.fixture(scope="module")
def pr_sets():
    """Three (ref, sample) pairs with their ``adm-graph`` precision/recall (the reference)."""
    graph = get_distance_fn(DistanceBackend.ADM_GRAPH)
    out = []
    for seed in range(3):
        ref, smp = make_activations(10 + seed, 2100), make_activations(20 + seed, 1700, shift=0.02)
        out.append((ref, smp, precision_recall(ref, smp, distance_fn=graph, **PR_BLOCKS)))
    return out


@pytest.mark.parity
def test_precision_recall_equal_adm_graph_where_products_agree():
    ref, smp = make_activations(41, 1100), make_activations(42, 900, shift=0.02)
    blocks = dict(row_batch_size=500, col_batch_size=500)  # ragged last blocks, mirrored pairs
    want = precision_recall(
        ref, smp, distance_fn=get_distance_fn(DistanceBackend.ADM_GRAPH), **blocks
    )
    got = precision_recall(ref, smp, distance_fn=_split_kernel(), **blocks)
    np.testing.assert_array_equal(got.ref_radii, want.ref_radii)
    np.testing.assert_array_equal(got.sample_radii, want.sample_radii)
    assert (got.precision, got.recall) == (want.precision, want.recall)


@pytest.mark.slow
@pytest.mark.parity
def test_precision_recall_equal_adm_graph_on_three_sets(pr_sets):
    for ref, smp, want in pr_sets:
        got = precision_recall(ref, smp, distance_fn=_split_kernel(), **PR_BLOCKS)
        assert (got.precision, got.recall) == (want.precision, want.recall)
        np.testing.assert_array_equal(got.sample_radii, want.sample_radii)


@pytest.mark.slow
@pytest.mark.parity
def test_precision_recall_within_two_samples_where_products_differ(pr_sets):
    import torch

    kernel = _float32_product_kernel()
    u, v = pr_sets[0][0][:1000], pr_sets[0][1][:1000]
    ours = kernel._product(torch.from_numpy(u).half(), torch.from_numpy(v).half()).numpy()
    assert not np.array_equal(ours, _tf_product(u, v))  # the products really differ
    for ref, smp, want in pr_sets:
        got = precision_recall(ref, smp, distance_fn=_float32_product_kernel(), **PR_BLOCKS)
        assert _samples_off(got, want) <= 2


@pytest.mark.slow
@pytest.mark.parity
def test_the_two_sample_bound_can_fail(pr_sets):
    """Negative control: bfloat16 products move more than 2 samples in some set."""
    worst = max(
        _samples_off(
            precision_recall(ref, smp, distance_fn=_bfloat16_product_kernel(), **PR_BLOCKS), want
        )
        for ref, smp, want in pr_sets
    )
    assert worst > 2


def test_default_kernel_never_imports_tensorflow():
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from fcdmbench.evaluation.metrics import precision_recall\n"
        "from synthetic import make_activations\n"
        "pr = precision_recall(make_activations(1, 300), make_activations(2, 200, shift=0.02),"
        " row_batch_size=128, col_batch_size=128)\n"
        "assert 0 < pr.precision < 1 and 0 < pr.recall < 1, pr\n"
        "print('tensorflow' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "False", out.stderr


def test_overflow_without_tensorflow_falls_back_to_torch_float32(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorflow" else real_find_spec(name, *a),
    )
    u, v = CASES["norm-overflow"]()
    kernel = _split_kernel()
    with pytest.warns(RuntimeWarning, match="not TensorFlow's bit for bit"):
        out = kernel(u, v)
    u64, v64 = u.astype(np.float64), v.astype(np.float64)
    exact = (u64**2).sum(1)[:, None] - 2 * u64 @ v64.T + (v64**2).sum(1)[None, :]
    assert out.dtype == np.float32 and kernel.inexact_blocks == 1 == kernel.fallback_blocks
    np.testing.assert_allclose(out, exact, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("capability", ["default", "avx2", "avx512"])
def test_torch_ops_equal_tensorflow_under_each_cpu_capability(capability, tmp_path):
    """Norms, products and blocks bit-equal under each ATen kernel set (a fresh process each)."""
    script = Path(__file__).parents[2] / "benchmarks" / "adm_distance_agreement.py"
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability, TF_CPP_MIN_LOG_LEVEL="3")
    out = tmp_path / "agreement.json"
    subprocess.run(
        [sys.executable, str(script), "--quick", "--json", str(out)],
        env=env,
        capture_output=True,
        timeout=600,
        check=True,
    )
    figures = json.loads(out.read_text())
    if capability != "default":
        assert figures["torch_cpu_capability"].lower() in (capability, "avx512")
    differ = [r for r in figures["rows"] if r["norms_differ"] or r["products_differ"]]
    assert not differ and not [r for r in figures["rows"] if r["blocks_differ"]]


@pytest.mark.gpu
def test_cuda_products_against_tensorflow_cpu():
    """Measures (and prints) how many CUDA float16 products differ from TensorFlow's CPU ones."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device: measures tensor-core float16 products against TF CPU")
    u, v = make_activations(31, 2000), make_activations(32, 1500, shift=0.02)
    kernel = get_distance_fn(DistanceBackend.ADM, device="cuda")
    prod = kernel._product(torch.from_numpy(u).cuda().half(), torch.from_numpy(v).cuda().half())
    differ = int((prod.cpu().numpy() != _tf_product(u, v)).sum())
    blocks = int((kernel(u, v) != get_distance_fn(DistanceBackend.ADM_GRAPH)(u, v)).sum())
    print(f"cuda float16 products differing from TF CPU: {differ} of {u.shape[0] * v.shape[0]}")
    print(f"cuda blocks differing from adm-graph: {blocks}")
    ref, smp = make_activations(33, 3000), make_activations(34, 2500, shift=0.02)
    graph = precision_recall(ref, smp, distance_fn=get_distance_fn(DistanceBackend.ADM_GRAPH))
    cuda = precision_recall(ref, smp, distance_fn=kernel)
    assert _samples_off(cuda, graph) <= 2


def test_adm_exact_only_where_the_measured_products_run(monkeypatch):
    from fcdmbench.evaluation import distance

    assert DistanceBackend.ADM_GRAPH.adm_exact and not DistanceBackend.TORCH.adm_exact
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")  # ADM would run Eigen's float16 MatMul
    assert not DistanceBackend.ADM.adm_exact
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    assert DistanceBackend.ADM.adm_exact == distance._onednn_half_gemm()
