"""Reading and checking ADM-style ``.npz`` image batches without loading them whole.

An ADM batch stores ``arr_0``: uint8 images, NHWC, values 0-255. A reference batch also stores
``mu``/``sigma`` (pool_3) and ``mu_s``/``sigma_s`` (spatial). Every problem is an `InputError`
(exit 3) that names the file, the fault and the fix. `inspect_images` reads only the npy header
inside the zip and compares the size it declares (shape x itemsize) with the member's stored
size, so a truncated or corrupt file is caught before any image is read.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fcdmbench.errors import InputError

__all__ = ["NpzImages", "inspect_images", "iter_image_batches", "read_npz_arrays"]

_FIX_UINT8 = "save images as uint8 NHWC in 0..255, e.g. np.savez(path, arr_0=x.astype(np.uint8))"


@dataclass(frozen=True, slots=True)
class NpzImages:
    """What `inspect_images` found in an npz's ``arr_0``."""

    path: Path
    num: int
    height: int
    width: int
    dtype: str
    keys: tuple[str, ...]


@contextmanager
def _open_member(path: Path, name: str):
    if not path.exists():
        raise InputError(f"{path} not found", hint="check the path (an .npz from sampling)")
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.npz"))[:3]
        raise InputError(
            f"{path} is a directory, not an .npz file",
            hint=f"pass a file inside it, e.g. {path / inside[0]}"
            if inside
            else "pass the .npz file itself (ADM format: arr_0 uint8 NHWC)",
        )
    try:
        with open(path, "rb") as raw:
            magic = raw.read(6)
    except OSError as exc:
        raise InputError(
            f"cannot read {path}: {exc.strerror or exc}", hint="check its permissions"
        ) from exc
    if magic == b"\x93NUMPY":
        raise InputError(
            f"{path} is a .npy file, not an .npz", hint=f"np.savez('{path.stem}.npz', arr_0=x)"
        )
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        fault = "truncated or corrupt" if magic.startswith(b"PK") else "not an npz (zip) file"
        raise InputError(
            f"{path} is {fault} ({exc})", hint="re-create or re-download the file"
        ) from exc
    with archive:
        names = archive.namelist()
        if f"{name}.npy" not in names:
            keys = [n.removesuffix(".npy") for n in names]
            raise InputError(
                f"{path} has no '{name}' array (keys: {keys})",
                hint="ADM batches store images as arr_0: np.savez(path, arr_0=images)",
            )
        try:
            with archive.open(f"{name}.npy") as member:
                stored = archive.getinfo(f"{name}.npy").file_size
                yield member, tuple(n.removesuffix(".npy") for n in names), stored
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise InputError(
                f"{path} is truncated or corrupt ({exc})", hint="re-create or re-download the file"
            ) from exc


def _read_header(member, path: Path):
    try:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
    except (ValueError, EOFError) as exc:
        raise InputError(
            f"{path}: arr_0 is not a valid array ({exc})", hint="re-create or re-download the file"
        ) from exc
    return shape, fortran, dtype


def _check_size(member, stored_size: int, path: Path, shape: tuple, dtype) -> None:
    """The header's shape x itemsize must equal the bytes stored after it in the zip member."""
    if dtype.hasobject:
        return  # pickled objects have no fixed size; the dtype check reports them
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    declared = int(shape[0]) * row_bytes if shape else dtype.itemsize
    stored = stored_size - member.tell()
    if stored == declared:
        return
    fault = (
        f"{path} is truncated or corrupt: arr_0 declares shape {tuple(shape)} {dtype} "
        f"({declared:,} bytes) but holds {stored:,} bytes"
    )
    if shape and row_bytes and stored < declared:
        fault += f" ({stored // row_bytes:,} whole images)"
    raise InputError(fault, hint="re-create or re-download the file (was a run interrupted?)")


