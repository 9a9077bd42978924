"""Benchmark the evaluator's metric stage from cached activations, against ADM's own code.

Prints figures (not a timed test). Synthetic activations from tests/evaluation/synthetic.py
stand in for cached Inception activations: pool 2048-d and spatial 2023-d for `--num-sample`
samples and `--num-ref` reference images (ADM's protocol: 50,000 vs 10,000). Reference
statistics are computed once up front, as if stored in an ADM reference batch.

The two evaluators are timed INTERLEAVED, stage by stage (statistics, FID, sFID,
precision/recall): ours then ADM's on one stage, then the next stage, and the pairs are repeated
`--repeats` times with the order inside a pair alternating, so a change of machine load hits both
sides of a pair alike. Each pair records the 1-minute load average before it; the summary gives
per stage the median seconds of each side and the median of the per-pair ratios (ADM / ours),
and for the whole stage the median of the per-repeat total ratios.

ADM's evaluator cannot live in this repository; pass the path of an extracted
openai/guided-diffusion `evaluations/evaluator.py` (22e0df8) with `--adm-evaluator` (it needs the
alias `np.bool`, which this script restores). Without it only our side is timed.

Example:
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_eval_metrics.py --num-sample 50000 \
        --num-ref 10000 --repeats 3 --adm-evaluator /tmp/adm/evaluator.py --json figures.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fcdmbench.evaluation.distance import DistanceBackend, get_distance_fn, mirror_note
from fcdmbench.evaluation.metrics import SqrtmMethod, frechet_distance, precision_recall
from fcdmbench.evaluation.statistics import features_to_stats

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "evaluation"))  # test support
from synthetic import make_activations  # noqa: E402

STAGES = ("stats", "fid", "sfid", "pr")


def _load_adm(path):
    spec = importlib.util.spec_from_file_location("adm_evaluator_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    np.bool = np.bool_  # ADM's evaluate_pr uses the alias removed in numpy 1.24
    return module


def _data(args) -> dict:
    pool = make_activations(101, args.num_sample)
    spatial = make_activations(103, args.num_sample, dim=2023)
    ref_pool = make_activations(102, args.num_ref, shift=0.02)
    ref_spatial = make_activations(104, args.num_ref, dim=2023)
    return {
        "pool": pool,
        "spatial": spatial,
        "ref_pool": ref_pool,
        "ref_stats": features_to_stats(ref_pool),
        "ref_spatial_stats": features_to_stats(ref_spatial),
    }


def _our_stages(args, data: dict, state: dict) -> dict[str, Callable[[], object]]:
    method = SqrtmMethod(args.sqrtm)

    def stats():
        state["stats"] = features_to_stats(data["pool"])
        state["spatial_stats"] = features_to_stats(data["spatial"])

    def pr():
        kernel = get_distance_fn(DistanceBackend(args.distance))
        result = precision_recall(data["ref_pool"], data["pool"], distance_fn=kernel)
        state["mirror"] = mirror_note(kernel)
        return result.precision, result.recall

    return {
        "stats": stats,
        "fid": lambda: frechet_distance(state["stats"], data["ref_stats"], method=method),
        "sfid": lambda: frechet_distance(
            state["spatial_stats"], data["ref_spatial_stats"], method=method
        ),
        "pr": pr,
    }


def _adm_stages(adm, data: dict, state: dict) -> dict[str, Callable[[], object]]:
    ref1 = adm.FIDStatistics(data["ref_stats"].mu, data["ref_stats"].sigma)
    ref2 = adm.FIDStatistics(data["ref_spatial_stats"].mu, data["ref_spatial_stats"].sigma)
    estimator: list = []

    def stats():
        state["s1"] = adm.Evaluator.compute_statistics(None, data["pool"])
        state["s2"] = adm.Evaluator.compute_statistics(None, data["spatial"])

    def pr():
        if not estimator:
            import tensorflow.compat.v1 as tf

            tf.disable_eager_execution()
            estimator.append(adm.ManifoldEstimator(tf.Session()))
        est, ref_pool, pool = estimator[0], data["ref_pool"], data["pool"]
        radii_ref, radii_smp = est.manifold_radii(ref_pool), est.manifold_radii(pool)
        p, r = est.evaluate_pr(ref_pool, radii_ref, pool, radii_smp)
        return float(p[0]), float(r[0])

    return {
        "stats": stats,
        "fid": lambda: state["s1"].frechet_distance(ref1),
        "sfid": lambda: state["s2"].frechet_distance(ref2),
        "pr": pr,
    }


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _run_pairs(args, ours: dict, theirs: dict | None) -> list[dict]:
    """Every stage of every repeat: ours and ADM's back to back, order alternating."""
    pairs = []
    for repeat in range(args.repeats):
        for stage in STAGES:
            if stage in args.skip:
                continue
            pair: dict = {"repeat": repeat, "stage": stage}
            pair["load_1m"] = round(os.getloadavg()[0], 2)
            sides = [("ours", ours)] + ([("adm", theirs)] if theirs else [])
            if repeat % 2:
                sides.reverse()
            pair["first"] = sides[0][0]
            for name, fns in sides:
                value, pair[f"{name}_s"] = _timed(fns[stage])
                if stage != "stats":
                    pair[f"{name}_value"] = value
            if theirs:
                pair["ratio"] = pair["adm_s"] / pair["ours_s"]
            pairs.append(pair)
            print(json.dumps(pair), flush=True)
    return pairs


