"""Sample shards on disk: one atomic ``.npz`` per batch, a run fingerprint, and the final merge.

Layout next to the requested output ``samples.npz``::

    samples.shards/run.json            settings that change pixels (checked on resume)
    samples.shards/batch-000017.npz    images (n, H, W, 3) uint8, labels, indices (the images'
                                       places in the output), device, seconds[, rng_state]

A shard is written to a temporary name and renamed, so a killed process leaves either a complete
shard or none. With fcdmbench's seeding, batches are seeded by their index, not by the rank that
ran them, so a resumed run (with any number of processes) produces the same images as an
uninterrupted one; with ``--rng upstream`` a shard also stores the generator state after it, from
which the same rank continues.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from fcdmbench.errors import InputError
from fcdmbench.files import atomic_output, write_text_atomic

__all__ = [
    "check_fingerprint",
    "missing_batches",
    "read_rng_state",
    "read_shard",
    "shard_path",
    "shards_dir",
    "write_npz_streaming",
    "write_shard",
]

FINGERPRINT_FILE = "run.json"


def shards_dir(out: Path) -> Path:
    """``samples.npz`` -> ``samples.shards``."""
    return out.with_name(out.stem + ".shards") if out.suffix == ".npz" else Path(f"{out}.shards")


def shard_path(directory: Path, batch: int) -> Path:
    return directory / f"batch-{batch:06d}.npz"


def write_shard(directory: Path, batch: int, **arrays: Any) -> Path:
    """Write one batch atomically (temporary file in the same folder, then ``os.replace``)."""
    final = shard_path(directory, batch)
    with atomic_output(final, make_parents=True) as tmp:
        np.savez(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
    return final


def read_shard(path: Path, expect_rows: int | None = None) -> dict[str, np.ndarray] | None:
    """A shard's arrays, or None if it is unreadable or has the wrong number of rows."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None
    images = arrays.get("images")
    if images is None or images.dtype != np.uint8 or images.ndim != 4:
        return None
    if expect_rows is not None and len(images) != expect_rows:
        return None
    return arrays


def read_rng_state(path: Path) -> np.ndarray:
    """The generator state saved in a shard (``--rng upstream`` shards only).

    Raises:
        InputError: the shard or its state is missing (the stream cannot be continued).
    """
    data = read_shard(path)
    if data is None or "rng_state" not in data:
        raise InputError(
            f"cannot resume the upstream random stream: {path} holds no generator state",
            hint="delete the shard folder and rerun",
        )
    return data["rng_state"]


def missing_batches(directory: Path, rows_per_batch: list[int]) -> list[int]:
    """Indices of batches without a valid shard (an invalid one is deleted)."""
    missing = []
    for batch, rows in enumerate(rows_per_batch):
        path = shard_path(directory, batch)
        if path.is_file() and read_shard(path, rows) is not None:
            continue
        path.unlink(missing_ok=True)
        missing.append(batch)
    return missing


def check_fingerprint(directory: Path, fingerprint: dict[str, Any], write: bool) -> bool:
    """Compare (and on first use write) the run fingerprint. Returns True when resuming.

    Raises:
        InputError: the folder holds shards made with other settings (names the fields).
    """
    path = directory / FINGERPRINT_FILE
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"unreadable shard fingerprint {path}: {exc}") from exc
        differing = sorted(
            k for k in set(stored) | set(fingerprint) if stored.get(k) != fingerprint.get(k)
        )
        if differing:
            details = ", ".join(
                f"{k}: {stored.get(k)!r} -> {fingerprint.get(k)!r}" for k in differing[:6]
            )
            raise InputError(
                f"{directory} holds shards made with different settings ({details})",
                hint="rerun with the original settings to resume, or delete the folder / choose "
                "another --out",
            )
        return True
    if write:
        write_text_atomic(
            path, json.dumps(fingerprint, indent=2, sort_keys=True), make_parents=True
        )
    return False


def write_npz_streaming(
    path: Path,
    images: Iterable[np.ndarray],
    image_shape: tuple[int, int, int],
    num: int,
    labels: np.ndarray,
    extra: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write an ADM-format npz (``arr_0`` images, ``arr_1`` labels) without holding all images.

    `images` yields uint8 (n, H, W, 3) chunks in order; exactly `num` rows are written (extra rows
    in the last chunk are dropped). The file appears atomically.

    Raises:
        InputError: the chunks hold fewer than `num` rows or have the wrong shape.
    """
    header = {"descr": "|u1", "fortran_order": False, "shape": (num, *image_shape)}  # uint8
    with atomic_output(path) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            with archive.open("arr_0.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array_header_2_0(fh, header)
                written = 0
                for chunk in images:
                    if chunk.shape[1:] != image_shape or chunk.dtype != np.uint8:
                        raise InputError(
                            f"shard images {chunk.dtype} {chunk.shape} do not match "
                            f"{image_shape} uint8"
                        )
                    chunk = chunk[: num - written]
                    fh.write(np.ascontiguousarray(chunk).tobytes())
                    written += len(chunk)
                    if written == num:
                        break
                if written != num:
                    raise InputError(f"only {written} of {num} images found in the shards")
            for name, array in {"arr_1": labels[:num], **(extra or {})}.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, np.asarray(array), allow_pickle=False)
    return path
