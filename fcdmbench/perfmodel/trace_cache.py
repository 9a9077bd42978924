"""Meta-device traces kept between runs and within one: pricing a trace takes milliseconds,
tracing it tens (a forward, repeated blocks replayed) to about a second (a training step), and
the audit, the report and a test session price the same traces many times.

`cached_trace` returns `fcdmbench.perfmodel.op_trace.trace_ops`'s trace and `cached_train_trace`
``trace_train_step``'s, from this process's memory, else from ``<folder>/<key>.json``, else
traced now and written there. The folder is ``$FCDMBENCH_TRACE_CACHE``, else
``<cache root>/traces`` (`fcdmbench.files.cache_root`: ``$FCDMBENCH_CACHE`` or the
user cache dir); ``FCDMBENCH_TRACE_CACHE=0`` turns the disk cache off. The key hashes the
arguments with torch's and fcdmbench's versions and the source of every module a trace depends
on (the trace and FLOP-counter code, the training step's workloads, the model builders, configs
and baselines), so an edit to any of them traces afresh.

`prefetch` traces what a caller will ask for in forked worker processes, one per CPU up to four
(``$FCDMBENCH_TRACE_WORKERS`` sets the number; 1 traces in this process, on demand). Tracing
computes nothing (meta tensors), so a fork shares the parent's imported torch and no thread pool.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import json
import os
from collections.abc import Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

__all__ = [
    "cached_trace",
    "cached_train_trace",
    "clear_memory",
    "prefetch",
    "trace_dir",
    "trace_workers",
]

_MEMORY: dict[str, Any] = {}
#: (package, path inside it) of every module or folder whose source shapes a trace.
_SOURCES = (
    ("fcdmbench", "perfmodel/op_trace.py"),
    ("fcdmbench", "flops/op_table.py"),
    ("fcdmbench", "flops/meta_memo.py"),
    ("fcdmbench", "perfmodel/autocast.py"),
    ("fcdmbench", "flops/inputs.py"),
    ("fcdmbench", "throughput/workloads.py"),
    ("fcdmbench", "flops/counter.py"),
    ("fcdmbench", "registry.py"),
    ("fcdmbench", "models"),
    ("fcdmbench", "catalog"),
    ("fcdmbench_baselines", ""),
)


def trace_dir() -> Path | None:
    """Where traces are kept (None: the disk cache is off)."""
    from fcdmbench.files import cache_root

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
        call.winograd,
    ]  # fmt: skip


def _call_from_json(raw: list) -> Any:
    from fcdmbench.perfmodel.op_trace import OpCall

    op, module, kind, dtype, macs, read, written, shape, phase, inputs, members, winograd = raw
    return OpCall(
        op, module, kind, dtype, float(macs), int(read), int(written), tuple(shape), phase,
        inputs=tuple((tuple(s), d, bool(c)) for s, d, c in inputs),
        members=tuple(_call_from_json(m) for m in members), winograd=bool(winograd),
    )  # fmt: skip


def _trace_types() -> dict[str, Any]:
    from fcdmbench.perfmodel.op_trace import OpTrace, TrainTrace

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
    from fcdmbench.perfmodel.op_trace import trace_ops

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
    from fcdmbench.perfmodel.op_trace import trace_train_step

    args = (model, resolution, batch, autocast, attention, grad_checkpointing, ema)
    return _cached(("train", *args), lambda: trace_train_step(*args))


def trace_workers() -> int:
    """How many processes `prefetch` traces in: ``$FCDMBENCH_TRACE_WORKERS``, else this process's
    CPUs up to four."""
    from fcdmbench.errors import ConfigError

    text = os.environ.get("FCDMBENCH_TRACE_WORKERS", "")
    if not text:
        return min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(
            f"FCDMBENCH_TRACE_WORKERS must be an integer >= 1, got {text!r}",
            hint="unset it (the CPUs, up to 4) or set 1 to trace in this process only",
        )
    return int(text)


def _missing(args: tuple) -> bool:
    """Whether `cached_trace(*args)` would trace (in neither memory nor the disk cache)."""
    folder = trace_dir()
    key = _key(args)
    return key not in _MEMORY and (folder is None or not (folder / f"{key}.json").exists())


def _trace_group(group: tuple[tuple, ...]) -> list[Any]:
    """A worker's job: `cached_trace` of each argument tuple (None where it fails: the parent
    traces that one again and raises the error itself)."""
    out = []
    for args in group:
        try:
            out.append(cached_trace(*args))
        except Exception:  # noqa: BLE001 - raised again, unpickled, by the parent's own trace
            out.append(None)
    return out


def prefetch(groups: Sequence[Sequence[tuple]], workers: int | None = None) -> Iterator[None]:
    """Yield once per group of `cached_trace` argument tuples, in order, when the group's traces
    are in this process's memory, each trace made once. The first group with traces missing is
    traced here (the imports and memos every trace needs); then what exists is frozen for the
    garbage collector (it stops walking torch's objects, and in a fork copying them), and the
    other groups are traced by `workers` (`trace_workers`) processes forked now, a group in one
    process (a model's fp32 and bf16 traces share its meta model); or by `cached_trace` on
    demand with fewer than two workers or groups left, without ``fork`` or outside the main
    thread. Ctrl-C interrupts the caller alone; leaving the generator cancels the jobs not begun."""
    import gc
    import multiprocessing
    import signal
    import threading
    from concurrent.futures import ProcessPoolExecutor

    jobs: list[tuple[tuple, ...]] = []
    assigned: set[str] = set()
    for group in groups:
        job = tuple(a for a in dict.fromkeys(group) if _key(a) not in assigned and _missing(a))
        assigned.update(_key(a) for a in job)
        jobs.append(job)
    first = next((i for i, job in enumerate(jobs) if job), len(jobs))
    yield from (None for _ in range(first))
    if first == len(jobs):
        return
    for args in jobs[first]:
        cached_trace(*args)
    rest = [job for job in jobs[first + 1 :] if job]
    workers = min(trace_workers() if workers is None else workers, len(rest))
    gc.freeze()
    try:
        if (
            workers < 2
            or "fork" not in multiprocessing.get_all_start_methods()
            or threading.current_thread() is not threading.main_thread()
        ):
            yield from (None for _ in jobs[first:])
            return
        context = multiprocessing.get_context("fork")
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the workers inherit SIG_IGN
        try:
            pool = ProcessPoolExecutor(workers, mp_context=context)  # forks on the first submit
            futures = [pool.submit(_trace_group, job) for job in rest]
        finally:
            signal.signal(signal.SIGINT, handler)
        with pool:  # leaving: the jobs running end (a worker that dies raises, never hangs)
            try:
                yield
                for job in jobs[first + 1 :]:
                    done = futures.pop(0).result() if job else ()
                    for args, trace in zip(job, done, strict=True):
                        if trace is not None:
                            _MEMORY[_key(args)] = trace
                    yield
            finally:
                for future in futures:
                    future.cancel()
    finally:
        gc.unfreeze()


def clear_memory() -> None:
    """Forget this process's traces (tests)."""
    _MEMORY.clear()
