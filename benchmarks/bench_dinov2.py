"""Benchmark DINOv2 ViT-L/14 feature extraction (FD-DINOv2) and its cost beside ADM's metrics.

Prints figures (not a timed test). The network runs with seeded random weights in the official
layout (`seeded_state_dict` of tests/evaluation/synthetic.py): the speed does not depend on the
values, and the official checkpoint cannot be downloaded everywhere. Pass ``--dinov2 PTH`` to use
real weights.

1. images/s of the whole extractor (resize + normalise + ViT-L forward) at ``--batch`` (64, as
   edm2), ``torch`` and ``pil`` resize interleaved, ``--repeats`` pairs, medians; the load average
   is printed beside each timing (other processes may share the cores).
2. The cost of FD-DINOv2 beside ADM's metrics for the papers' protocol (50,000 samples, 10,000
   reference images): extraction at the measured rate, plus the statistics and the Fréchet
   distance (1024-d) timed on synthetic features against FID's (2048-d) in the same run. With
   ``--inception PB`` (ADM's graph) the Inception extraction of the same images is timed too.

Example:
    python benchmarks/bench_dinov2.py --batch 64 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _extractor(path, resize):
    from fcdmbench.evaluation.dinov2.fd_dinov2 import load_dinov2_extractor
    from fcdmbench.evaluation.dinov2.network import (
        DINOV2_VITL14,
        DinoV2Extractor,
        build_dinov2,
    )

    sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "evaluation"))  # test support
    from synthetic import seeded_state_dict

    if path:
        return load_dinov2_extractor(path, resize=resize)
    model = build_dinov2(DINOV2_VITL14)
    model.load_state_dict(seeded_state_dict(DINOV2_VITL14, 0))
    return DinoV2Extractor(model, "seeded" + "0" * 58, resize=resize)


def bench_extraction(args) -> dict:
    from fcdmbench.evaluation.dinov2.network import ResizeMode

    images = np.random.default_rng(0).integers(
        0, 256, (args.batch, args.res, args.res, 3), dtype=np.uint8
    )
    extractors = {m: _extractor(args.dinov2, m) for m in ResizeMode}
    extractors[ResizeMode.TORCH].features(images[:2])  # warm-up
    rates: dict[str, list[float]] = {m.value: [] for m in ResizeMode}
    for rep in range(args.repeats):
        for mode in ResizeMode:
            before = _load()
            start = time.perf_counter()
            extractors[mode].features(images)
            seconds = time.perf_counter() - start
            rates[mode.value].append(args.batch / seconds)
            print(
                f"  rep {rep} {mode.value:5s}: {args.batch / seconds:7.2f} img/s "
                f"({seconds:.1f} s for {args.batch}; load {before} -> {_load()})",
                flush=True,
            )
    return {k: statistics.median(v) for k, v in rates.items()}


def bench_frechet(dim_pairs=((1024, "fd_dinov2"), (2048, "fid"))) -> dict:
    from fcdmbench.evaluation.dinov2.fd_stats import FeatureMoments
    from fcdmbench.evaluation.metrics import frechet_distance

    out = {}
    rng = np.random.default_rng(1)
    for dim, name in dim_pairs:
        mix = rng.normal(size=(dim, dim)) / np.sqrt(dim)
        a = (rng.normal(size=(4000, dim)) @ mix).astype(np.float32)
        b = (rng.normal(size=(4000, dim)) @ mix + 0.1).astype(np.float32)
        start = time.perf_counter()
        stats = [FeatureMoments.of(x).to_stats() for x in (a, b)]
        mid = time.perf_counter()
        frechet_distance(*stats)
        end = time.perf_counter()
        out[name] = {"stats_4000_s": mid - start, "frechet_s": end - mid}
        print(
            f"  {name} ({dim}-d): statistics of 2x4000 {mid - start:.2f} s, Fréchet distance "
            f"(ADM sqrtm) {end - mid:.2f} s (load {_load()})",
            flush=True,
        )
    return out


def bench_inception(path, batch: int, res: int) -> float:
    from fcdmbench.evaluation.inception.tf_inception import InceptionExtractor

    images = np.random.default_rng(0).integers(0, 256, (batch, res, res, 3), dtype=np.uint8)
    extractor = InceptionExtractor(path, batch_size=batch)
    extractor.extract([images[:2]])
    start = time.perf_counter()
    extractor.extract([images])
    return batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--res", type=int, default=256, help="sample resolution (resized to 224)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dinov2", default=None, help="real weights (default: seeded random)")
    parser.add_argument("--inception", default=None, help="ADM's classify_image_graph_def.pb")
    parser.add_argument("--num-sample", type=int, default=50_000)
    parser.add_argument("--num-ref", type=int, default=10_000)
    args = parser.parse_args()

    import torch

    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads), load {_load()}",
        flush=True,
    )
    print(f"1. DINOv2 ViT-L/14 features, batch {args.batch}, {args.res}px -> 224px:")
    rates = bench_extraction(args)
    print("2. statistics and Fréchet distance:")
    frechet = bench_frechet()
    images = args.num_sample + args.num_ref
    extract_h = images / rates["torch"] / 3600
    result = {
        "img_per_s_median": rates,
        "frechet": frechet,
        "fd_dinov2_extraction_h_for_protocol": extract_h,
        "protocol_images": images,
        "load_end": _load(),
    }
    print(
        f"  FD-DINOv2 on {args.num_sample:,} + {args.num_ref:,} images: extraction "
        f"{extract_h:.2f} h at {rates['torch']:.2f} img/s (torch resize) + Fréchet "
        f"{frechet['fd_dinov2']['frechet_s']:.1f} s"
    )
    if args.inception:
        inception = bench_inception(args.inception, args.batch, args.res)
        result["inception_img_per_s"] = inception
        print(
            f"  Inception (ADM graph): {inception:.2f} img/s: FD-DINOv2 adds "
            f"{100 * inception / rates['torch']:.0f}% to the extraction time of ADM's metrics"
        )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
