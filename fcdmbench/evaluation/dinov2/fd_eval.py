"""`fcdmbench eval --metrics fd_dinov2` alone: FD-DINOv2 without ADM's Inception pass.

The record is the usual `EvalRecord` with ADM's five metrics None, its Inception section marked
``not used`` and ``mode.adm_exact`` false; TensorFlow is neither needed nor imported. Also the
record of a streamed evaluation (`fcdmbench.evaluation.streaming`), whose samples may exist only
as the batches that passed through.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from pathlib import Path

from fcdmbench.env import collect_env
from fcdmbench.errors import InputError
from fcdmbench.evaluation.config import EvalConfig
from fcdmbench.evaluation.dinov2.fd_dinov2 import compute_fd_dinov2, resolve_dinov2_path
from fcdmbench.evaluation.distance import DistanceBackend
from fcdmbench.evaluation.reference import resolve_reference
from fcdmbench.files import file_sha256
from fcdmbench.records._base import RunInfo
from fcdmbench.records.evaluation import (
    EvalMode,
    EvalRecord,
    EvalTimings,
    FDDinoV2Result,
    InceptionGraph,
    ReferenceFile,
    SamplesFile,
)

__all__ = [
    "NO_INCEPTION",
    "evaluate_fd_dinov2_only",
    "fd_only_record",
    "preflight_fd_only",
    "streamed_record",
]

NO_INCEPTION = InceptionGraph("not used", "", "not used", 0, backend="not used")


def preflight_fd_only(config: EvalConfig, outputs: Iterable[Path] = ()):
    """`preflight_eval` without the Inception graph and TensorFlow checks (FD-DINOv2 alone)."""
    from fcdmbench.evaluation.npz import inspect_images
    from fcdmbench.evaluation.preflight import preflight_eval

    if config.samples.is_file() and config.samples.suffix == ".npz":
        available = inspect_images(config.samples).num
        if 0 < min(available, config.num) < 2:
            raise InputError(
                f"FD-DINOv2 needs at least 2 sample images, {config.samples} gives "
                f"{min(available, config.num)}",
                hint="evaluate more images (a covariance of one image does not exist)",
            )
    # k=1: the count check asks for 2 images (a covariance), not precision/recall's k + 1;
    # distance torch: no TensorFlow check.
    plain = dataclasses.replace(config, distance=DistanceBackend.TORCH, k=1)
    return preflight_eval(plain, outputs=outputs, need_inception=False)


def evaluate_fd_dinov2_only(config: EvalConfig, outputs: Iterable[Path] = ()) -> EvalRecord:
    """FD-DINOv2 of `config.samples` against the images of `config.ref` (or `dinov2_ref`),
    after `preflight_fd_only` (`outputs`: the files the caller will write).

    Raises:
        ReferenceBatchError: the weights or the reference are missing.
        InputError: bad samples, fewer than 2 images, bad weights or reference pickle.
    """
    from fcdmbench.evaluation.evaluate import _model_and_sampler, find_sample_record

    run, start = RunInfo.current(), time.perf_counter()
    plan = preflight_fd_only(config, outputs)
    weights = resolve_dinov2_path(config.dinov2_path, config.reference_dir, config.cache_dir)
    record_path, sample_record = find_sample_record(config.samples, config.sample_record)
    ref_path, ref_check = resolve_reference(config.ref, config.reference_dir, config.cache_dir)
    checks_s = time.perf_counter() - start
    sample_sha = file_sha256(config.samples)
    model, source, sampler = _model_and_sampler(config, sample_sha, record_path, sample_record)
    fd = compute_fd_dinov2(
        config.samples,
        plan.num,
        config.dinov2_ref or ref_path,
        weights,
        resize=config.dinov2_resize,
        batch_size=config.batch_size,
        cache_dir=config.cache_dir,
    )
    record = fd_only_record(
        config, fd, SamplesFile(str(config.samples), sample_sha, (plan.samples.height,) * 2, False)
    )
    return dataclasses.replace(
        record,
        run=run,
        num_available=plan.samples.num,
        reference=dataclasses.replace(
            record.reference,
            path=str(ref_path),
            sha256_status=ref_check.status if ref_check else "not in manifest",
        ),
        model=model,
        model_source=source,
        sampler=sampler,
        sample_record=None if record_path is None else str(record_path),
        timings_s=EvalTimings(checks_s=round(checks_s, 3), extract_s=fd.seconds),
    )


def fd_only_record(config: EvalConfig, fd: FDDinoV2Result, samples: SamplesFile) -> EvalRecord:
    """An `EvalRecord` holding FD-DINOv2 alone (ADM's metrics None, Inception not used)."""
    return EvalRecord(
        run=RunInfo.current(),
        env=collect_env("cpu"),
        inception_score=None,
        fid=None,
        sfid=None,
        precision=None,
        recall=None,
        num_samples=fd.num_samples,
        num_available=fd.num_samples,
        num_ref=fd.num_ref,
        allow_fewer=config.allow_fewer,
        resolution=samples.resolution[0],
        mode=EvalMode(sqrtm=config.sqrtm.value, distance="not used", adm_exact=False),
        samples=samples,
        reference=ReferenceFile(
            name_or_path=config.ref,
            path=fd.ref_source,
            sha256=fd.ref_sha256,
            sha256_status="not checked",
            stats=fd.ref_source,
            activations_cached=fd.ref_cached,
        ),
        inception=NO_INCEPTION,
        training_steps=config.steps,
        meta=dict(config.meta),
        fd_dinov2=fd,
        metrics_requested=tuple(m.value for m in config.metrics),
    )


def streamed_record(
    config: EvalConfig, samples: SamplesFile, fd: FDDinoV2Result | None, adm: tuple | None
) -> EvalRecord:
    """The record of a streamed ``sample --eval``: FD-DINOv2 (`fd`, None: not requested) and
    ADM's metrics (`adm`: ``(AdmMetrics, ReferenceFile, InceptionGraph, num_ref, timings)`` from
    `fcdmbench.evaluation.streaming`, None: not requested), in the fields ``eval`` writes."""
    from fcdmbench.evaluation.evaluate import _torch_device

    if adm is None:
        return fd_only_record(config, fd, samples)
    metrics, reference, inception, num_ref, timings = adm
    return EvalRecord(
        run=RunInfo.current(),
        env=collect_env(_torch_device()),
        **metrics.record_fields(),
        num_samples=config.num,
        num_available=config.num,
        num_ref=num_ref,
        allow_fewer=config.allow_fewer,
        resolution=samples.resolution[0],
        samples=samples,
        reference=reference,
        inception=inception,
        training_steps=config.steps,
        meta=dict(config.meta),
        timings_s=EvalTimings(**timings),
        fd_dinov2=fd,
        metrics_requested=tuple(m.value for m in config.metrics),
    )
