"""`to_frame`: any mix of records as one tidy pandas DataFrame, one row per number.

Example (a notebook):
    >>> from fcdmbench.records.frame import to_frame
    >>> df = to_frame(["runs/"])  # files or folders; or records returned by the library
    >>> df[df.quantity == "img_per_s"].pivot_table(  # doctest: +SKIP
    ...     index="model", columns=["device", "precision"], values="value")

Columns (`COLUMNS`): ``source`` (the file, "" for an object), ``kind`` (flops, throughput,
baseline, eval, roofline, memory), ``model``, ``variant`` (throughput rows such as
``ckpt-always``; "" otherwise), ``quantity``, ``value``, ``unit``, ``is_prediction`` (True for
roofline and memory: models, not measurements), ``device`` (device slug; ``meta`` for FLOP
counts; the device table key for a roofline), ``precision``, ``batch``, ``resolution``,
``num_samples`` (eval), ``started``, ``git_sha``, ``torch``.

Sample, spectral and report records hold settings, curves and file lists rather than single
numbers: they add no rows. Inside a folder, ``*.json`` files that are not fcdmbench records are
passed over (a sampling run's shard list, for instance); a file named explicitly must be one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from fcdmbench.errors import InputError
from fcdmbench.records._base import Record, schema_parts
from fcdmbench.records.evaluation import EvalRecord
from fcdmbench.records.flops import FlopsRecord
from fcdmbench.records.memory import MemoryRecord
from fcdmbench.records.roofline import RooflineRecord
from fcdmbench.records.throughput import BaselineRecord, ThroughputRecord

__all__ = ["COLUMNS", "to_frame"]

COLUMNS: tuple[str, ...] = (
    "source",
    "kind",
    "model",
    "variant",
    "quantity",
    "value",
    "unit",
    "is_prediction",
    "device",
    "precision",
    "batch",
    "resolution",
    "num_samples",
    "started",
    "git_sha",
    "torch",
)

_FLOPS = (("gmacs", "GMAC/img"), ("gflops", "GFLOP/img"), ("dense_gmacs", "GMAC/img"))
_THROUGHPUT = (
    ("img_per_s", "img/s"),
    ("iqr", "img/s"),
    ("ms_per_forward", "ms"),
    ("peak_mem_gib", "GiB"),
    ("tflops_achieved", "TFLOP/s"),
    ("mfu", "fraction"),
)
_EVAL = ("fid", "sfid", "inception_score", "precision", "recall")
_ROOFLINE = (
    ("img_per_s", "img/s"),
    ("ms_per_forward", "ms"),
    ("memory_bound_share", "fraction"),
    ("tflops_at_bound", "TFLOP/s"),
)


def to_frame(sources: Iterable[str | Path | Record]) -> Any:
    """Load records (files, folders searched for ``*.json``, or record objects) into one tidy
    `pandas.DataFrame` with the columns `COLUMNS`, one row per number.

    Raises:
        InputError: a path is missing, or a file named explicitly is not a valid record.
    """
    import pandas as pd

    rows = []
    for source, record in _records(sources):
        rows += _ROWS.get(type(record), _no_rows)(record, source)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _records(sources: Iterable[str | Path | Record]) -> Iterator[tuple[str, Record]]:
    for source in sources:
        if isinstance(source, Record):
            yield "", source
        elif Path(source).is_dir():
            for path in sorted(Path(source).rglob("*.json")):
                yield from _read(path, explicit=False)
        elif Path(source).is_file():
            yield from _read(Path(source), explicit=True)
        else:
            raise InputError(f"{source} does not exist", hint="name record files or folders")


def _read(path: Path, explicit: bool) -> Iterator[tuple[str, Record]]:
    """The record in `path`, if it is of a kind that holds numbers (validated)."""
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        obj = None
    parts = schema_parts(obj.get("schema")) if isinstance(obj, dict) else None
    if parts is None:
        if explicit:
            raise InputError(
                f"{path} is not an fcdmbench record",
                hint="records are the .json files fcdmbench commands write",
            )
        return
    cls = next((cls for cls in _ROWS if cls.kind() == parts[0]), None)
    if cls is not None:  # a kind that holds numbers; the others add no rows
        yield str(path), cls.from_json(obj, source=path)


def _row(record: Record, source: str, **fields: Any) -> dict[str, Any]:
    """A row with the record-wide columns filled in."""
    return {
        "source": source,
        "kind": record.kind(),
        "variant": "",
        "is_prediction": False,
        "started": record.run.started,
        "git_sha": record.run.git_sha,
        "torch": record.env.torch,
        **fields,
    }


def _eval_rows(record: Any, source: str) -> Iterator[dict[str, Any]]:
    context = {"model": record.model, "resolution": record.resolution}
    context |= {"num_samples": record.num_samples, "device": record.env.device_slug}
    for quantity in _EVAL:
        value = getattr(record, quantity)
        if value is not None:
            yield _row(record, source, quantity=quantity, value=value, unit="", **context)


def _roofline_rows(record: Any, source: str) -> Iterator[dict[str, Any]]:
    for r in record.results:
        context = {"model": r.model, "device": record.device.key, "precision": r.precision}
        context |= {"batch": r.batch, "resolution": r.resolution, "is_prediction": True}
        for quantity, unit in _ROOFLINE:
            yield _row(
                record, source, quantity=quantity, value=getattr(r, quantity), unit=unit,
                **context,
            )  # fmt: skip


def _memory_rows(record: Any, source: str) -> Iterator[dict[str, Any]]:
    for r in record.results:
        context = {"model": r.model, "device": r.config.card, "batch": r.config.batch}
        context |= {"resolution": r.config.resolution, "is_prediction": True}
        for quantity, gib in r.gib.items():
            yield _row(record, source, quantity=quantity, value=gib, unit="GiB", **context)


def _flops_rows(record: Any, source: str) -> Iterator[dict[str, Any]]:
    for r in record.results:
        context = {"model": r.model, "device": r.device, "batch": r.batch}
        context |= {"resolution": r.resolution}
        yield _row(record, source, quantity="params", value=r.params, unit="count", **context)
        for quantity, unit in _FLOPS:
            yield _row(
                record, source, quantity=quantity, value=getattr(r, quantity), unit=unit,
                **context,
            )  # fmt: skip


def _throughput_rows(record: Any, source: str) -> Iterator[dict[str, Any]]:
    kind = record.kind()
    inner = record.record if kind == "baseline" else record
    for point in inner.points(variants=True):
        context = {"model": point.model, "variant": "+".join(point.variant)}
        context |= {"device": point.device_slug, "precision": point.precision}
        context |= {"batch": point.batch, "resolution": point.resolution}
        for quantity, unit in _THROUGHPUT:
            value = getattr(point, quantity)
            if value is not None:
                row = _row(inner, source, quantity=quantity, value=value, unit=unit, **context)
                yield {**row, "kind": kind}


def _no_rows(record: Any, source: str) -> Iterator[dict[str, Any]]:
    return iter(())


#: How each kind that holds single numbers becomes rows (sample, spectral and report records
#: hold settings, curves and file lists: no rows).
_ROWS: dict[type[Record], Callable[[Any, str], Iterator[dict[str, Any]]]] = {
    FlopsRecord: _flops_rows,
    ThroughputRecord: _throughput_rows,
    BaselineRecord: _throughput_rows,
    EvalRecord: _eval_rows,
    RooflineRecord: _roofline_rows,
    MemoryRecord: _memory_rows,
}
