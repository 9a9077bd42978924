"""Inception activations of one image file: cached, resumable, and sharded over torchrun ranks.

The images are cut into chunks of `CHUNK_IMAGES` (``$FCDMBENCH_EVAL_CHUNK`` overrides it); each
chunk's activations are saved as a part file of the `ActivationCache`, so an interrupted
extraction resumes from the last finished chunk. Under ``torchrun`` (`fcdmbench.distributed.Dist`
with world > 1), chunk ``i`` is extracted by rank ``i % world`` and rank 0 gathers the chunks in
order (`torch.distributed.gather_object`); only rank 0 gets the arrays back (the others get
None), and only rank 0 writes the final cache file. The result does not depend on the number of
ranks: every chunk is extracted in the same batches.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fcdmbench.distributed import Dist
from fcdmbench.errors import ConfigError
from fcdmbench.evaluation.cache import ActivationCache
from fcdmbench.evaluation.inception.backends import Extractor
from fcdmbench.evaluation.npz import iter_image_batches

__all__ = ["CHUNK_ENV", "CHUNK_IMAGES", "Activations", "chunk_images", "extract_activations"]

CHUNK_IMAGES = 1024  # images per resumable part file (a multiple of every sane batch size)
#: Overrides `CHUNK_IMAGES` (e.g. for a few thousand images over many GPUs): a positive integer.
CHUNK_ENV = "FCDMBENCH_EVAL_CHUNK"

#: ``(stage, done, total)``
ProgressFn = Callable[[str, int, int], None]
#: ``{"pool": (N, 2048), "spatial": (N, 2023)}`` float32
Activations = dict[str, np.ndarray]


def extract_activations(
    extractor: Extractor,
    path: Path,
    num: int,
    cache: ActivationCache,
    *,
    dist: Dist | None = None,
    stage: str = "extract",
    on_progress: ProgressFn | None = None,
) -> tuple[Activations | None, bool]:
    """Pool and spatial activations of the first `num` images of `path`, and whether they came
    from the cache (None on ranks other than 0)."""
    rank, world = (0, 1) if dist is None else (dist.rank, dist.world)
    cached = cache.load(num) if rank == 0 else None
    if world > 1:
        cached_everywhere = dist.broadcast(cached is not None)
        if cached_everywhere:
            return cached, True
    elif cached is not None:
        return cached, True
    chunk = chunk_images()
    bounds = [(a, min(a + chunk, num)) for a in range(0, num, chunk)]
    mine = {}
    for index, (start, stop) in enumerate(bounds):
        if index % world != rank:
            continue
        mine[index] = _chunk(extractor, path, cache, start, stop)
        if on_progress:
            on_progress(stage, min(stop * world, num) if world > 1 else stop, num)
    if world > 1:
        mine = _gather_chunks(mine, rank)
        if rank != 0:
            return None, False
    arrays = {k: np.concatenate([mine[i][k] for i in range(len(bounds))]) for k in mine[0]}
    cache.save_final(arrays)
    return arrays, False


def chunk_images() -> int:
    """Images per chunk: ``$FCDMBENCH_EVAL_CHUNK`` if set, else `CHUNK_IMAGES`.

    Raises:
        ConfigError: the variable is not a positive integer.
    """
    text = os.environ.get(CHUNK_ENV)
    if text is None:
        return CHUNK_IMAGES
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigError(
            f"${CHUNK_ENV}={text!r} is not a positive number of images",
            hint=f"unset it (default {CHUNK_IMAGES}) or set a whole number such as 256",
        )
    return int(text)


def _chunk(
    extractor: Extractor, path: Path, cache: ActivationCache, start: int, stop: int
) -> Activations:
    part = cache.load_part(start, stop)
    if part is None:
        pool, spatial = extractor.extract(
            iter_image_batches(path, extractor.batch_size, start=start, stop=stop)
        )
        part = {"pool": pool, "spatial": spatial}
        cache.save_part(start, stop, part)
    return part


def _gather_chunks(mine: dict[int, Activations], rank: int) -> dict[int, Activations]:
    """Every rank's chunks on rank 0 (an empty dict elsewhere)."""
    import torch.distributed as torch_dist

    everyone: list | None = [None] * torch_dist.get_world_size() if rank == 0 else None
    torch_dist.gather_object(mine, everyone, dst=0)
    if rank != 0:
        return {}
    merged: dict[int, Activations] = {}
    for part in everyone:
        merged.update(part)
    return merged
