"""Benchmark the evaluator's metric stage from cached activations, against ADM's own code.

Prints figures (not a timed test). Synthetic activations from `fcdmbench.evaluation.synthetic`
stand in for cached Inception activations: pool 2048-d and spatial 2023-d for `--num-sample`
samples and `--num-ref` reference images (ADM's protocol: 50,000 vs 10,000). Reference
statistics are computed once up front, as if stored in an ADM reference batch.

ADM's evaluator cannot live in this repository; pass the path of an extracted
openai/guided-diffusion `evaluations/evaluator.py` with `--adm-evaluator` to time it on the same
input in the same run (it needs the alias `np.bool`, which this script restores).

Example:
    python benchmarks/bench_eval_metrics.py --num-sample 50000 --num-ref 10000 \
        --adm-evaluator /tmp/adm/evaluator.py
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time

import numpy as np

from fcdmbench.evaluation.distance import DistanceBackend, get_distance_fn
from fcdmbench.evaluation.metrics import SqrtmMethod, frechet_distance, precision_recall
from fcdmbench.evaluation.statistics import features_to_stats
from fcdmbench.evaluation.synthetic import make_activations


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def _load_adm(path):
    spec = importlib.util.spec_from_file_location("adm_evaluator_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    np.bool = np.bool_  # ADM's evaluate_pr uses the alias removed in numpy 1.24
    return module


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-sample", type=int, default=50_000)
    parser.add_argument("--num-ref", type=int, default=10_000)
    parser.add_argument("--adm-evaluator", help="path to ADM's evaluations/evaluator.py")
    parser.add_argument("--skip", nargs="*", default=[], choices=["fid", "pr", "adm-sqrtm"])
    parser.add_argument(
        "--distance",
        default="adm",
        choices=[b.value for b in DistanceBackend],
        help="our precision/recall kernel (adm-graph: ADM's whole graph, the previous default)",
    )
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()

    figures: dict = {
        "num_sample": args.num_sample,
        "num_ref": args.num_ref,
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_avg_1_5_15_start": [round(x, 2) for x in os.getloadavg()],
        "blas_threads_env": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
    }
    pool = make_activations(101, args.num_sample)
    ref_pool = make_activations(102, args.num_ref, shift=0.02)
    ours: dict = {}
    if "fid" not in args.skip:
        spatial = make_activations(103, args.num_sample, dim=2023)
        ref_stats = features_to_stats(ref_pool)
        ref_spatial_stats = features_to_stats(make_activations(104, args.num_ref, dim=2023))
        (stats, spatial_stats), ours["stats_s"] = _timed(
            lambda: (features_to_stats(pool), features_to_stats(spatial))
        )
        for method in (SqrtmMethod.EIGH, SqrtmMethod.ADM):
            if method is SqrtmMethod.ADM and "adm-sqrtm" in args.skip:
                continue
            ours[f"fid_{method.value}"], ours[f"fid_{method.value}_s"] = _timed(
                frechet_distance, stats, ref_stats, method=method
            )
            ours[f"sfid_{method.value}"], ours[f"sfid_{method.value}_s"] = _timed(
                frechet_distance, spatial_stats, ref_spatial_stats, method=method
            )
        # A second evaluation against the same reference reuses its cached square root.
        _, ours["fid_eigh_again_s"] = _timed(
            frechet_distance, stats, ref_stats, method=SqrtmMethod.EIGH
        )
    if "pr" not in args.skip:
        distance_fn = get_distance_fn(DistanceBackend(args.distance))
        pr, ours["pr_s"] = _timed(precision_recall, ref_pool, pool, distance_fn=distance_fn)
        ours["precision"], ours["recall"] = pr.precision, pr.recall
        ours["distance"] = args.distance
        ours["mirror_checks"] = {
            "x".join(map(str, key)): ok
            for key, ok in getattr(distance_fn, "mirror_checks", {}).items()
        }
    figures["fcdmbench"] = ours

    if args.adm_evaluator:
        figures["adm"] = theirs = _run_adm(args, pool, ref_pool, locals())
        figures["comparison"] = _compare(ours, theirs)
    figures["load_avg_1_5_15_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(figures, indent=2))
    if args.json:
        from fcdmbench.files import write_json_atomic

        write_json_atomic(args.json, figures)


def _run_adm(args, pool, ref_pool, scope) -> dict:
    adm = _load_adm(args.adm_evaluator)
    theirs: dict = {}
    if "fid" not in args.skip:
        spatial, ref_stats = scope["spatial"], scope["ref_stats"]
        ref_spatial_stats = scope["ref_spatial_stats"]

        def adm_stats():
            return (
                adm.Evaluator.compute_statistics(None, pool),
                adm.Evaluator.compute_statistics(None, spatial),
            )

        (s1, s2), theirs["stats_s"] = _timed(adm_stats)
        r1 = adm.FIDStatistics(ref_stats.mu, ref_stats.sigma)
        r2 = adm.FIDStatistics(ref_spatial_stats.mu, ref_spatial_stats.sigma)
        if "adm-sqrtm" not in args.skip:
            theirs["fid"], theirs["fid_s"] = _timed(s1.frechet_distance, r1)
            theirs["sfid"], theirs["sfid_s"] = _timed(s2.frechet_distance, r2)
    if "pr" not in args.skip:
        import tensorflow.compat.v1 as tf

        tf.disable_eager_execution()
        estimator = adm.ManifoldEstimator(tf.Session())

        def adm_pr():
            radii_ref = estimator.manifold_radii(ref_pool)
            radii_smp = estimator.manifold_radii(pool)
            return estimator.evaluate_pr(ref_pool, radii_ref, pool, radii_smp)

        (p, r), theirs["pr_s"] = _timed(adm_pr)
        theirs["precision"], theirs["recall"] = float(p[0]), float(r[0])
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in theirs.items()}


def _compare(ours: dict, theirs: dict) -> dict:
    """Per-stage speed-ups (ADM seconds / ours) and whether the results are identical."""
    out: dict = {}
    if "stats_s" in theirs:
        out["stats_speedup"] = theirs["stats_s"] / ours["stats_s"]
    for metric in ("fid", "sfid"):
        if metric in theirs:
            for method in ("eigh", "adm"):
                if f"{metric}_{method}" in ours:
                    out[f"{metric}_{method}_rel_diff"] = _rel(
                        ours[f"{metric}_{method}"], theirs[metric]
                    )
                    out[f"{metric}_{method}_speedup"] = (
                        theirs[f"{metric}_s"] / ours[f"{metric}_{method}_s"]
                    )
    if "pr_s" in theirs:
        out["pr_speedup"] = theirs["pr_s"] / ours["pr_s"]
        out["pr_identical"] = (ours["precision"], ours["recall"]) == (
            theirs["precision"],
            theirs["recall"],
        )
    if {"stats_s", "fid_s", "pr_s"} <= theirs.keys():
        adm_total = theirs["stats_s"] + theirs["fid_s"] + theirs["sfid_s"] + theirs["pr_s"]
        for method in ("eigh", "adm"):
            if f"fid_{method}_s" in ours:
                total = (
                    ours["stats_s"]
                    + ours[f"fid_{method}_s"]
                    + ours[f"sfid_{method}_s"]
                    + ours["pr_s"]
                )
                out[f"total_s_ours_{method}"] = total
                out[f"total_speedup_{method}"] = adm_total / total
        out["total_s_adm"] = adm_total
    return out


if __name__ == "__main__":
    main()
