"""The whole ADM-compatible evaluation of one samples ``.npz`` (orchestration only).

Checks inputs, resolves the reference batch and the Inception graph, extracts (or loads cached)
activations, and calls the pure metric functions. Returns the complete
`fcdmbench.records.EvalRecord`: metrics, environment, and the model and sampler settings from the
``samples.npz.json`` record `fcdmbench sample` wrote (or from `EvalConfig.model` / ``meta``). The
CLI (`fcdmbench eval`) only adapts this.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fcdmbench.errors import InputError
from fcdmbench.evaluation.config import EvalConfig, canonical_model
from fcdmbench.evaluation.distance import get_distance_fn
from fcdmbench.evaluation.metrics import (
    SqrtmMethod,
    frechet_distance,
    precision_recall,
    probs_to_inception_score,
)
from fcdmbench.evaluation.statistics import FIDStats, features_to_stats
from fcdmbench.preflight import preflight_eval
from fcdmbench.records import EvalRecord, RunInfo, SampleRecord, SamplerSettings

__all__ = ["EvalRecord", "EvalResult", "evaluate", "find_sample_record"]

#: ``(stage, done, total)``; stages: "hash", "extract:sample", "extract:ref", "precision_recall".
ProgressFn = Callable[[str, int, int], None]
CHUNK_IMAGES = 1024  # images per resumable part file (a multiple of every sane batch size)


#: `evaluate` returns the typed record itself (kept under its old name for library users).
EvalResult = EvalRecord


def find_sample_record(
    samples: Path, explicit: Path | None = None
) -> tuple[Path | None, SampleRecord | None]:
    """The sampling pipeline's sidecar record (``fcdmbench.sample/N``) for `samples`, if any.

    ``<samples>.json`` and ``<samples>.npz.json`` are looked at; a file there that is a record of
    another kind is not the sidecar, one that is not a readable record is an error.
    """
    from fcdmbench.records import read_json as _read_json
    from fcdmbench.records import read_record, record_from_json

    if explicit is not None:
        return explicit, read_record(explicit, kind=SampleRecord)
    for candidate in (samples.with_name(samples.name + ".json"), samples.with_suffix(".json")):
        if candidate.exists():
            obj = _read_json(candidate)
            if isinstance(obj, dict) and str(obj.get("schema", "")).startswith("fcdmbench.sample/"):
                return candidate, record_from_json(obj, candidate, kind=SampleRecord)
    return None, None


def _model_and_sampler(config: EvalConfig, sha256: str, path: Path | None, sample):
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


def _tensorflow_info() -> dict[str, Any] | None:
    """TensorFlow's version and GPUs (Inception runs there), if it was used."""
    import sys

    tf = sys.modules.get("tensorflow")
    if tf is None:
        return None
    return {
        "version": tf.__version__,
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
    }


def _torch_device() -> str:
    import sys

    torch = sys.modules.get("torch")
    return "cuda" if torch is not None and torch.cuda.is_available() else "cpu"


def _activations(extractor, path: Path, num: int, sha: str, cache, stage: str, on_progress):
    from fcdmbench.evaluation.npz import iter_image_batches

    cached = cache.load(num)
    if cached is not None:
        return cached["pool"], cached["spatial"], True
    pools, spatials = [], []
    for start in range(0, num, CHUNK_IMAGES):
        stop = min(start + CHUNK_IMAGES, num)
        part = cache.load_part(start, stop)
        if part is None:
            pool, spatial = extractor.extract(
                iter_image_batches(path, extractor.batch_size, start=start, stop=stop)
            )
            part = {"pool": pool, "spatial": spatial}
            cache.save_part(start, stop, part)
        pools.append(part["pool"])
        spatials.append(part["spatial"])
        if on_progress:
            on_progress(stage, stop, num)
    arrays = {"pool": np.concatenate(pools), "spatial": np.concatenate(spatials)}
    cache.save_final(arrays)
    return arrays["pool"], arrays["spatial"], False


