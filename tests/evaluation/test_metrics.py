"""Parity of every metric with ADM's own metric code (numbers in tests/fixtures/adm_metrics.json).

The activations are regenerated here from tests/evaluation/synthetic.py (seeded recipe); the
fixture stores their sha256 so a drifting recipe fails loudly instead of comparing wrong data.
Tolerances:

- precision/recall (the default ``adm`` kernel runs in torch; TensorFlow's ops reproduced): ADM's
  float16 distances come from TensorFlow's float16 ``MatMul``, whose CPU
  kernel (oneDNN or Eigen, native AVX512-FP16 or not) differs between machines, so the radii are
  CPU dependent (the fixture's radii sha256 held on the Intel machine that made it, not on an
  AMD EPYC). Hence two checks: radii and precision/recall *bit-exact* against ADM's estimator
  spelled out in this file (`_adm_manifold_estimator`: its block loops, `np.partition` and
  float32 ``<=``) on ADM's own TensorFlow graph (the ``adm-graph`` backend) run on this CPU;
  and precision/recall against the numbers ADM's code printed (the fixture) to one sample
  (1 / N of the set).
- FID with SqrtmMethod.ADM to 1e-12 relative (same scipy calls; observed bit-identical);
  Inception Score to 1e-5 relative (numpy float32 softmax vs TensorFlow's).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from synthetic import array_sha256, make_activations

from fcdmbench.errors import InputError
from fcdmbench.evaluation.distance import DistanceBackend
from fcdmbench.evaluation.metrics import (
    SqrtmMethod,
    compute_manifold_radii,
    frechet_distance,
    logits_to_inception_score,
    precision_recall,
)
from fcdmbench.evaluation.statistics import features_to_stats

GOLDEN = json.loads((Path(__file__).parents[1] / "fixtures" / "adm_metrics.json").read_text())


def _make(spec, _unused=None):
    seed, num, kwargs = spec
    return make_activations(seed, num, **kwargs)


def _scaled(arr, rows):
    if rows:
        start, stop, factor = rows
        arr[int(start) : int(stop)] *= np.float32(factor)
    return arr


def _pr_inputs(case):
    recipe = case["recipe"]
    ref = _scaled(_make(recipe["ref"], None), recipe.get("ref_scaled_rows"))
    smp = _scaled(_make(recipe["sample"], None), recipe.get("sample_scaled_rows"))
    assert array_sha256(ref) == case["ref_sha256"], "synthetic recipe drifted (ref)"
    assert array_sha256(smp) == case["sample_sha256"], "synthetic recipe drifted (sample)"
    return ref, smp


@pytest.fixture(scope="module")
def adm_distance():
    pytest.importorskip("tensorflow")
    from fcdmbench.evaluation.distance import DistanceBackend, get_distance_fn

    return get_distance_fn(DistanceBackend.ADM)


@pytest.fixture(scope="module")
def adm_graph():
    pytest.importorskip("tensorflow")
    from fcdmbench.evaluation.distance import DistanceBackend, get_distance_fn

    return get_distance_fn(DistanceBackend.ADM_GRAPH)


def _adm_manifold_estimator(ref, smp, distance, row_batch_size, col_batch_size, k=3):
    """ADM's `ManifoldEstimator` (guided-diffusion 22e0df8 `evaluations/evaluator.py`) written
    out: `manifold_radii` (whole row blocks, `np.partition` up to k, column k) and
    `evaluate_pr` (float32 ``distance <= radius``, OR-ed over blocks). Returns
    ``(ref_radii, sample_radii, precision, recall)``."""

    def manifold_radii(features):
        num = len(features)
        radii = np.zeros(num, np.float32)
        for begin1 in range(0, num, row_batch_size):
            end1 = min(begin1 + row_batch_size, num)
            block = np.zeros((end1 - begin1, num), np.float32)
            for begin2 in range(0, num, col_batch_size):
                end2 = min(begin2 + col_batch_size, num)
                block[:, begin2:end2] = distance(features[begin1:end1], features[begin2:end2])
            radii[begin1:end1] = np.partition(block, np.arange(k + 1), axis=1)[:, k]
        return radii

    ref_radii, smp_radii = manifold_radii(ref), manifold_radii(smp)
    ref_in = np.zeros(len(ref), bool)
    smp_in = np.zeros(len(smp), bool)
    for begin1 in range(0, len(ref), row_batch_size):
        rows = slice(begin1, begin1 + row_batch_size)
        for begin2 in range(0, len(smp), col_batch_size):
            cols = slice(begin2, begin2 + col_batch_size)
            dist = np.asarray(distance(ref[rows], smp[cols]), np.float32)
            ref_in[rows] |= (dist <= smp_radii[cols][None, :]).any(axis=1)
            smp_in[cols] |= (dist <= ref_radii[rows][:, None]).any(axis=0)
    return ref_radii, smp_radii, float(smp_in.mean()), float(ref_in.mean())


@pytest.mark.parity
@pytest.mark.parametrize("name", sorted(GOLDEN["pr"]))
def test_precision_recall_matches_adm(name, adm_distance, adm_graph):
    case = GOLDEN["pr"][name]
    ref, smp = _pr_inputs(case)
    blocks = dict(row_batch_size=case["row_batch_size"], col_batch_size=case["col_batch_size"])
    pr = precision_recall(ref, smp, distance_fn=adm_distance, **blocks)
    # 1. Bit-exact against ADM's estimator on ADM's graph, on this CPU, where the torch kernel's
    #    products are the measured ones (DistanceBackend.ADM.adm_exact); else within 2 samples.
    ref_radii, smp_radii, precision, recall = _adm_manifold_estimator(ref, smp, adm_graph, **blocks)
    if DistanceBackend.ADM.adm_exact:
        assert np.array_equal(pr.ref_radii, ref_radii)
        assert np.array_equal(pr.sample_radii, smp_radii)
        assert (pr.precision, pr.recall) == (precision, recall)
    else:
        assert abs(pr.precision - precision) * len(smp) <= 2 + 1e-9
        assert abs(pr.recall - recall) * len(ref) <= 2 + 1e-9
    # 2. ADM's own printed numbers (fixture machine), to one sample.
    assert abs(pr.precision - case["precision"]) <= 1 / len(smp) + 1e-12, (pr, case["precision"])
    assert abs(pr.recall - case["recall"]) <= 1 / len(ref) + 1e-12, (pr, case["recall"])


@pytest.mark.parity
def test_float64_distances_do_not_reproduce_adm(adm_distance):
    """Why the TF float16 kernel exists: exact float64 distances move the radii."""
    case = GOLDEN["pr"]["basic"]
    ref, _ = _pr_inputs(case)

    def float64_distance(u, v):
        u, v = u.astype(np.float64), v.astype(np.float64)
        d = (u * u).sum(1)[:, None] - 2 * u @ v.T + (v * v).sum(1)[None, :]
        return np.maximum(d, 0).astype(np.float32)

    radii = compute_manifold_radii(ref[:1000], float64_distance)
    exact = compute_manifold_radii(ref[:1000], adm_distance)
    assert not np.array_equal(radii, exact)


def _fid_inputs(case):
    recipe = case["recipe"]
    smp, ref = _make(recipe["sample"], None), _make(recipe["ref"], None)
    if recipe.get("zeroed_last_dims"):
        smp[:, -recipe["zeroed_last_dims"] :] = 0
        ref[:, -recipe["zeroed_last_dims"] :] = 0
    assert array_sha256(smp) == case["sample_sha256"], "synthetic recipe drifted (sample)"
    assert array_sha256(ref) == case["ref_sha256"], "synthetic recipe drifted (ref)"
    return features_to_stats(smp), features_to_stats(ref)


FAST_FID = [n for n in sorted(GOLDEN["fid"]) if n != "dim2048"]


@pytest.mark.parity
@pytest.mark.parametrize("name", FAST_FID)
def test_fid_matches_adm(name, recwarn):
    case = GOLDEN["fid"][name]
    sample, ref = _fid_inputs(case)
    assert (str(sample.mu.dtype), str(sample.sigma.dtype)) == (
        case["mu_dtype"],
        case["sigma_dtype"],
    )
    assert frechet_distance(sample, ref) == pytest.approx(case["fid"], rel=1e-12)
    fell_back = any("ADM's fallback" in str(w.message) for w in recwarn)
    assert fell_back == case["eps_fallback"]
    if "fid_reversed_order" in case:
        assert frechet_distance(ref, sample) == pytest.approx(case["fid_reversed_order"], rel=1e-12)


@pytest.mark.parity
@pytest.mark.parametrize("name", ["dim64", pytest.param("dim2048", marks=pytest.mark.slow)])
def test_fid_eigh_close_to_adm_on_well_conditioned_stats(name):
    """dim2048 with the eigh method takes 2 s; ADM's own sqrtm took 137 s (PROVENANCE.md)."""
    sample, ref = _fid_inputs(GOLDEN["fid"][name])
    fid = frechet_distance(sample, ref, method=SqrtmMethod.EIGH)
    assert fid == pytest.approx(GOLDEN["fid"][name]["fid"], rel=1e-9)


