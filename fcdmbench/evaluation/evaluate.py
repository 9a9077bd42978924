"""The whole ADM-compatible evaluation of one samples ``.npz`` (orchestration only).

Checks inputs, resolves the reference batch and the Inception graph, extracts (or loads cached)
activations, and calls the pure metric functions. Returns the complete
`fcdmbench.records.EvalRecord`: metrics, environment, and the model and sampler settings from the
``samples.npz.json`` record `fcdmbench sample` wrote (or from `EvalConfig.model` / ``meta``). The
CLI (`fcdmbench eval`) only adapts this.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fcdmbench.distributed import init_distributed
from fcdmbench.env import collect_env
from fcdmbench.errors import InputError
from fcdmbench.evaluation.activations import extract_activations
from fcdmbench.evaluation.cache import ActivationCache
from fcdmbench.evaluation.config import EvalConfig, canonical_model
from fcdmbench.evaluation.dinov2.fd_dinov2 import compute_fd_dinov2, resolve_dinov2_path
from fcdmbench.evaluation.distance import get_distance_fn, mirror_note
from fcdmbench.evaluation.inception.backends import (
    Extractor,
    InceptionBackend,
    graph_record,
    open_extractor,
)
from fcdmbench.evaluation.inception.tf_inception import resolve_inception_path, tensorflow_info
from fcdmbench.evaluation.metrics import (
    PrecisionRecall,
    SqrtmMethod,
    frechet_distance,
    precision_recall,
    probs_to_inception_score,
)
from fcdmbench.evaluation.npz import read_npz_arrays
from fcdmbench.evaluation.preflight import EvalPlan, preflight_eval
from fcdmbench.evaluation.reference import VerifyResult, resolve_reference
from fcdmbench.evaluation.statistics import FIDStats, features_to_stats
from fcdmbench.files import cache_root, file_sha256
from fcdmbench.records._base import RunInfo
from fcdmbench.records.evaluation import (
    EvalMode,
    EvalRecord,
    EvalTimings,
    FDDinoV2Result,
    ReferenceFile,
    SamplerSettings,
    SamplesFile,
)
from fcdmbench.records.io import read_json, read_record, record_from_json
from fcdmbench.records.sampling import SampleRecord

__all__ = ["AdmMetrics", "adm_metrics", "cached_activations", "evaluate", "find_sample_record"]

#: ``(stage, done, total)``; stages: "extract:ref", "extract:sample", "precision_recall".
ProgressFn = Callable[[str, int, int], None]
STATS_KEYS = ("mu", "sigma", "mu_s", "sigma_s")


def evaluate(
    config: EvalConfig,
    *,
    outputs: Iterable[Path] = (),
    on_progress: ProgressFn | None = None,
    extractor: Extractor | None = None,
) -> EvalRecord | None:
    """ADM's metrics (`_evaluate_adm`) and, when `config.metrics` asks for it, FD-DINOv2
    (`fcdmbench.evaluation.dinov2.fd_dinov2`).

    First every check that needs no image data (`preflight_eval`, `outputs` included: the files
    the caller will write), all problems at once, then the DINOv2 weights, before any hashing.

    Under ``torchrun`` every rank extracts its share of the activations
    (`fcdmbench.evaluation.activations`) and rank 0 computes the metrics.

    Returns:
        The complete record (metrics, model, sampler settings, environment, run metadata) on
        rank 0; None on the other ranks.

    Raises:
        ConfigError: `config.model` (or ``meta["model"]``) is not a registered model.
        InputError: bad samples file, 0 images, too few images without `allow_fewer` or fewer
            than k + 1, resolution mismatch, bad DINOv2 weights or reference.
        ReferenceBatchError: reference batch or graph missing or failing its sha256.
        MissingExtraError: TensorFlow not installed where the backend or distance needs it.
        DeviceError: ``--device cuda`` without CUDA.
        PreflightError: several of these at once.
    """
    run, timings = RunInfo.current(), {}
    with _timed(timings, "checks_s"):
        plan = preflight_eval(config, outputs=outputs, need_inception=extractor is None)
    weights = _dinov2_weights(config)  # missing weights fail before any extraction
    record = _evaluate_adm(config, plan, run, timings, on_progress, extractor)
    if record is None:  # a torchrun rank other than 0
        return None
    fd = _fd_dinov2(config, record.num_samples, Path(record.reference.path), weights)
    metrics = tuple(m.value for m in config.metrics)
    return dataclasses.replace(record, fd_dinov2=fd, metrics_requested=metrics)


def _evaluate_adm(
    config: EvalConfig,
    plan: EvalPlan,
    run: RunInfo,
    timings: dict[str, float],
    on_progress: ProgressFn | None,
    extractor: Extractor | None,
) -> EvalRecord | None:
    """IS, FID, sFID, precision and recall as ADM computes them, of a checked `plan`."""
    record_path, sample_record = find_sample_record(config.samples, config.sample_record)
    with _timed(timings, "hash_s"):
        ref_path, ref_check, ref_sha, sample_sha = _hash_inputs(config)
    model, model_source, sampler = _model_and_sampler(
        config, sample_sha, record_path, sample_record
    )
    with _timed(timings, "inception_load_s"):
        if extractor is None:
            extractor = _open_config_extractor(config)
    with _timed(timings, "extract_s"):
        sets = [(ref_path, plan.reference_images.num, ref_sha, "extract:ref")]
        sets.append((config.samples, plan.num, sample_sha, "extract:sample"))
        extracted = _extract_sets(config, extractor, sets, on_progress)
    if extracted is None:
        return None
    (ref, ref_hit), (smp, smp_hit) = extracted
    features = (smp["pool"], smp["spatial"])
    metrics = adm_metrics(
        config, extractor, features, (ref["pool"], ref["spatial"]), ref_path, timings, on_progress
    )
    return EvalRecord(
        run=run,
        env=collect_env(_torch_device()),
        **metrics.record_fields(),
        num_samples=plan.num,
        num_available=plan.samples.num,
        num_ref=plan.reference_images.num,
        allow_fewer=config.allow_fewer,
        resolution=plan.samples.height,
        samples=SamplesFile(
            str(config.samples), sample_sha, (plan.samples.height, plan.samples.width), smp_hit
        ),
        reference=ReferenceFile(
            name_or_path=config.ref,
            path=str(ref_path),
            sha256=ref_sha,
            sha256_status=ref_check.status if ref_check else "not in manifest",
            stats=metrics.ref_stats_source,
            activations_cached=ref_hit,
        ),
        inception=graph_record(extractor),
        model=model,
        model_source=model_source,
        training_steps=config.steps,
        sampler=sampler,
        meta=dict(config.meta),
        sample_record=None if record_path is None else str(record_path),
        timings_s=EvalTimings(**timings),
        tensorflow=tensorflow_info(),
    )


def _hash_inputs(config: EvalConfig) -> tuple[Path, VerifyResult | None, str, str]:
    """The reference batch's path, its manifest check and sha256 (the manifest's when it has
    one), and the samples file's sha256."""
    ref_path, ref_check = resolve_reference(config.ref, config.reference_dir, config.cache_dir)
    sample_sha = file_sha256(config.samples)
    ref_sha = ref_check.sha256 if ref_check and ref_check.sha256 else file_sha256(ref_path)
    return ref_path, ref_check, ref_sha, sample_sha