def evaluate(
    config: EvalConfig, *, on_progress: ProgressFn | None = None, extractor=None
) -> EvalRecord:
    """Run the evaluation: IS, FID, sFID, precision and recall as ADM computes them.

    Returns:
        The complete record (metrics, model, sampler settings, environment, run metadata).

    Raises:
        ConfigError: `config.model` (or ``meta["model"]``) is not a registered model.
        InputError: bad samples file, 0 images, too few images without `allow_fewer` or fewer
            than k + 1, resolution mismatch.
        ReferenceBatchError: reference batch or graph missing or failing its sha256.
        MissingExtraError: TensorFlow not installed.
        PreflightError: several of these at once (`fcdmbench.preflight.preflight_eval`).
    """
    from fcdmbench.env import collect_env
    from fcdmbench.evaluation.cache import ActivationCache, cache_root
    from fcdmbench.evaluation.inception import InceptionExtractor, resolve_inception_path
    from fcdmbench.evaluation.npz import read_npz_arrays
    from fcdmbench.evaluation.reference import resolve_reference
    from fcdmbench.files import file_sha256

    run = RunInfo.current()
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    # Every check that needs no image data (a --model typo included), all problems at once.
    plan = preflight_eval(config, need_inception=extractor is None)
    info, num, ref_info = plan.samples, plan.num, plan.reference_images
    record_path, sample_record = find_sample_record(config.samples, config.sample_record)
    ref_path, ref_check = resolve_reference(config.ref, config.reference_dir, config.cache_dir)
    stored = read_npz_arrays(ref_path, ("mu", "sigma", "mu_s", "sigma_s"))
    if extractor is None:
        extractor = InceptionExtractor(
            resolve_inception_path(config.inception_path, config.reference_dir, config.cache_dir),
            batch_size=config.batch_size,
        )
    root = cache_root(config.cache_dir)
    sample_sha = file_sha256(config.samples)
    model, model_source, sampler = _model_and_sampler(
        config, sample_sha, record_path, sample_record
    )
    ref_sha = ref_check.sha256 if ref_check and ref_check.sha256 else file_sha256(ref_path)
    timings["hash_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    ref_cache = ActivationCache(root, ref_sha, extractor.extractor_id)
    ref_pool, ref_spatial, ref_hit = _activations(
        extractor, ref_path, ref_info.num, ref_sha, ref_cache, "extract:ref", on_progress
    )
    smp_cache = ActivationCache(root, sample_sha, extractor.extractor_id)
    pool, spatial, smp_hit = _activations(
        extractor, config.samples, num, sample_sha, smp_cache, "extract:sample", on_progress
    )
    timings["extract_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    if {"mu", "sigma", "mu_s", "sigma_s"} <= stored.keys():
        ref_stats = FIDStats(stored["mu"], stored["sigma"])
        ref_spatial_stats = FIDStats(stored["mu_s"], stored["sigma_s"])
        ref_stats_source = "stored in reference batch (as ADM uses them)"
    else:
        ref_stats, ref_spatial_stats = features_to_stats(ref_pool), features_to_stats(ref_spatial)
        ref_stats_source = "computed from the reference images"
    fid = frechet_distance(features_to_stats(pool), ref_stats, method=config.sqrtm)
    sfid = frechet_distance(features_to_stats(spatial), ref_spatial_stats, method=config.sqrtm)
    timings["fid_sfid_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    inception_score = probs_to_inception_score(extractor.pool_to_probs(pool), config.split_size)
    timings["inception_score_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    distance_fn = get_distance_fn(config.distance)
    if hasattr(distance_fn, "start_run"):
        distance_fn.start_run()
    pr = precision_recall(
        ref_pool,
        pool,
        config.k,
        distance_fn=distance_fn,
        on_progress=(lambda d, t: on_progress("precision_recall", d, t)) if on_progress else None,
    )
    timings["precision_recall_s"] = time.perf_counter() - clock

    steps = config.training_steps
    if steps is None and isinstance(config.meta.get("training_steps"), int):
        steps = config.meta["training_steps"]
    return EvalRecord(
        run=run,
        env=collect_env(_torch_device()),
        inception_score=inception_score,
        fid=fid,
        sfid=sfid,
        precision=pr.precision,
        recall=pr.recall,
        num_samples=num,
        num_available=info.num,
        num_ref=ref_info.num,
        allow_fewer=config.allow_fewer,
        resolution=info.height,
        mode={
            "sqrtm": config.sqrtm.value,
            "distance": config.distance.value,
            "adm_exact": str(config.sqrtm is SqrtmMethod.ADM and config.distance.adm_exact).lower(),
            # Block shapes whose V U^T was checked against (U V^T)^T: reused only where equal.
            "mirrored_products": _mirror_note(distance_fn),
        },
        samples={
            "path": str(config.samples),
            "sha256": sample_sha,
            "resolution": [info.height, info.width],
            "activations_cached": smp_hit,
        },
        reference={
            "name_or_path": config.ref,
            "path": str(ref_path),
            "sha256": ref_sha,
            "sha256_status": ref_check.status if ref_check else "not in manifest",
            "stats": ref_stats_source,
            "activations_cached": ref_hit,
        },
        inception={
            "path": str(extractor.graph_path),
            "sha256": extractor.graph_sha256,
            "extractor_id": extractor.extractor_id,
            "batch_size": extractor.batch_size,
        },
        model=model,
        model_source=model_source,
        training_steps=steps,
        sampler=sampler,
        meta=dict(config.meta),
        sample_record=None if record_path is None else str(record_path),
        timings_s={k: round(v, 3) for k, v in timings.items()},
        tensorflow=_tensorflow_info(),
    )


def _mirror_note(distance_fn) -> str:
    checks = getattr(distance_fn, "mirror_checks", None) or {}
    used = getattr(distance_fn, "shapes_used", None)
    checks = {k: ok for k, ok in checks.items() if used is None or k in used}
    if not checks:
        return "not used"
    return ", ".join(
        f"{r}x{c}x{d}: {'bit-equal, reused' if ok else 'differ, both computed'}"
        for (r, c, d), ok in sorted(checks.items())
    )
