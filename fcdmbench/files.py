"""Writing and hashing files: one atomic writer and one output-path rule for every command.

Rule for output paths (README "Outputs"): a command writes only where it was asked to. A missing
parent folder is created only when it lies under the current working directory (``reports/x/``,
``out/run1.json``); anywhere else (``/nonexistent/dir/out.json``) it is an error naming the folder,
so a typo never creates folders at the filesystem root. Library callers that own a folder (the
activation cache, a sampling run's shard folder) pass ``make_parents=True``.

Every file appears atomically: it is written to a temporary name in the same folder, flushed and
fsynced, given the permissions a plain ``open(path, "w")`` would give (``0o666 & ~umask``, not
mkstemp's 0600), and renamed into place; an exception or Ctrl-C removes the temporary file.
`cache_root` is the one folder every cache lives under (reference batches, activations, traces).
This module imports neither torch nor the CLI.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fcdmbench.errors import InputError

__all__ = [
    "atomic_output",
    "cache_root",
    "check_output",
    "current_umask",
    "file_sha256",
    "prepare_output",
    "to_jsonable",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]


def _is_under(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def check_output(path: str | Path, *, make_parents: bool = False) -> Path:
    """Check `path` against the output-path rule without creating anything (for preflights).

    Args:
        path: the output file.
        make_parents: missing parents may be created anywhere (folders the library owns).

    Returns:
        `path` as a `Path`.

    Raises:
        InputError: `path` is a directory, a parent is a file, the folder is not writable, or the
            parent is missing outside the current directory.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(
            f"output {path} is a directory", hint=f"give a file name, e.g. {path}/result.json"
        )
    parent = path.parent
    existing = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise InputError(
            f"cannot write {path}: {existing} is a file, not a directory",
            hint="choose another output path",
        )
    if parent.exists():
        if not os.access(parent, os.W_OK | os.X_OK):
            raise InputError(
                f"cannot write {path}: folder {parent} is not writable",
                hint="choose a folder you can write to",
            )
        return path
    if make_parents or _is_under(parent.resolve(), Path.cwd().resolve()):
        return path
    raise InputError(
        f"cannot write {path}: folder {parent} does not exist",
        hint=f"create it first (mkdir -p {parent}) or write under the current directory",
    )


def prepare_output(path: str | Path, *, make_parents: bool = False) -> Path:
    """Check `path` (`check_output`) and create its missing parent folder where the rule allows.

    Args:
        path: the output file.
        make_parents: create missing parents anywhere (for folders the library owns).

    Returns:
        `path` as a `Path`.

    Raises:
        InputError: see `check_output`.
    """
    path = check_output(path, make_parents=make_parents)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_output(
    path: str | Path, *, make_parents: bool = False, durable: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsynced and renamed onto `path`.

    ``durable=False`` skips the fsync (a cache: a file a crash leaves short is read as
    unreadable and made again; the rename still keeps readers from a half-written file).

    For writers that want a file name (``np.savez``, ``fig.savefig``, ``zipfile``). The temporary
    name keeps `path`'s suffix, so libraries that pick a format by extension still do.

    Example:
        with atomic_output("fig.png") as tmp:
            fig.savefig(tmp)
    """
    path = prepare_output(path, make_parents=make_parents)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(
    path: str | Path, data: bytes, *, make_parents: bool = False, durable: bool = True
) -> Path:
    """Write `data` to `path` atomically (`atomic_output`)."""
    with atomic_output(path, make_parents=make_parents, durable=durable) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(
    path: str | Path, text: str, *, make_parents: bool = False, durable: bool = True
) -> Path:
    """Write UTF-8 `text` to `path` atomically (`atomic_output`)."""
    return write_bytes_atomic(path, text.encode("utf-8"), make_parents=make_parents,
                              durable=durable)  # fmt: skip


def write_json_atomic(path: str | Path, obj: Any, *, make_parents: bool = False) -> Path:
    """Write `obj` (dataclasses, enums and paths allowed) as indented JSON, atomically.

    Non-finite floats become ``null`` (JSON has no NaN).
    """
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n"
    return write_text_atomic(path, text, make_parents=make_parents)


def file_sha256(path: str | Path) -> str:
    """sha256 hex digest of a file's bytes (streamed by `hashlib.file_digest`)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, enums, tuples and paths to plain JSON types (NaN/inf become None)."""
    if hasattr(obj, "to_json") and callable(obj.to_json):
        return to_jsonable(obj.to_json())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if type(obj).__module__ == "numpy":  # numpy scalars and arrays
        return to_jsonable(obj.tolist())
    return obj


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache root: explicit argument, ``$FCDMBENCH_CACHE``, or the user cache dir."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get("FCDMBENCH_CACHE"):
        return Path(os.environ["FCDMBENCH_CACHE"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("fcdmbench"))