def _open_config_extractor(config: EvalConfig) -> Extractor:
    """The Inception extractor `config` names (backend, graph file, batch size, device)."""
    graph = resolve_inception_path(config.inception_path, config.reference_dir, config.cache_dir)
    return open_extractor(config.backend, graph, batch_size=config.batch_size, device=config.device)


def _extract_sets(
    config: EvalConfig,
    extractor: Extractor,
    sets: list[tuple[Path, int, str, str]],
    on_progress: ProgressFn | None,
) -> list[tuple[dict[str, np.ndarray], bool]] | None:
    """Activations and cache hit of each ``(path, images, sha256, stage)``, every torchrun rank
    extracting its share; None on ranks other than 0, which compute no metrics."""
    dist = init_distributed(config.device.value)
    found = [
        cached_activations(extractor, path, num, sha, config.cache_dir, dist, stage, on_progress)
        for path, num, sha, stage in sets
    ]
    return found if dist.rank == 0 else None


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 3)


def cached_activations(
    extractor: Extractor,
    path: Path,
    num: int,
    sha256: str,
    cache_dir: Path | None,
    dist=None,
    stage: str = "extract",
    on_progress: ProgressFn | None = None,
):
    """`extract_activations` of the first `num` images of `path` through the `ActivationCache`
    of its content `sha256` and the extractor (the one cache path `eval` and a streamed
    ``sample --eval`` use): ``(activations, came from the cache)``."""
    cache = ActivationCache(cache_root(cache_dir), sha256, extractor.extractor_id)
    return extract_activations(
        extractor, path, num, cache, dist=dist, stage=stage, on_progress=on_progress
    )


