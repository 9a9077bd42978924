"""Images/s of ADM Inception feature extraction (pool + spatial): torch interpreter vs TensorFlow.

Prints figures (not a timed test). Both backends run the same graph file on the same CPU in one
process, interleaved: each round times one batch with TensorFlow, then one with torch (the order
alternates between rounds), and the medians of the rounds are reported, with the load average
beside every round (other processes on the machine slow both).

Without ``--graph`` the stand-in graph (real 2015 topology, random weights;
tests/evaluation/standin_graph.py) is written to a temporary folder: the speed of a
graph does not depend on its weights. ``--no-tf`` times torch alone (no TensorFlow installed).

Example:
    python benchmarks/bench_inception.py --batch-size 64 --image-size 256 --rounds 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fcdmbench.evaluation.inception.torch_inception import TorchInceptionExtractor

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "evaluation"))  # test support
from standin_graph import write_inception_2015_graph  # noqa: E402


def _environment() -> dict:
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    try:
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
    except ImportError:
        info["tensorflow"] = None
    return info


def _time(extractor, images: np.ndarray) -> float:
    start = time.perf_counter()
    extractor.extract_batch(images)
    return time.perf_counter() - start


def _rounds(extractors: dict, images: np.ndarray, rounds: int) -> dict[str, list[dict]]:
    for extractor in extractors.values():  # warm-up: first-call allocation, kernel selection
        extractor.extract_batch(images[:2])
    samples: dict[str, list[dict]] = {name: [] for name in extractors}
    names = list(extractors)
    for index in range(rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            load = os.getloadavg()[0]
            seconds = _time(extractors[name], images)
            samples[name].append(
                {"seconds": seconds, "images_per_s": len(images) / seconds, "load1": load}
            )
            print(
                f"  round {index} {name:5s} {len(images) / seconds:7.2f} images/s  "
                f"(load {load:.2f})"
            )
    return samples


def _summary(samples: dict[str, list[dict]]) -> dict:
    out = {}
    for name, rows in samples.items():
        rates = [row["images_per_s"] for row in rows]
        out[name] = {
            "median_images_per_s": statistics.median(rates),
            "min": min(rates),
            "max": max(rates),
            "rounds": rows,
        }
    if "tf" in out and "torch" in out:
        ratios = [
            t["images_per_s"] / f["images_per_s"]
            for t, f in zip(samples["torch"], samples["tf"], strict=True)
        ]
        out["torch_over_tf_median_of_pairs"] = statistics.median(ratios)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--graph", type=Path, help="graph file (default: the stand-in)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-tf", action="store_true", help="time torch only")
    parser.add_argument(
        "--unfolded",
        action="store_true",
        help="also time torch with fold_batchnorm=False ('torch-unfolded')",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    report = {
        "environment": _environment(),
        "batch_size": args.batch_size,
        "image_size": args.image_size,
        "rounds": args.rounds,
    }
    print(report)
    rng = np.random.default_rng(0)
    size = (args.batch_size, args.image_size, args.image_size, 3)
    images = rng.integers(0, 256, size, dtype=np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        graph = args.graph or write_inception_2015_graph(Path(folder) / "standin.pb")
        extractors = {"torch": TorchInceptionExtractor(graph, args.batch_size)}
        if args.unfolded:
            extractors["torch-unfolded"] = TorchInceptionExtractor(
                graph, args.batch_size, fold_batchnorm=False
            )
        if not args.no_tf:
            from fcdmbench.evaluation.inception.tf_inception import InceptionExtractor

            extractors["tf"] = InceptionExtractor(graph, args.batch_size)
        report["graph"] = "stand-in (random weights)" if args.graph is None else str(graph)
        report["results"] = _summary(_rounds(extractors, images, args.rounds))
    for name in extractors:
        print(f"{name}: median {report['results'][name]['median_images_per_s']:.2f} images/s")
    if "torch_over_tf_median_of_pairs" in report["results"]:
        ratio = report["results"]["torch_over_tf_median_of_pairs"]
        print(f"torch / tf (median of pairs): {ratio:.3f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
