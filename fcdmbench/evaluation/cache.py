"""Cached activations, keyed by content.

Under the cache root (`fcdmbench.files.cache_root`: ``--cache-dir``, else ``$FCDMBENCH_CACHE``,
else platformdirs' user cache dir; never the package folder). Activations are keyed by the
input's content sha256 plus the extractor id (graph sha256, extractor version, batch size), never
by file name. An extraction writes one part file per chunk of images, so an interrupted run
resumes from the last finished chunk; the final file appears atomically.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from fcdmbench.files import atomic_output, write_json_atomic

__all__ = ["ActivationCache"]


def _save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    with atomic_output(path, make_parents=True) as tmp:
        np.savez(tmp, **arrays)


class ActivationCache:
    """Activations of one input under one extractor: ``<root>/activations/<key>/``."""

    def __init__(self, root: Path, content_sha256: str, extractor_id: str) -> None:
        key = hashlib.sha256(f"{content_sha256}:{extractor_id}".encode()).hexdigest()[:32]
        self.folder = root / "activations" / key
        self.final = self.folder / "activations.npz"
        self.content_sha256 = content_sha256
        self.extractor_id = extractor_id

    def load(self, num: int) -> dict[str, np.ndarray] | None:
        """The first `num` rows of every cached array, or None if fewer are cached."""
        if not self.final.exists():
            return None
        with np.load(self.final) as data:
            arrays = {k: data[k] for k in data.files}
        if any(len(v) < num for v in arrays.values()):
            return None
        return {k: v[:num] for k, v in arrays.items()}

    def part_path(self, start: int, stop: int) -> Path:
        return self.folder / "parts" / f"{start:09d}-{stop:09d}.npz"

    def load_part(self, start: int, stop: int) -> dict[str, np.ndarray] | None:
        path = self.part_path(start, stop)
        if not path.exists():
            return None
        with np.load(path) as data:
            return {k: data[k] for k in data.files}

    def save_part(self, start: int, stop: int, arrays: dict[str, np.ndarray]) -> None:
        _save_npz_atomic(self.part_path(start, stop), **arrays)

    def save_final(self, arrays: dict[str, np.ndarray]) -> None:
        _save_npz_atomic(self.final, **arrays)
        meta = {
            "content_sha256": self.content_sha256,
            "extractor_id": self.extractor_id,
            "rows": {k: int(len(v)) for k, v in arrays.items()},
        }
        write_json_atomic(self.folder / "meta.json", meta, make_parents=True)
        for part in (self.folder / "parts").glob("*.npz"):
            part.unlink()
