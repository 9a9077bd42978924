"""FD-DINOv2 of one sample set against one reference (orchestration; the network is in
`fcdmbench.evaluation.dinov2.network`, the statistics in `fcdmbench.evaluation.dinov2.fd_stats`).

Which metrics `fcdmbench eval` computes is a `Metric` set: ADM's five by default, ``all`` adds
``fd_dinov2``. The weights come from ``--dinov2 PATH``, else ``$FCDMBENCH_DINOV2``, else the
manifest's ``dinov2`` entry in the reference folder (``fcdmbench reference fetch dinov2``).
Reference statistics come from the images (``arr_0``) of any reference npz, with the features
cached by content sha256 + extractor id, or from an edm2 ``.pkl`` (``--dinov2-ref``).
The value is `fcdmbench.evaluation.metrics.frechet_distance`, the code behind FID.
"""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from fcdmbench.errors import ConfigError, InputError, ReferenceBatchError
from fcdmbench.evaluation.cache import ActivationCache
from fcdmbench.evaluation.dinov2.fd_stats import FeatureMoments, read_stats_pickle
from fcdmbench.evaluation.dinov2.network import (
    DINOV2_VITL14,
    DinoV2Extractor,
    ResizeMode,
    load_dinov2_state_dict,
)
from fcdmbench.evaluation.metrics import frechet_distance
from fcdmbench.evaluation.npz import inspect_images, iter_image_batches
from fcdmbench.evaluation.statistics import FIDStats
from fcdmbench.files import cache_root, file_sha256
from fcdmbench.records.evaluation import FDDinoV2Result

__all__ = [
    "ADM_METRICS",
    "DINOV2_ENV",
    "Metric",
    "compute_fd_dinov2",
    "load_dinov2_extractor",
    "parse_metrics",
    "reference_dinov2_stats",
    "resolve_dinov2_path",
]

DINOV2_ENV = "FCDMBENCH_DINOV2"
CHUNK_IMAGES = 1024  # images per resumable cache part


class Metric(enum.Enum):
    """A metric `fcdmbench eval` can compute (``--metrics``)."""

    FID = "fid"
    SFID = "sfid"
    IS = "is"
    PR = "pr"
    FD_DINOV2 = "fd_dinov2"

    @property
    def is_adm(self) -> bool:
        """One of ADM's five (FID, sFID, IS, precision/recall): the Inception pass."""
        return self is not Metric.FD_DINOV2


ADM_METRICS = (Metric.FID, Metric.SFID, Metric.IS, Metric.PR)


def parse_metrics(text: str) -> tuple[Metric, ...]:
    """``"fid,sfid,is,pr,fd_dinov2"``, ``"adm"`` (the default: ADM's five) or ``"all"``.

    Raises:
        ConfigError: an unknown name or an empty list.
    """
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    out: list[Metric] = []
    for name in names:
        group = {"all": (*ADM_METRICS, Metric.FD_DINOV2), "adm": ADM_METRICS}.get(name)
        if group is None:
            try:
                group = (Metric(name),)
            except ValueError:
                raise ConfigError(
                    f"--metrics: unknown metric '{name}'",
                    hint="choose from " + ", ".join(m.value for m in Metric) + ", adm, all",
                ) from None
        out.extend(m for m in group if m not in out)
    if not out:
        raise ConfigError("--metrics is empty", hint="e.g. --metrics fid,sfid,is,pr,fd_dinov2")
    return tuple(out)


def resolve_dinov2_path(
    path: str | Path | None, reference_dir: Path | None = None, cache_dir: Path | None = None
) -> tuple[Path, str]:
    """The weights file and its manifest status: `path`, ``$FCDMBENCH_DINOV2`` or the manifest.

    Raises:
        ReferenceBatchError: the file is missing (says what to fetch or where to place it),
            or fails the manifest's sha256.
    """
    from fcdmbench.evaluation.reference import resolve_reference

    explicit = path or os.environ.get(DINOV2_ENV)
    if explicit:
        explicit = Path(explicit).expanduser()
        if not explicit.is_file():
            raise ReferenceBatchError(
                f"DINOv2 weights {explicit} not found (from --dinov2 or ${DINOV2_ENV})",
                hint="point --dinov2 at dinov2_vitl14_pretrain.pth, or run "
                "`fcdmbench reference fetch dinov2` and drop the option",
            )
        return explicit, "not in manifest"
    resolved, check = resolve_reference("dinov2", reference_dir, cache_dir)
    return resolved, check.status if check else "not in manifest"


