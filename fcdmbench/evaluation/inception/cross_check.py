"""`cross_check`: run both Inception backends on the same images and measure how far apart they are.

The torch backend is validated against TensorFlow on graphs with the real topology and random
weights (docs/evaluation.md); this is how a user who has the real graph file and TensorFlow
confirms the agreement on the real weights, in one command (``fcdmbench eval --cross-check``).
It compares each output (pool features, the spatial features of sFID, the classifier's
probabilities) and the metrics computed from them without a reference batch: FID and sFID
between the first and the second half of the images, and the Inception Score of all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from fcdmbench.env import collect_env
from fcdmbench.evaluation.inception.backends import (
    EvalDevice,
    Extractor,
    InceptionBackend,
    graph_record,
    open_extractor,
)
from fcdmbench.evaluation.inception.tf_inception import tensorflow_info
from fcdmbench.evaluation.metrics import frechet_distance, probs_to_inception_score
from fcdmbench.evaluation.npz import inspect_images, iter_image_batches
from fcdmbench.evaluation.statistics import features_to_stats
from fcdmbench.files import file_sha256
from fcdmbench.records._base import RunInfo
from fcdmbench.records.evaluation import CrossCheckRecord, MetricPair, OutputDifference, SamplesFile

__all__ = ["CROSS_CHECK_IMAGES", "FEATURE_TOLERANCE", "METRIC_TOLERANCE", "cross_check"]

CROSS_CHECK_IMAGES = 1000
#: Bound on each output's largest difference over its largest TensorFlow value (docs/evaluation.md).
FEATURE_TOLERANCE = 3e-5  # measured <= 2.4e-6 on the stand-in graph, 10x margin
#: Bound on the metrics' relative difference: the torch backend's goal (docs/evaluation.md).
METRIC_TOLERANCE = 1e-5

#: ``(backend, images done, total)``
ProgressFn = Callable[[str, int, int], None]


def cross_check(
    samples: Path,
    graph_path: Path,
    *,
    num: int = CROSS_CHECK_IMAGES,
    batch_size: int = 64,
    device: EvalDevice = EvalDevice.CPU,
    on_progress: ProgressFn | None = None,
) -> CrossCheckRecord:
    """Both backends' outputs and metrics on the first `num` images of `samples` (at least 4).

    Raises:
        InputError: unreadable samples or graph; MissingExtraError: no TensorFlow.
    """
    run = RunInfo.current()
    outputs, extractors = {}, {}
    for backend in (InceptionBackend.TORCH, InceptionBackend.TENSORFLOW):
        extractor = open_extractor(backend, graph_path, batch_size=batch_size, device=device)
        extractors[backend] = extractor
        outputs[backend] = _outputs(extractor, samples, num, on_progress)
    torch_out, tf_out = outputs[InceptionBackend.TORCH], outputs[InceptionBackend.TENSORFLOW]
    torch_extractor = extractors[InceptionBackend.TORCH]
    record = CrossCheckRecord(
        run=run,
        env=collect_env(device.value),
        samples=SamplesFile(str(samples), file_sha256(samples), _resolution(samples), False),
        inception=graph_record(torch_extractor),
        num_images=len(torch_out["pool"]),
        outputs=tuple(
            _difference(k, torch_out[k], tf_out[k]) for k in ("pool", "spatial", "probs")
        ),
        metrics=_metric_pairs(torch_out, tf_out),
        tensorflow=tensorflow_info(),
    )
    for extractor in extractors.values():
        extractor.close()
    return record


def _outputs(
    extractor: Extractor, samples: Path, num: int, on_progress: ProgressFn | None
) -> dict[str, np.ndarray]:
    """Pool and spatial features and class probabilities of the first `num` images."""
    done = 0

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress(extractor.backend, done, num)

    batches = iter_image_batches(samples, extractor.batch_size, start=0, stop=num)
    pool, spatial = extractor.extract(batches, on_batch=on_batch)
    return {"pool": pool, "spatial": spatial, "probs": extractor.pool_to_probs(pool)}


def _difference(name: str, ours: np.ndarray, theirs: np.ndarray) -> OutputDifference:
    max_abs = float(np.max(np.abs(ours.astype(np.float64) - theirs.astype(np.float64))))
    scale = float(np.max(np.abs(theirs)))
    max_rel = max_abs / scale if scale > 0 else max_abs
    return OutputDifference(name, max_abs, max_rel, FEATURE_TOLERANCE, max_rel <= FEATURE_TOLERANCE)


def _metrics(out: dict[str, np.ndarray]) -> dict[str, float]:
    half = len(out["pool"]) // 2
    values = {
        name: frechet_distance(
            features_to_stats(out[key][:half]), features_to_stats(out[key][half : 2 * half])
        )
        for name, key in (("FID (1st half vs 2nd half)", "pool"), ("sFID (halves)", "spatial"))
    }
    values["Inception Score"] = probs_to_inception_score(out["probs"], len(out["probs"]))
    return values


def _metric_pairs(ours: dict, theirs: dict) -> tuple[MetricPair, ...]:
    pairs = []
    mine, ref = _metrics(ours), _metrics(theirs)
    for name, value in mine.items():
        rel = abs(value - ref[name]) / abs(ref[name]) if ref[name] else abs(value)
        pairs.append(
            MetricPair(name, value, ref[name], rel, METRIC_TOLERANCE, rel <= METRIC_TOLERANCE)
        )
    return tuple(pairs)


def _resolution(samples: Path) -> tuple[int, int]:
    info = inspect_images(samples)
    return (info.height, info.width)
