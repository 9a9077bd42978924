"""`preflight_eval`: everything `fcdmbench eval` can check from headers, before any hashing."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fcdmbench.errors import InputError
from fcdmbench.evaluation.config import EvalConfig, canonical_model
from fcdmbench.evaluation.inception.backends import EvalDevice, InceptionBackend
from fcdmbench.evaluation.inception.tf_inception import INCEPTION_ENV, resolve_inception_path
from fcdmbench.evaluation.npz import NpzImages, inspect_images
from fcdmbench.evaluation.reference import (
    ReferenceLocation,
    is_path_like,
    load_manifest,
    locate_reference,
    reference_dir,
)
from fcdmbench.preflight import (
    Preflight,
    check_cuda,
    check_extra,
    check_input_file,
    check_output,
)
from fcdmbench.records.io import read_record
from fcdmbench.records.sampling import SampleRecord

__all__ = ["EvalPlan", "preflight_cross_check", "preflight_eval"]


@dataclass(frozen=True, slots=True)
class EvalPlan:
    """What `preflight_eval` found: the samples' header, how many images to use, the files."""

    samples: NpzImages
    num: int
    reference: ReferenceLocation
    reference_images: NpzImages
    inception: Path | None


def preflight_eval(
    config: EvalConfig, *, outputs: Iterable[Path] = (), need_inception: bool = True
) -> EvalPlan:
    """Check everything `evaluate(config)` needs, reading only headers; report all problems.

    Checks: the samples file (present, a file, an npz, uint8 NHWC RGB, header size = data
    size), the image count (never 0; at least ``--num`` unless ``allow_fewer``; at least k + 1
    for precision/recall, always), the samples' resolution against the manifest's for a named
    reference (before the reference file is needed), the reference file and the Inception graph
    (every missing one listed with where to place it), TensorFlow, an explicit sampling record,
    and the output paths.

    Raises:
        FcdmbenchError: one problem; `PreflightError`: several.
    """
    pf = Preflight()
    if config.model is not None:
        pf.check(canonical_model, config.model, "--model")
    info = pf.check(inspect_images, config.samples)
    num = 0
    if info is not None:
        num = min(info.num, config.num)
        pf.check(_check_counts, config.samples, info.num, config)
    entry = None
    if not is_path_like(config.ref):
        entry = (pf.check(load_manifest) or {}).get(config.ref)
    if info is not None and entry is not None and entry.resolution:
        pf.check(_check_resolution, info, entry.resolution, f"reference batch '{entry.name}'")
    location = pf.check(locate_reference, config.ref, config.reference_dir, config.cache_dir)
    ref_info = None
    if location is not None:
        ref_info = pf.check(inspect_images, location.path)
    if ref_info is not None:
        if info is not None and (entry is None or not entry.resolution):
            pf.check(
                _check_resolution, info, ref_info.height, f"reference batch {location.path.name}"
            )
        if ref_info.num < config.k + 1:
            pf.add(
                InputError(
                    f"reference {location.path} holds {ref_info.num} images; precision/recall "
                    f"needs at least k + 1 = {config.k + 1}",
                    hint="use a full ADM reference batch (--ref imagenet256)",
                )
            )
    inception = None
    if need_inception:
        inception = pf.check(
            resolve_inception_path,
            config.inception_path,
            config.reference_dir,
            config.cache_dir,
            verify=False,
        )
    official = [config.ref] if entry is not None else []
    if need_inception and not (config.inception_path or os.environ.get(INCEPTION_ENV)):
        official.insert(0, "inception")
    folder = reference_dir(config.reference_dir, config.cache_dir)
    manifest = load_manifest() if official else {}
    missing = [n for n in official if not (folder / manifest[n].filename).exists()]
    for purpose in _tensorflow_needs(config, need_inception):
        pf.check(check_extra, "tensorflow", "eval-tf-cpu", purpose)
    pf.check(check_cuda, config.device.value)
    if config.sample_record is not None:
        hint = "pass the <samples>.npz.json that `fcdmbench sample` wrote, or drop the option"
        if pf.check(check_input_file, config.sample_record, "sampling record", hint) is not None:
            pf.check(read_record, config.sample_record, kind=SampleRecord)
    for path in outputs:
        pf.check(check_output, path)
    hint = None
    if len(missing) > 1:
        hint = (
            f"fix each problem above; the missing files can be fetched at once with "
            f"`fcdmbench reference fetch {' '.join(missing)}` (offline, download each URL above "
            "elsewhere and place it at the path shown)"
        )
    pf.raise_all(hint)
    return EvalPlan(info, num, location, ref_info, inception)


def preflight_cross_check(
    samples: Path,
    inception: Path | None,
    reference_dir: Path | None,
    cache_dir: Path | None,
    device: EvalDevice,
    *,
    outputs: Iterable[Path] = (),
) -> Path:
    """Check what ``eval --cross-check`` needs (samples, graph, TensorFlow, device, outputs).

    Returns:
        The graph file's path.
    """
    pf = Preflight()
    info = pf.check(inspect_images, samples)
    if info is not None and info.num < 4:
        pf.add(
            InputError(
                f"{samples} holds {info.num} images; the cross-check needs at least 4",
                hint="pass a samples file of 1,000 images or more",
            )
        )
    graph = pf.check(resolve_inception_path, inception, reference_dir, cache_dir, verify=False)
    pf.check(check_extra, "tensorflow", "eval-tf-cpu", "--cross-check (the TensorFlow backend)")
    pf.check(check_cuda, device.value)
    for path in outputs:
        pf.check(check_output, path)
    pf.raise_all()
    return graph


def _tensorflow_needs(config: EvalConfig, need_inception: bool) -> list[str]:
    """What of this evaluation runs on TensorFlow (empty: nothing, TensorFlow is not needed)."""
    needs = []
    if need_inception and config.backend is InceptionBackend.TENSORFLOW:
        needs.append("--backend tensorflow (ADM's Inception graph in TensorFlow)")
    if config.distance.needs_tensorflow:
        needs.append(f"--distance {config.distance.value} (ADM's float16 ops in TensorFlow)")
    return needs


def _check_counts(path: Path, available: int, config: EvalConfig) -> None:
    pf = Preflight()
    if available == 0:
        raise InputError(
            f"{path} holds 0 images: nothing to evaluate",
            hint="check the sampling run that wrote it (arr_0 has shape (0, H, W, 3))",
        )
    if available < config.num and not config.allow_fewer:
        pf.add(
            InputError(
                f"{path} holds {available} images, fewer than --num {config.num}",
                hint="sample more, lower --num, or pass --allow-fewer (recorded in the result)",
            )
        )
    used = min(available, config.num)
    if used < config.k + 1:
        pf.add(
            InputError(
                f"{used} image(s) are too few for precision/recall: each image's radius is the "
                f"distance to its k-th nearest neighbour (k = {config.k}) among the others, so "
                f"at least k + 1 = {config.k + 1} are needed (--allow-fewer cannot lower this)",
                hint=f"evaluate at least {config.k + 1} images (ADM's protocol uses 50,000)",
            )
        )
    pf.raise_all()


def _check_resolution(info: NpzImages, side: int, what: str) -> None:
    if (info.height, info.width) == (side, side):
        return
    names = {256: "imagenet256", 512: "imagenet512"}
    match = names.get(info.height) if info.height == info.width else None
    raise InputError(
        f"samples {info.path} are {info.height}x{info.width} px but {what} is {side}x{side}",
        hint=f"use --ref {match}"
        if match
        else f"sample at {side} px (or resize to {side}x{side}) to compare with this reference",
    )
