"""Reading and writing records of any kind: the file is dispatched on its ``schema``.

Example:
    >>> from fcdmbench.records.io import read_record
    >>> record = read_record("flops.json", kind="flops")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fcdmbench.errors import InputError
from fcdmbench.files import write_json_atomic
from fcdmbench.records._base import Record, schema_parts
from fcdmbench.records.audit import AuditRecord
from fcdmbench.records.evaluation import (
    CrossCheckRecord,
    EvalRecord,
)
from fcdmbench.records.flops import (
    FlopsRecord,
)
from fcdmbench.records.memory import (
    MemoryRecord,
)
from fcdmbench.records.report import ReportManifest
from fcdmbench.records.roofline import (
    RooflineRecord,
    TrainRooflineRecord,
)
from fcdmbench.records.sampling import (
    SampleRecord,
    SpectralRecord,
)
from fcdmbench.records.throughput import (
    BaselineRecord,
    ThroughputRecord,
)

#: Record class per kind (the part of the schema between ``fcdmbench.`` and ``/``).
RECORD_TYPES: dict[str, type[Record]] = {
    cls.kind(): cls
    for cls in (
        FlopsRecord,
        ThroughputRecord,
        BaselineRecord,
        EvalRecord,
        CrossCheckRecord,
        SampleRecord,
        SpectralRecord,
        RooflineRecord,
        TrainRooflineRecord,
        MemoryRecord,
        AuditRecord,
        ReportManifest,
    )
}


def _kind_name(kind: str | type[Record] | None) -> str | None:
    if kind is None or isinstance(kind, str):
        return kind
    return kind.kind()


def read_json(path: str | Path) -> Any:
    """Parse a JSON file, with an `InputError` naming it when it is missing or not JSON."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a record file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"record {path} not found", hint="check the path") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        what = "a binary file" if b"\0" in data[:1024] else f"not valid JSON ({exc})"
        raise InputError(
            f"{path} is not an fcdmbench record: {what}",
            hint="records are the .json files fcdmbench commands write",
        ) from None


def record_from_json(
    obj: Any, source: Any = None, kind: str | type[Record] | None = None
) -> Record:
    """Build the record class named by ``obj["schema"]`` (checked against `kind` if given).

    Raises:
        InputError: not an fcdmbench record, another kind than `kind`, or an invalid field.
    """
    where = "record" if source is None else str(source)
    schema = obj.get("schema") if isinstance(obj, dict) else None
    parts = schema_parts(schema)
    if parts is None:
        raise InputError(
            f"{where} is not an fcdmbench record (schema {schema!r})",
            hint="records are the .json files fcdmbench commands write",
        )
    found = parts[0]
    wanted = _kind_name(kind)
    if wanted is not None and found != wanted:
        raise InputError(
            f"{where} is a {found} record (schema {schema}), not a {wanted} record",
            hint=f"pass a file with schema fcdmbench.{wanted}/N",
        )
    cls = RECORD_TYPES.get(found)
    if cls is None:
        raise InputError(
            f"{where} has schema {schema}, a kind this fcdmbench does not know",
            hint="known kinds: " + ", ".join(RECORD_TYPES),
        )
    return cls.from_json(obj, source=source)


def read_record(path: str | Path, kind: str | type[Record] | None = None) -> Any:
    """Read and validate the record at `path`.

    Args:
        path: a ``.json`` record file.
        kind: ``"throughput"``, ``ThroughputRecord``, ...; None accepts any kind.

    Returns:
        The record (an instance of ``RECORD_TYPES[kind]``).

    Raises:
        InputError: missing or unreadable file, not JSON, not a record, another kind, a field
            that fails validation (the message names the file and the field).
    """
    return record_from_json(read_json(path), source=Path(path), kind=kind)


def write_record(path: str | Path, record: Record, *, make_parents: bool = False) -> Path:
    """Write `record` as indented JSON, atomically, with normal file permissions."""

    if not isinstance(record, Record):
        raise TypeError(f"write_record takes a record object, got {type(record).__name__}")
    return write_json_atomic(path, record.to_json(), make_parents=make_parents)
