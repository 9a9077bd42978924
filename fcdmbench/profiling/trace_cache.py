"""Meta-device traces kept between runs and within one: pricing a trace takes milliseconds,
tracing it tens (a forward, repeated blocks replayed) to about a second (a training step), and
the audit, the report and a test session price the same traces many times.

`cached_trace` returns `fcdmbench.profiling.op_trace.trace_ops`'s trace and `cached_train_trace`
``trace_train_step``'s, from this process's memory, else from ``<folder>/<key>.json``, else
traced now and written there. The folder is ``$FCDMBENCH_TRACE_CACHE``, else
``<cache root>/traces`` (`fcdmbench.evaluation.cache.cache_root`: ``$FCDMBENCH_CACHE`` or the
user cache dir); ``FCDMBENCH_TRACE_CACHE=0`` turns the disk cache off. The key hashes the
arguments with torch's and fcdmbench's versions and the source of every module a trace depends
on (the trace and FLOP-counter code, the training step's workloads, the model builders, configs
and baselines), so an edit to any of them traces afresh.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import json
import os
from importlib.metadata import version
from pathlib import Path
from typing import Any

__all__ = ["cached_trace", "cached_train_trace", "clear_memory", "trace_dir"]

_MEMORY: dict[str, Any] = {}
#: (package, path inside it) of every module or folder whose source shapes a trace.
_SOURCES = (
    ("fcdmbench", "profiling/op_trace.py"),
    ("fcdmbench", "profiling/op_table.py"),
    ("fcdmbench", "profiling/trace_memo.py"),
    ("fcdmbench", "profiling/autocast_policy.py"),
    ("fcdmbench", "profiling/inputs.py"),
    ("fcdmbench", "profiling/workloads.py"),
    ("fcdmbench", "profiling/flops.py"),
    ("fcdmbench", "registry.py"),
    ("fcdmbench", "models"),
    ("fcdmbench", "catalog"),
    ("fcdmbench_baselines", ""),
)


def trace_dir() -> Path | None:
    """Where traces are kept (None: the disk cache is off)."""
    from fcdmbench.evaluation.cache import cache_root

    folder = os.environ.get("FCDMBENCH_TRACE_CACHE")
    if folder == "0":
        return None
    return Path(folder).expanduser() if folder else cache_root() / "traces"


@functools.cache
def _source_digest() -> str:
    """sha256 over the `_SOURCES` files, found through their packages (editable or installed)."""

    digest = hashlib.sha256()
    for package, inner in _SOURCES:
        spec = importlib.util.find_spec(package)
        path = Path(spec.origin).parent / inner if spec and spec.origin else None
        if path is None or not path.exists():
            raise RuntimeError(f"trace cache: {package}/{inner} not found")
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(f"{package}/{file.relative_to(path.parent)}".encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


@functools.cache
def _torch_version() -> str:
    """The installed torch's version, read without importing torch (a warm run needs none)."""

    return version("torch")


def _key(args: tuple) -> str:
    import fcdmbench

    text = json.dumps([list(map(str, args)), _torch_version(), fcdmbench.__version__])
    return hashlib.sha256((text + _source_digest()).encode()).hexdigest()[:32]


def _call_to_json(call: Any) -> list:
    return [
        call.op, call.module, call.kind, call.dtype, call.macs, call.bytes_read,
        call.bytes_written, list(call.shape), call.phase,
        [[list(s), d, c] for s, d, c in call.inputs], [_call_to_json(m) for m in call.members],
    ]  # fmt: skip


def _call_from_json(raw: list) -> Any:
    from fcdmbench.profiling.op_trace import OpCall

    op, module, kind, dtype, macs, read, written, shape, phase, inputs, members = raw
    return OpCall(
        op, module, kind, dtype, float(macs), int(read), int(written), tuple(shape), phase,
        inputs=tuple((tuple(s), d, bool(c)) for s, d, c in inputs),
        members=tuple(_call_from_json(m) for m in members),
    )  # fmt: skip


def _trace_types() -> dict[str, Any]:
    from fcdmbench.profiling.op_trace import OpTrace, TrainTrace

    return {"forward": OpTrace, "train": TrainTrace}


def _load(path: Path) -> Any | None:
    try:
        raw = json.loads(path.read_text())
        calls = tuple(_call_from_json(c) for c in raw.pop("calls"))
        return _trace_types()[raw.pop("type")](**raw, calls=calls)
    except (OSError, ValueError, TypeError, KeyError):
        return None  # missing or unreadable: trace again


def _store(path: Path, trace: Any) -> None:

    from fcdmbench.files import write_text_atomic

    kind = next(k for k, t in _trace_types().items() if type(trace) is t)
    fields = {f.name: getattr(trace, f.name) for f in dataclasses.fields(trace)}
    fields.update(type=kind, calls=[_call_to_json(c) for c in trace.calls])
    try:
        text = json.dumps(fields, separators=(",", ":"))
        write_text_atomic(path, text, make_parents=True, durable=False)  # a cache: no fsync
    except OSError:
        pass  # a read-only cache only costs time


def _cached(args: tuple, make: Any) -> Any:
    """The trace `args` key: from memory, else from disk, else ``make()`` (then kept)."""
    key = _key(args)
    if key in _MEMORY:
        return _MEMORY[key]
    folder = trace_dir()
    path = folder / f"{key}.json" if folder is not None else None
    trace = _load(path) if path is not None else None
    if trace is None:
        trace = make()
        if path is not None:
            _store(path, trace)
    _MEMORY[key] = trace
    return trace


def cached_trace(
    model: str,
    resolution: int,
    batch: int,
    autocast: str | None = None,
    overrides: tuple[tuple[str, Any], ...] = (),
) -> Any:
    """`trace_ops(model, resolution, batch, autocast, overrides=...)`, cached (module
    docstring)."""
    from fcdmbench.profiling.op_trace import trace_ops

    args = (model, resolution, batch, autocast, overrides)
    return _cached(args, lambda: trace_ops(*args[:4], overrides=dict(overrides) or None))


def cached_train_trace(
    model: str,
    resolution: int,
    batch: int,
    autocast: str | None = None,
    attention: str = "fused",
    grad_checkpointing: bool = False,
    ema: bool = True,
) -> Any:
    """`trace_train_step` with the same arguments, cached (module docstring)."""
    from fcdmbench.profiling.op_trace import trace_train_step

    args = (model, resolution, batch, autocast, attention, grad_checkpointing, ema)
    return _cached(("train", *args), lambda: trace_train_step(*args))


def clear_memory() -> None:
    """Forget this process's traces (tests)."""
    _MEMORY.clear()