@dataclass(frozen=True, slots=True)
class AdmMetrics:
    """ADM's five metrics of one set of activations, and how they were computed."""

    inception_score: float
    fid: float
    sfid: float
    pr: PrecisionRecall
    mode: EvalMode
    ref_stats_source: str

    def record_fields(self) -> dict:
        """The `EvalRecord` fields these metrics fill (eval's record and the streamed one)."""
        pr = self.pr
        return dict(
            inception_score=self.inception_score,
            fid=self.fid,
            sfid=self.sfid,
            precision=pr.precision,
            recall=pr.recall,
            mode=self.mode,
        )


def adm_metrics(
    config: EvalConfig,
    extractor: Extractor,
    features: tuple[np.ndarray, np.ndarray],
    ref_features: tuple[np.ndarray, np.ndarray],
    ref_path: Path,
    timings: dict[str, float],
    on_progress: ProgressFn | None = None,
) -> AdmMetrics:
    """IS, FID and sFID (with the square root each allows), precision and recall of the sample
    (pool, spatial) `features` against the reference's: the one implementation behind ``eval``
    and the streamed ``sample --eval``. Fills `timings` (``EvalTimings`` names)."""
    with _timed(timings, "fid_sfid_s"):
        stored = read_npz_arrays(ref_path, STATS_KEYS)
        if set(STATS_KEYS) <= stored.keys():
            ref_stats = (
                FIDStats(stored["mu"], stored["sigma"]),
                FIDStats(stored["mu_s"], stored["sigma_s"]),
            )
            source, ref_counts = "stored in reference batch (as ADM uses them)", ()
        else:
            ref_stats = tuple(features_to_stats(f) for f in ref_features)
            source, ref_counts = "computed from the reference images", (len(ref_features[0]),)
        methods, fallback = _sqrtm_methods(config.sqrtm, (len(features[0]), *ref_counts), features)
        fid, sfid = (
            frechet_distance(features_to_stats(f), ref, method=m)
            for f, ref, m in zip(features, ref_stats, methods, strict=True)
        )
    pr, mode = _precision_recall(config, features[0], ref_features[0], timings, on_progress)
    mode = dataclasses.replace(
        mode,
        sqrtm_fallback=fallback,
        adm_exact=mode.adm_exact and all(m is SqrtmMethod.ADM for m in methods),
    )
    with _timed(timings, "inception_score_s"):
        probs = extractor.pool_to_probs(features[0])
        inception_score = probs_to_inception_score(probs, config.split_size)
    return AdmMetrics(inception_score, fid, sfid, pr, mode, source)


def _precision_recall(
    config: EvalConfig,
    pool: np.ndarray,
    ref_pool: np.ndarray,
    timings: dict[str, float],
    on_progress: ProgressFn | None,
) -> tuple[PrecisionRecall, EvalMode]:
    """Precision and recall with `config.distance`, and the record's mode (sqrtm not yet set)."""
    with _timed(timings, "precision_recall_s"):
        distance_fn = get_distance_fn(
            config.distance, tensorflow_fallback=config.backend is InceptionBackend.TENSORFLOW
        )
        pr = precision_recall(
            ref_pool,
            pool,
            config.k,
            distance_fn=distance_fn,
            on_progress=(lambda d, t: on_progress("precision_recall", d, t))
            if on_progress
            else None,
        )
    inexact = getattr(distance_fn, "inexact_blocks", 0)
    mode = EvalMode(
        sqrtm=config.sqrtm.value,
        distance=config.distance.value,
        adm_exact=config.distance.adm_exact and not inexact,
        mirrored_products=mirror_note(distance_fn),
        sqrtm_fallback=None,
        inexact_distance_blocks=inexact,
    )
    return pr, mode