@pytest.mark.parity
@pytest.mark.parametrize("name", sorted(GOLDEN["inception_score"]))
def test_inception_score_matches_adm(name):
    case = GOLDEN["inception_score"][name]
    r = case["recipe"]
    logits = np.random.default_rng(r["seed"]).standard_normal((r["num"], 1008)) * r["std"]
    logits = logits.astype(np.float32)
    assert array_sha256(logits) == case["logits_sha256"]
    assert logits_to_inception_score(logits) == pytest.approx(case["inception_score"], rel=1e-5)


def test_dimension_mismatch_is_an_input_error():
    a = features_to_stats(make_activations(0, 10, dim=8))
    b = features_to_stats(make_activations(1, 10, dim=9))
    with pytest.raises(InputError, match="differ in dimension"):
        frechet_distance(a, b)


def test_eigh_reuses_the_reference_root_and_keys_it_by_content():
    from fcdmbench.evaluation import metrics

    a = features_to_stats(make_activations(5, 400, dim=64))
    b = features_to_stats(make_activations(6, 400, dim=64, shift=0.1))
    metrics._ROOT_CACHE.clear()
    first = frechet_distance(a, b, method=SqrtmMethod.EIGH)
    assert len(metrics._ROOT_CACHE) == 1
    assert frechet_distance(a, b, method=SqrtmMethod.EIGH) == first
    assert len(metrics._ROOT_CACHE) == 1
    swapped = frechet_distance(b, a, method=SqrtmMethod.EIGH)  # other reference: new root
    assert len(metrics._ROOT_CACHE) == 2
    assert swapped == pytest.approx(first, rel=1e-9)
    assert frechet_distance(a, b, method=SqrtmMethod.ADM) == pytest.approx(first, rel=1e-9)
