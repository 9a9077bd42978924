"""Measure how far the torch Inception interpreter is from TensorFlow: per op, whole graph, metrics.

Prints figures (the spread that `tests/evaluation/test_torch_graph.py` takes its tolerances
from; docs/evaluation.md, "Torch backend: validation"). Needs TensorFlow (the `eval-cpu` extra).

- ``--ops``: every op case of `tests/evaluation/tf_compare.py` (the real graph's shapes) for
  ``--seeds`` seeds: max |torch - TF| and that over max |TF|.
- ``--graph``: the stand-in graph with the real 2015 topology
  (tests/evaluation/standin_graph.py), one graph per seed, random uint8 images of each
  ``--sizes``: pool, spatial and probs differences.
- ``--metrics N``: FID and sFID between two sets of N random images and IS of both, each from
  TF features and from torch features of the same images (random weights, so the values mean
  nothing; their relative difference between backends is what the evaluator would see).

Run it under ``ATEN_CPU_CAPABILITY=default|avx2|avx512`` to see torch's other kernels.

Example:
    ATEN_CPU_CAPABILITY=avx2 python benchmarks/spread_torch_inception.py --ops --graph --json s.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "evaluation"))

from standin_graph import write_inception_2015_graph  # noqa: E402
from tf_compare import OP_CASES, op_difference  # noqa: E402

from fcdmbench.evaluation.inception.tf_inception import InceptionExtractor  # noqa: E402
from fcdmbench.evaluation.inception.torch_inception import TorchInceptionExtractor  # noqa: E402
from fcdmbench.evaluation.metrics import (  # noqa: E402
    SqrtmMethod,
    frechet_distance,
    probs_to_inception_score,
)
from fcdmbench.evaluation.statistics import features_to_stats  # noqa: E402

FOLD = [True]


def _diff(got: np.ndarray, want: np.ndarray) -> dict[str, float]:
    d = np.abs(got.astype(np.float64) - want.astype(np.float64))
    return {"abs": float(d.max()), "rel": float(d.max() / max(np.abs(want).max(), 1e-30))}


def _ops(seeds: int) -> dict:
    out = {}
    for case in OP_CASES:
        res = [op_difference(case, seed) for seed in range(seeds)]
        out[case.name] = {"abs": max(r[0] for r in res), "rel": max(r[1] for r in res)}
        print(f"  {case.name:42s} abs {out[case.name]['abs']:.2e}  rel {out[case.name]['rel']:.2e}")
    return out


def _extractors(folder: str, seed: int):
    path = write_inception_2015_graph(Path(folder) / f"standin{seed}.pb", seed)
    return InceptionExtractor(path), TorchInceptionExtractor(path, fold_batchnorm=FOLD[0])


def _graph(seeds: int, sizes: list[int], images: int) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(seeds):
            tf_x, torch_x = _extractors(folder, seed)
            for size in sizes:
                rng = np.random.default_rng(seed * 1000 + size)
                batch = rng.integers(0, 256, (images, size, size, 3), dtype=np.uint8)
                (p1, s1), (p2, s2) = tf_x.extract_batch(batch), torch_x.extract_batch(batch)
                probs = _diff(torch_x.pool_to_probs(p1), tf_x.pool_to_probs(p1))
                row = {"pool": _diff(p2, p1), "spatial": _diff(s2, s1), "probs": probs}
                out[f"seed{seed}-{size}px"] = row
                print(
                    f"  seed {seed} {size:4d}px "
                    + "  ".join(f"{k} rel {v['rel']:.2e}" for k, v in row.items())
                )
            tf_x.close()
    return out


def _scores(pool_a, pool_b, sp_a, sp_b, probs) -> dict[str, float]:
    eigh = SqrtmMethod.EIGH
    fid = frechet_distance(features_to_stats(pool_a), features_to_stats(pool_b), method=eigh)
    sfid = frechet_distance(features_to_stats(sp_a), features_to_stats(sp_b), method=eigh)
    return {"fid": fid, "sfid": sfid, "is": probs_to_inception_score(probs)}


def _metrics(n: int) -> dict:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    b = np.clip(a.astype(np.int16) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, extractor in zip(("tf", "torch"), _extractors(folder, 0), strict=True):
            pa, sa = extractor.extract(a[i : i + 64] for i in range(0, n, 64))
            pb, sb = extractor.extract(b[i : i + 64] for i in range(0, n, 64))
            probs = extractor.pool_to_probs(np.concatenate([pa, pb]))
            results[name] = _scores(pa, pb, sa, sb, probs)
    rel = {
        k: abs(results["torch"][k] - results["tf"][k]) / abs(results["tf"][k])
        for k in results["tf"]
    }
    print(f"  tf {results['tf']}\n  torch {results['torch']}\n  relative difference {rel}")
    return {**results, "relative": rel}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", action="store_true")
    parser.add_argument("--graph", action="store_true")
    parser.add_argument("--metrics", type=int, default=0, metavar="N")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="*", default=[16, 37, 64, 256, 512])
    parser.add_argument("--images", type=int, default=2, help="images per size (--graph)")
    parser.add_argument(
        "--bn",
        choices=["fold", "unfolded"],
        default="fold",
        help="the torch extractor's batch-norm mode",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    FOLD[0] = args.bn == "fold"
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
        "load": os.getloadavg(),
        "torch": torch.__version__,
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "bn": args.bn,
    }
    print(report)
    if args.ops:
        report["ops"] = _ops(args.seeds)
    if args.graph:
        report["graph"] = _graph(args.seeds, args.sizes, args.images)
    if args.metrics:
        report["metrics"] = _metrics(args.metrics)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