def inspect_images(path: str | Path) -> NpzImages:
    """Check ``arr_0`` is uint8 NHWC RGB and return its shape; reads only the header.

    Raises:
        InputError: missing/truncated/non-npz file, no arr_0, float or non-uint8 images (NaN/inf
            named when present), NCHW layout, wrong rank or channel count.
    """
    path = Path(path)
    with _open_member(path, "arr_0") as (member, keys, stored_size):
        shape, fortran, dtype = _read_header(member, path)
        _check_size(member, stored_size, path, shape, dtype)
    if len(shape) == 3:
        raise InputError(
            f"{path}: arr_0 has shape {shape}, which looks like grayscale (N, H, W); "
            "expected (N, H, W, 3)",
            hint="repeat the channel: np.repeat(x[..., None], 3, axis=-1)",
        )
    if len(shape) != 4:
        raise InputError(f"{path}: arr_0 has shape {shape}; expected (N, H, W, 3)", hint=_FIX_UINT8)
    if shape[-1] != 3:
        if shape[1] in (1, 3, 4) and shape[-1] not in (1, 4):
            raise InputError(
                f"{path}: arr_0 has shape {shape}, which looks like NCHW; ADM expects NHWC",
                hint="transpose before saving: x.transpose(0, 2, 3, 1)",
            )
        hints = {
            4: "drop the alpha channel (RGBA to RGB): x[..., :3], or composite it on a background",
            1: "repeat the gray channel: np.repeat(x, 3, axis=-1)",
        }
        raise InputError(
            f"{path}: arr_0 has {shape[-1]} channels (shape {shape}); expected 3 (RGB)",
            hint=hints.get(shape[-1], "save RGB images: (N, H, W, 3) uint8"),
        )
    if dtype != np.uint8:
        fault = f"{path}: images are {dtype}, not uint8"
        if dtype.kind == "f":
            bad = _count_nonfinite(path)
            if bad:
                fault += f", and {bad} values are NaN or inf"
        raise InputError(fault, hint="clip to [0, 255], round, and " + _FIX_UINT8)
    if fortran:
        raise InputError(f"{path}: arr_0 is Fortran-ordered", hint="save np.ascontiguousarray(x)")
    return NpzImages(path, int(shape[0]), int(shape[1]), int(shape[2]), str(dtype), keys)


def _count_nonfinite(path: Path) -> int:
    bad = 0
    for batch in _iter_raw(path, 256):
        bad += int(np.size(batch) - np.count_nonzero(np.isfinite(batch)))
    return bad


def _iter_raw(path: Path, batch_size: int, start: int = 0, stop: int | None = None):
    with _open_member(path, "arr_0") as (member, _keys, _size):
        shape, _fortran, dtype = _read_header(member, path)
        row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        stop = shape[0] if stop is None else min(stop, shape[0])
        if start:
            member.seek(member.tell() + start * row_bytes)
        index = start
        while index < stop:
            count = min(batch_size, stop - index)
            data = member.read(count * row_bytes)
            if len(data) != count * row_bytes:
                raise InputError(
                    f"{path} is truncated: arr_0 ends after {index + len(data) // row_bytes} of "
                    f"{shape[0]} images",
                    hint="re-create the file (was the sampling run interrupted?)",
                )
            yield np.frombuffer(data, dtype=dtype).reshape((count, *shape[1:]))
            index += count


def iter_image_batches(
    path: str | Path, batch_size: int, *, start: int = 0, stop: int | None = None
) -> Iterator[np.ndarray]:
    """Yield uint8 NHWC batches of images ``[start, stop)`` from ``arr_0``, streaming."""
    inspect_images(path)
    yield from _iter_raw(Path(path), batch_size, start, stop)


def read_npz_arrays(path: str | Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Load the named arrays (e.g. ``mu``, ``sigma``) that are present; absent ones are skipped."""
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    for name in names:
        try:
            with _open_member(path, name) as (member, _keys, _size):
                out[name] = np.lib.format.read_array(member)
        except InputError as exc:
            if "has no" not in exc.message:
                raise
    return out