def _summary(pairs: list[dict]) -> dict:
    """Median seconds per side and median ADM/ours ratio per stage, and for the totals."""
    out: dict = {}
    sides = [s for s in ("ours", "adm") if f"{s}_s" in pairs[0]]
    for stage in STAGES:
        rows = [p for p in pairs if p["stage"] == stage]
        if not rows:
            continue
        out[stage] = {f"{s}_median_s": statistics.median(p[f"{s}_s"] for p in rows) for s in sides}
        if "ratio" in rows[0]:
            out[stage]["ratio_median"] = statistics.median(p["ratio"] for p in rows)
            out[stage]["ratio_min_max"] = [
                min(p["ratio"] for p in rows),
                max(p["ratio"] for p in rows),
            ]
    repeats = sorted({p["repeat"] for p in pairs})
    totals = {
        s: [sum(p[f"{s}_s"] for p in pairs if p["repeat"] == r) for r in repeats] for s in sides
    }
    out["total"] = {f"{s}_median_s": statistics.median(totals[s]) for s in sides}
    if "adm" in totals:
        ratios = [a / o for a, o in zip(totals["adm"], totals["ours"], strict=True)]
        out["total"]["ratio_median"] = statistics.median(ratios)
        out["total"]["ratio_per_repeat"] = ratios
    return out


def _agreement(pairs: list[dict]) -> dict:
    """Whether the values agreed: P/R exactly, FID/sFID relative difference (last pair)."""
    out: dict = {}
    for pair in pairs:
        if "adm_value" not in pair:
            continue
        ours, theirs = pair["ours_value"], pair["adm_value"]
        if pair["stage"] == "pr":
            out["pr_identical"] = tuple(ours) == tuple(theirs)
            out["pr_ours"], out["pr_adm"] = list(ours), list(theirs)
        else:
            out[f"{pair['stage']}_rel_diff"] = abs(ours - theirs) / max(abs(theirs), 1e-300)
    return out


def _environment() -> dict:
    import scipy
    import torch

    env = {
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "blas_threads_env": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
    }
    try:
        with open("/proc/cpuinfo") as info:
            env["cpu_model"] = next(
                (ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), ""
            )
    except OSError:
        pass
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-sample", type=int, default=50_000)
    parser.add_argument("--num-ref", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved pairs per stage")
    parser.add_argument("--adm-evaluator", help="path to ADM's evaluations/evaluator.py")
    parser.add_argument("--skip", nargs="*", default=[], choices=list(STAGES))
    parser.add_argument("--sqrtm", default="adm", choices=[m.value for m in SqrtmMethod])
    parser.add_argument("--distance", default="adm", choices=[b.value for b in DistanceBackend])
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    if "stats" in args.skip and not {"fid", "sfid"} <= set(args.skip):
        parser.error("FID and sFID need the statistics stage: skip them too")

    figures: dict = {"num_sample": args.num_sample, "num_ref": args.num_ref}
    figures.update(repeats=args.repeats, sqrtm=args.sqrtm, distance=args.distance)
    figures["environment"] = _environment()
    figures["load_avg_1_5_15_start"] = [round(x, 2) for x in os.getloadavg()]
    data = _data(args)
    ours_state: dict = {}
    ours = _our_stages(args, data, ours_state)
    theirs = None
    if args.adm_evaluator:
        import tensorflow as tf

        figures["environment"]["tensorflow"] = tf.__version__
        theirs = _adm_stages(_load_adm(args.adm_evaluator), data, {})
    pairs = _run_pairs(args, ours, theirs)
    figures["pairs"] = pairs
    figures["summary"] = _summary(pairs)
    figures["agreement"] = _agreement(pairs)
    figures["mirrored_products"] = ours_state.get("mirror", "not run")
    figures["load_avg_1_5_15_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps({k: v for k, v in figures.items() if k != "pairs"}, indent=2))
    if args.json:
        from fcdmbench.files import write_json_atomic

        write_json_atomic(args.json, figures)


if __name__ == "__main__":
    main()
