"""Measure where the torch ``adm`` distance kernel equals TensorFlow's ops bit for bit.

For each block shape and feature distribution it counts the entries that differ between

- the squared norms: `tf_square_norms` against ``tf.reduce_sum(tf.square(half), 1)``,
- the float16 products: the ``adm`` kernel's product against ``tf.matmul(u, v, False, True)``,
- the whole block: the ``adm`` kernel against ``adm-graph`` (ADM's graph, float32 fallback
  included),

and prints one JSON object (also written to ``--json``) with the machine, versions and
``ATEN_CPU_CAPABILITY`` in force. Set that variable before Python starts to make torch pick
other kernels; `tests/evaluation/test_distance.py` runs this script under each setting.

Example:
    ATEN_CPU_CAPABILITY=avx2 python benchmarks/adm_distance_agreement.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "evaluation"))  # test support
from synthetic import make_activations  # noqa: E402

#: ``(rows, cols, dim)``; the first ones are the quick set.
SHAPES = [
    (1, 1000, 2048),
    (1000, 1, 2048),
    (2, 2, 2048),
    (64, 2048, 2048),
    (777, 1234, 2023),
    (10000, 37, 2048),
    (1000, 1000, 2048),
    (10000, 1000, 2048),
]
QUICK = 6


def _features(dist: str, seed: int, rows: int, dim: int) -> np.ndarray:
    if dist == "inception-like":
        return make_activations(seed, rows, dim=dim, shift=0.02 * (seed % 2))
    values = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return values * (8.0 if dist == "overflow" else 1.0)  # |u| ~ 360: norms overflow float16


def _bits_differ(a: np.ndarray, b: np.ndarray) -> int:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype:
        a, b = a.astype(np.float32), b.astype(np.float32)
    return int((a.view(f"u{a.itemsize}") != b.view(f"u{b.itemsize}")).sum())


def measure(shapes, dists) -> list[dict]:
    """One row per (shape, distribution): differing entries of norms, products and blocks."""
    import tensorflow as tf
    import torch

    from fcdmbench.evaluation.distance import DistanceBackend, TorchADMKernel, get_distance_fn
    from fcdmbench.evaluation.tf_reduce import tf_square_norms

    graph = get_distance_fn(DistanceBackend.ADM_GRAPH)
    rows_out = []
    for rows, cols, dim in shapes:
        for dist in dists:
            u, v = _features(dist, 1, rows, dim), _features(dist, 2, cols, dim)
            kernel = TorchADMKernel()
            u16, v16 = torch.from_numpy(u).half(), torch.from_numpy(v).half()
            tf_u, tf_v = tf.constant(u16.numpy()), tf.constant(v16.numpy())
            norms = sum(
                _bits_differ(tf_square_norms(h).numpy(), tf.reduce_sum(tf.square(t), 1).numpy())
                for h, t in ((u16, tf_u), (v16, tf_v))
            )
            products = _bits_differ(
                kernel._product(u16, v16).numpy(), tf.matmul(tf_u, tf_v, False, True).numpy()
            )
            block = _bits_differ(kernel(u, v), graph(u, v))
            rows_out.append(
                dict(
                    shape=f"{rows}x{cols}x{dim}",
                    dist=dist,
                    entries=rows * cols,
                    norms_differ=norms,
                    products_differ=products,
                    blocks_differ=block,
                    fallback=kernel.fallback_blocks > 0,
                )
            )
    return rows_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"the first {QUICK} shapes only")
    parser.add_argument("--dist", nargs="*", default=["inception-like", "normal", "overflow"])
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    import tensorflow as tf
    import torch

    figures = {
        "aten_cpu_capability_env": os.environ.get("ATEN_CPU_CAPABILITY", "unset"),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_fp16": bool(torch.ops.mkldnn._is_mkldnn_fp16_supported()),
        "torch": torch.__version__,
        "tensorflow": tf.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "rows": measure(SHAPES[:QUICK] if args.quick else SHAPES, args.dist),
    }
    print(json.dumps(figures, indent=1))
    if args.json:
        from fcdmbench.files import write_json_atomic

        write_json_atomic(args.json, figures)


if __name__ == "__main__":
    main()
