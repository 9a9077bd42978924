"""Sample and evaluate in one pass (edm2's ``gen``): each block of images, as the sampler's merge
reads it in index order, goes through the feature extractors, whose float64 moments become the
metrics; the record is written beside the samples as ``<out>.eval.json``.

Only FD-DINOv2 streams today: ADM's metrics, although their PyTorch backend exists, are not
streamed yet (precision and recall need every sample's features, not running moments). The
output and the record say so. An extractor with the same interface (`StreamExtractor`:
``extract(batches)`` -> features) is added to `STREAM_EXTRACTORS` in one place, with the metric
it serves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from fcdmbench.evaluation.dinov2 import ResizeMode
from fcdmbench.evaluation.fd_dinov2 import (
    Metric,
    fd_dinov2_result,
    iter_batches,
    load_dinov2_extractor,
    resolve_dinov2_path,
)
from fcdmbench.evaluation.fd_stats import FeatureMoments
from fcdmbench.records import EvalRecord, FDDinoV2Result, SamplesFile

__all__ = [
    "NO_TORCH_INCEPTION",
    "STREAM_EXTRACTORS",
    "StreamEvalConfig",
    "StreamExtractor",
    "StreamingEvaluator",
]

NO_TORCH_INCEPTION = (
    "ADM's metrics are not streamed yet: the one-pass evaluation computed FD-DINOv2 only; "
    "run `fcdmbench eval` on the npz for FID, sFID, IS, precision and recall"
)


class StreamExtractor(Protocol):
    """What the one-pass evaluation needs of a feature extractor."""

    feature_dim: int
    batch_size: int

    def extract(self, batches: Iterable[np.ndarray]) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class StreamEvalConfig:
    """``fcdmbench sample --eval``: the reference and FD-DINOv2's settings (as `EvalConfig`)."""

    ref: str = "imagenet256"
    dinov2_path: Path | None = None
    dinov2_resize: ResizeMode = ResizeMode.TORCH
    dinov2_ref: Path | None = None
    reference_dir: Path | None = None
    cache_dir: Path | None = None
    batch_size: int = 64
    metrics: tuple[Metric, ...] = (Metric.FD_DINOV2,)


def _dinov2_stream(config: StreamEvalConfig) -> tuple[StreamExtractor, Callable]:
    """The DINOv2 extractor and a ``finish(moments, num) -> FDDinoV2Result`` for it."""
    from fcdmbench.evaluation.reference import resolve_reference

    weights = resolve_dinov2_path(config.dinov2_path, config.reference_dir, config.cache_dir)
    ref = config.dinov2_ref
    if ref is None:
        ref, _ = resolve_reference(config.ref, config.reference_dir, config.cache_dir)
    extractor = load_dinov2_extractor(
        weights[0], resize=config.dinov2_resize, batch_size=config.batch_size
    )

    def finish(moments: FeatureMoments, num: int, seconds: float) -> FDDinoV2Result:
        start = time.perf_counter() - seconds  # the extraction's seconds count too
        return fd_dinov2_result(
            extractor, weights, moments, num, Path(ref), config.cache_dir, start
        )

    return extractor, finish


#: metric -> builder of (extractor, finish); a streamed ADM metric adds its entry here.
STREAM_EXTRACTORS: dict[Metric, Callable] = {Metric.FD_DINOV2: _dinov2_stream}


@dataclass
class StreamingEvaluator:
    """Feeds image blocks to every streaming extractor; `finish` gives the eval record.

    Built before sampling starts, so missing weights or reference files fail before any image
    is made.
    """

    config: StreamEvalConfig
    num: int
    streams: dict = field(default_factory=dict)
    moments: dict = field(default_factory=dict)
    seconds: float = 0.0
    seen: int = 0

    def __post_init__(self) -> None:
        for metric in self.config.metrics:
            if metric in STREAM_EXTRACTORS:
                self.streams[metric] = STREAM_EXTRACTORS[metric](self.config)
                self.moments[metric] = FeatureMoments.empty(self.streams[metric][0].feature_dim)

    @property
    def notes(self) -> tuple[str, ...]:
        adm = [m for m in self.config.metrics if m.is_adm and m not in STREAM_EXTRACTORS]
        return (NO_TORCH_INCEPTION,) if adm or Metric.FID not in STREAM_EXTRACTORS else ()

    def tap(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Yield `blocks` unchanged after adding the first `num` images' features."""
        for block in blocks:
            kept = block[: max(0, self.num - self.seen)]
            start = time.perf_counter()
            for metric, (extractor, _) in self.streams.items():
                features = extractor.extract(iter_batches(kept, extractor.batch_size))
                self.moments[metric] = self.moments[metric] + FeatureMoments.of(features)
            self.seconds += time.perf_counter() - start
            self.seen += len(kept)
            yield block

    def finish(self, samples: SamplesFile, eval_config) -> EvalRecord:
        """The record (`fcdmbench.evaluation.fd_eval.fd_only_record`) with the streamed
        metrics and the notes; `eval_config` is the `EvalConfig` an ``eval`` would have used."""
        import dataclasses

        from fcdmbench.evaluation.fd_eval import fd_only_record

        metric = Metric.FD_DINOV2
        fd = self.streams[metric][1](self.moments[metric], self.seen, self.seconds)
        record = fd_only_record(eval_config, fd, samples)
        return dataclasses.replace(record, notes=self.notes)