def load_dinov2_extractor(
    path: Path, *, resize: ResizeMode = ResizeMode.TORCH, batch_size: int = 64, device="cpu"
) -> DinoV2Extractor:
    """The ViT-L/14 extractor with the weights of `path` (keys and shapes checked)."""
    model = load_dinov2_state_dict(path, DINOV2_VITL14)
    return DinoV2Extractor(
        model, file_sha256(path), resize=resize, batch_size=batch_size, device=device
    )


def _cached_features(
    extractor: DinoV2Extractor,
    path: Path,
    sha256: str,
    num: int,
    cache_dir: Path | None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, bool]:
    """DINOv2 features of the first `num` images of `path`, from or into the cache."""
    cache = ActivationCache(cache_root(cache_dir), sha256, extractor.extractor_id)
    cached = cache.load(num)
    if cached is not None:
        return cached["dinov2"], True
    parts = []
    for start in range(0, num, CHUNK_IMAGES):
        stop = min(start + CHUNK_IMAGES, num)
        part = cache.load_part(start, stop)
        if part is None:
            batches = iter_image_batches(path, extractor.batch_size, start=start, stop=stop)
            part = {"dinov2": extractor.extract(batches)}
            cache.save_part(start, stop, part)
        parts.append(part["dinov2"])
        if on_progress:
            on_progress(stop, num)
    features = np.concatenate(parts) if parts else np.zeros((0, extractor.feature_dim))
    cache.save_final({"dinov2": features})
    return features, False


def reference_dinov2_stats(
    extractor: DinoV2Extractor, ref: Path, cache_dir: Path | None = None
) -> tuple[FIDStats, int, str, str, bool]:
    """(stats, images behind them (0: unknown), source, sha256, cached) of a reference npz's
    images or an edm2 ``.pkl``."""
    sha = file_sha256(ref)
    if ref.suffix.lower() == ".pkl":
        return read_stats_pickle(ref, "fd_dinov2"), 0, f"stats in {ref}", sha, False
    info = inspect_images(ref)
    features, hit = _cached_features(extractor, ref, sha, info.num, cache_dir)
    stats = FeatureMoments.of(features).to_stats()
    return stats, info.num, f"images of {ref}", sha, hit


def compute_fd_dinov2(
    samples: Path,
    num: int,
    ref: Path,
    weights: tuple[Path, str],
    *,
    resize: ResizeMode = ResizeMode.TORCH,
    batch_size: int = 64,
    cache_dir: Path | None = None,
    extractor: DinoV2Extractor | None = None,
) -> FDDinoV2Result:
    """FD-DINOv2 of the first `num` images of `samples` against `ref`.

    Args:
        weights: (path, manifest status) from `resolve_dinov2_path`.

    Raises:
        InputError: fewer than 2 images, bad weights, a reference pickle of other objects.
    """
    start = time.perf_counter()
    if num < 2:
        raise InputError(
            f"FD-DINOv2 needs at least 2 sample images, got {num}",
            hint="evaluate more images (a covariance of one image does not exist)",
        )
    if extractor is None:
        extractor = load_dinov2_extractor(weights[0], resize=resize, batch_size=batch_size)
    features, hit = _cached_features(extractor, samples, file_sha256(samples), num, cache_dir)
    moments = FeatureMoments.of(features)
    return fd_dinov2_result(extractor, weights, moments, num, ref, cache_dir, start, hit)


def fd_dinov2_result(
    extractor: DinoV2Extractor,
    weights: tuple[Path, str],
    moments: FeatureMoments,
    num: int,
    ref: Path,
    cache_dir: Path | None,
    start: float,
    samples_cached: bool = False,
) -> FDDinoV2Result:
    """FD-DINOv2 of the samples' `moments` against `ref`'s statistics, as the record holds it
    (`start`: `time.perf_counter()` when the work began)."""
    ref_stats, num_ref, source, ref_sha, ref_hit = reference_dinov2_stats(extractor, ref, cache_dir)
    return FDDinoV2Result(
        value=frechet_distance(moments.to_stats(), ref_stats),
        weights_path=str(weights[0]),
        weights_sha256=extractor.weights_sha256,
        weights_status=weights[1],
        extractor_id=extractor.extractor_id,
        resize=extractor.resize.value,
        num_samples=num,
        num_ref=num_ref,
        ref_source=source,
        ref_sha256=ref_sha,
        samples_cached=samples_cached,
        ref_cached=ref_hit,
        seconds=round(time.perf_counter() - start, 3),
    )


def iter_batches(images: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """``(N, H, W, 3)`` in batches of `batch_size` (the last may be shorter)."""
    for start in range(0, len(images), batch_size):
        yield images[start : start + batch_size]
