"""Sample and evaluate in one pass (edm2's ``gen``): each block of images, as the sampler's merge
reads it in index order, goes through the feature extractors, whose features become the metrics;
the record is written beside the samples as ``<out>.eval.json`` (with ``--no-save``, instead of
them).

FD-DINOv2 keeps running moments. ADM's five metrics (IS, FID, sFID, precision, recall) run ADM's
Inception graph through the PyTorch backend (`TorchInceptionExtractor`; TensorFlow is never
imported) on the same batches ``eval`` would cut (`_AdmStream`), keep every sample's pool and
spatial features in memory (50,000 x 4,071 float32: 0.8 GB), and at the end compute the metrics
with ``eval``'s own code (`fcdmbench.evaluation.evaluate.adm_metrics`; the reference's
activations through the same `ActivationCache`). The record equals ``sample`` then ``eval
--backend torch`` on the same seeds. An extractor with the interface of `StreamExtractor` is
added to `STREAM_EXTRACTORS` in one place, with the metric it serves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fcdmbench.errors import InputError
from fcdmbench.evaluation.dinov2.fd_dinov2 import (
    ADM_METRICS,
    Metric,
    fd_dinov2_result,
    iter_batches,
    load_dinov2_extractor,
    resolve_dinov2_path,
)
from fcdmbench.evaluation.dinov2.fd_stats import FeatureMoments
from fcdmbench.evaluation.dinov2.network import ResizeMode
from fcdmbench.evaluation.inception.backends import EvalDevice
from fcdmbench.records.evaluation import EvalRecord, FDDinoV2Result, SamplesFile

__all__ = [
    "NO_NPZ",
    "STREAM_EXTRACTORS",
    "StreamEvalConfig",
    "StreamExtractor",
    "StreamingEvaluator",
]

NO_NPZ = (
    "no samples npz was written (sample --eval --no-save): the images existed only while they "
    "were evaluated; samples.path names the file that was not written and samples.sha256 is "
    "empty; no sample record was written either (the sampler's settings are in this record)"
)


class StreamExtractor(Protocol):
    """What the one-pass evaluation needs of a feature extractor."""

    feature_dim: int
    batch_size: int

    def extract(self, batches: Iterable[np.ndarray]) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class StreamEvalConfig:
    """``fcdmbench sample --eval``: the metrics, the reference, the Inception graph (PyTorch
    backend on `device`) and FD-DINOv2's settings, with `EvalConfig`'s meanings and defaults."""

    ref: str = "imagenet256"
    dinov2_path: Path | None = None
    dinov2_resize: ResizeMode = ResizeMode.TORCH
    dinov2_ref: Path | None = None
    reference_dir: Path | None = None
    cache_dir: Path | None = None
    batch_size: int = 64
    metrics: tuple[Metric, ...] = ADM_METRICS
    inception_path: Path | None = None
    device: EvalDevice = EvalDevice.CPU  # where ADM's Inception graph runs (the sampler's)


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

    Built before sampling starts, so missing weights, graph or reference files fail before any
    image is made. `resolution`: the samples' side, checked against the reference's.
    """

    config: StreamEvalConfig
    num: int
    resolution: int | None = None
    streams: dict = field(default_factory=dict)
    moments: dict = field(default_factory=dict)
    adm: _AdmStream | None = None
    seconds: float = 0.0
    seen: int = 0

    def __post_init__(self) -> None:
        for metric in self.config.metrics:
            if metric in STREAM_EXTRACTORS:
                self.streams[metric] = STREAM_EXTRACTORS[metric](self.config)
                self.moments[metric] = FeatureMoments.empty(self.streams[metric][0].feature_dim)
        if any(m.is_adm for m in self.config.metrics):
            self.adm = _AdmStream.open(self.config, self.num, self.resolution)

    def notes(self, saved: bool = True) -> tuple[str, ...]:
        """What the record must say beyond ``eval``'s: that no npz was written."""
        return () if saved else (NO_NPZ,)

    def tap(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Yield `blocks` unchanged after adding the first `num` images' features."""
        for block in blocks:
            kept = block[: max(0, self.num - self.seen)]
            start = time.perf_counter()
            for metric, (extractor, _) in self.streams.items():
                features = extractor.extract(iter_batches(kept, extractor.batch_size))
                self.moments[metric] = self.moments[metric] + FeatureMoments.of(features)
            if self.adm is not None:
                self.adm.add(kept)
            self.seconds += time.perf_counter() - start
            self.seen += len(kept)
            yield block

    def finish(self, samples: SamplesFile, eval_config, saved: bool = True) -> EvalRecord:
        """The record (`fcdmbench.evaluation.dinov2.fd_eval.streamed_record`) with the streamed
        metrics and the notes; `eval_config` is the `EvalConfig` an ``eval`` would have used,
        `saved` whether the npz was written."""
        import dataclasses

        from fcdmbench.evaluation.dinov2.fd_eval import streamed_record

        fd = None
        if Metric.FD_DINOV2 in self.streams:
            metric = Metric.FD_DINOV2
            fd = self.streams[metric][1](self.moments[metric], self.seen, self.seconds)
        adm = None if self.adm is None else self.adm.finish(eval_config, self.seconds)
        record = streamed_record(eval_config, samples, fd, adm)
        return dataclasses.replace(record, notes=self.notes(saved))


def _batch_end(start: int, num: int, batch_size: int, chunk: int) -> int:
    """End of the Inception batch that starts at image `start`, as ``eval`` cuts them: chunks of
    `chunk` images (`fcdmbench.evaluation.activations`), each in batches of `batch_size`."""
    return min(start + batch_size, (start // chunk + 1) * chunk, num)


@dataclass
class _AdmStream:
    """ADM's Inception graph (PyTorch backend) over the streamed images, in ``eval``'s batches."""

    extractor: Any
    num: int
    ref_path: Path
    ref_check: Any
    ref_num: int
    chunk: int
    pending: np.ndarray | None = None  # images not yet in a batch; the first is image `done`
    done: int = 0
    pool: list = field(default_factory=list)
    spatial: list = field(default_factory=list)

    @classmethod
    def open(cls, config: StreamEvalConfig, num: int, resolution: int | None) -> _AdmStream:
        """Check what the metrics need and load the graph (before any sampling).

        Raises:
            ReferenceBatchError: the graph or the reference is missing.
            InputError: fewer than k + 1 = 4 samples or reference images, a resolution mismatch.
        """
        from fcdmbench.evaluation.activations import chunk_images
        from fcdmbench.evaluation.inception.backends import InceptionBackend, open_extractor
        from fcdmbench.evaluation.inception.tf_inception import resolve_inception_path
        from fcdmbench.evaluation.npz import inspect_images
        from fcdmbench.evaluation.reference import resolve_reference

        graph = resolve_inception_path(
            config.inception_path, config.reference_dir, config.cache_dir
        )
        ref_path, ref_check = resolve_reference(config.ref, config.reference_dir, config.cache_dir)
        ref = inspect_images(ref_path)
        k = 3  # `EvalConfig.k`, ADM's
        if min(num, ref.num) < k + 1:
            raise InputError(
                f"precision/recall needs at least k + 1 = {k + 1} images on each side; --num is "
                f"{num}, the reference {ref_path} holds {ref.num}",
                hint="sample at least 4 images, or --metrics fd_dinov2 for FD-DINOv2 alone",
            )
        if resolution is not None and (ref.height, ref.width) != (resolution, resolution):
            raise InputError(
                f"samples will be {resolution}x{resolution} px but the reference {ref_path} is "
                f"{ref.height}x{ref.width}",
                hint="pass a reference of the sampling resolution (--ref imagenet256/512)",
            )
        extractor = open_extractor(
            InceptionBackend.TORCH, graph, batch_size=config.batch_size, device=config.device
        )
        return cls(extractor, num, ref_path, ref_check, ref.num, chunk_images())

    def add(self, images: np.ndarray) -> None:
        """Extract every complete batch of the images seen so far (`images` follow in order)."""
        if self.pending is not None and len(self.pending):
            images = np.concatenate([self.pending, images])
        offset = 0
        while self.done < self.num:
            end = _batch_end(self.done, self.num, self.extractor.batch_size, self.chunk)
            if end - self.done > len(images) - offset:
                break
            pool, spatial = self.extractor.extract_batch(images[offset : offset + end - self.done])
            self.pool.append(pool)
            self.spatial.append(spatial)
            offset, self.done = offset + end - self.done, end
        self.pending = images[offset:]

    def finish(self, config, seconds: float):
        """``(AdmMetrics, ReferenceFile, InceptionGraph, num_ref, timings)`` of the streamed
        images; the reference's activations come from (or go to) ``eval``'s cache."""
        from fcdmbench.evaluation.evaluate import adm_metrics, cached_activations
        from fcdmbench.evaluation.inception.backends import graph_record
        from fcdmbench.files import file_sha256
        from fcdmbench.records.evaluation import ReferenceFile

        if self.done != self.num:
            raise InputError(
                f"the stream gave {self.done} of {self.num} images to the Inception extractor",
                hint="rerun the same command (the shards resume)",
            )
        start = time.perf_counter()
        check = self.ref_check
        ref_sha = check.sha256 if check and check.sha256 else file_sha256(self.ref_path)
        ref, hit = cached_activations(
            self.extractor, self.ref_path, self.ref_num, ref_sha, config.cache_dir
        )
        timings = {"extract_s": round(seconds + time.perf_counter() - start, 3)}
        features = (np.concatenate(self.pool), np.concatenate(self.spatial))
        metrics = adm_metrics(
            config, self.extractor, features, (ref["pool"], ref["spatial"]), self.ref_path, timings
        )
        reference = ReferenceFile(
            name_or_path=config.ref,
            path=str(self.ref_path),
            sha256=ref_sha,
            sha256_status=check.status if check else "not in manifest",
            stats=metrics.ref_stats_source,
            activations_cached=hit,
        )
        return metrics, reference, graph_record(self.extractor), self.ref_num, timings