def _sqrtm_methods(
    requested: SqrtmMethod, counts: tuple[int, ...], features: tuple[np.ndarray, ...]
) -> tuple[tuple[SqrtmMethod, ...], str | None]:
    """The square root for FID and for sFID, and why ``eigh`` was replaced (None: it was not).

    A covariance of n images has rank at most n - 1. ``eigh`` agrees with ADM's
    `scipy.linalg.sqrtm` to about 1e-14 relative on full-rank covariances but only to about
    1e-8 on singular ones (random 2048-d features, 400 or 1500 sample images against 4000
    reference images); so ADM's square root is used wherever `counts` (the images behind each
    covariance) leave one singular.
    """
    fewest = min(counts)
    singular = [requested is SqrtmMethod.EIGH and fewest - 1 < f.shape[1] for f in features]
    methods = tuple(SqrtmMethod.ADM if s else requested for s in singular)
    if not any(singular):
        return methods, None
    which = " and ".join(
        f"{name} ({f.shape[1]}-d)"
        for name, f, s in zip(("FID", "sFID"), features, singular, strict=True)
        if s
    )
    return methods, (
        f"adm instead of eigh for {which}: {fewest} images give a singular covariance "
        f"(rank <= {fewest - 1}), where eigh is inexact"
    )


def find_sample_record(
    samples: Path, explicit: Path | None = None
) -> tuple[Path | None, SampleRecord | None]:
    """The sampling pipeline's sidecar record (``fcdmbench.sample/N``) for `samples`, if any.

    ``<samples>.json`` and ``<samples>.npz.json`` are looked at; a file there that is a record of
    another kind is not the sidecar, one that is not a readable record is an error.
    """
    if explicit is not None:
        return explicit, read_record(explicit, kind=SampleRecord)
    for candidate in (samples.with_name(samples.name + ".json"), samples.with_suffix(".json")):
        if candidate.exists():
            obj = read_json(candidate)
            if isinstance(obj, dict) and str(obj.get("schema", "")).startswith("fcdmbench.sample/"):
                return candidate, record_from_json(obj, candidate, kind=SampleRecord)
    return None, None


def _model_and_sampler(
    config: EvalConfig, sha256: str, path: Path | None, sample: SampleRecord | None
) -> tuple[str | None, str | None, SamplerSettings | None]:
    """(model, where the name came from, sampler settings) for the record."""
    if sample is not None and sample.npz_sha256 != sha256:
        raise InputError(
            f"sample record {path} describes another file (npz sha256 {sample.npz_sha256[:12]}..., "
            f"{config.samples} has {sha256[:12]}...)",
            hint="pass the matching --sample-record PATH, or remove the stale record",
        )
    if sample is not None:
        model, source = sample.model.name, "sample record"
        if config.model is not None and canonical_model(config.model, "--model") != model:
            raise InputError(
                f"--model {config.model} contradicts {path}, which says the samples come from "
                f"{model}",
                hint="drop --model (the sample record names the model), or fix the record path",
            )
        return model, source, SamplerSettings.from_sample_record(sample, str(path))
    sampler = SamplerSettings.from_meta(config.meta)
    if config.model is not None:
        return canonical_model(config.model, "--model"), "--model", sampler
    if config.meta.get("model") is not None:
        return canonical_model(config.meta["model"], "--meta model="), "--meta", sampler
    return None, None, sampler


def _torch_device() -> str:
    """Where torch would run (the environment record's device); torch is not imported for it."""
    torch = sys.modules.get("torch")
    return "cuda" if torch is not None and torch.cuda.is_available() else "cpu"


def _dinov2_weights(config: EvalConfig) -> tuple[Path, str] | None:
    """FD-DINOv2's weights (path, manifest status) when it is requested, else None.

    Raises:
        ReferenceBatchError: requested, but the weights are missing (says where to put them).
        InputError: a ``--dinov2-ref`` that does not exist.
    """
    if not config.wants_fd_dinov2:
        return None
    if config.dinov2_ref is not None and not config.dinov2_ref.is_file():
        raise InputError(
            f"--dinov2-ref {config.dinov2_ref} not found",
            hint="pass an edm2 reference .pkl or an npz of reference images, or drop the option",
        )
    return resolve_dinov2_path(config.dinov2_path, config.reference_dir, config.cache_dir)


def _fd_dinov2(
    config: EvalConfig, num: int, ref_path: Path, weights: tuple[Path, str] | None
) -> FDDinoV2Result | None:
    """FD-DINOv2 of the evaluated images when requested (`weights` given), else None; on
    rank 0 only under torchrun (the other ranks return before it)."""
    if weights is None:
        return None
    return compute_fd_dinov2(
        config.samples,
        num,
        config.dinov2_ref or ref_path,
        weights,
        resize=config.dinov2_resize,
        batch_size=config.batch_size,
        cache_dir=config.cache_dir,
    )
