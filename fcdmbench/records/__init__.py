"""Typed records: one frozen class per kind, one schema from every command to the gate and report.

Every command's result is a record: a frozen dataclass with a schema name and version
(``fcdmbench.<kind>/N``), the environment it ran in (`EnvInfo`) and run metadata (`RunInfo`:
fcdmbench version, git sha and dirty flag, start time, command line). Library entry points return
them complete (`run_flops` -> `FlopsRecord`, `measure_throughput` -> `ThroughputRecord`,
`evaluate` -> `EvalRecord`, `run_sampling` -> `SampleRecord`, `run_spectral` -> `SpectralRecord`,
`run_roofline` -> `RooflineRecord`, `measure_memory` -> `MemoryRecord`);
the CLI only renders and writes them; the report and the regression gate read them only through
these classes.

| kind       | class              | written by                                   |
|------------|--------------------|----------------------------------------------|
| flops      | `FlopsRecord`      | ``fcdmbench flops --json``                   |
| throughput | `ThroughputRecord` | ``fcdmbench throughput``                     |
| baseline   | `BaselineRecord`   | ``fcdmbench baseline update``                |
| eval       | `EvalRecord`       | ``fcdmbench eval`` (version 3)               |
| sample     | `SampleRecord`     | ``fcdmbench sample`` (``<out>.npz.json``)    |
| spectral   | `SpectralRecord`   | ``fcdmbench analyze spectral``               |
| roofline   | `RooflineRecord`   | ``fcdmbench roofline --json`` (a model)      |
| roofline-train | `TrainRooflineRecord` | ``roofline --mode train --json`` (a model) |
| memory     | `MemoryRecord`     | ``fcdmbench memory --json`` (a model)        |
| audit      | `AuditRecord`      | ``fcdmbench audit --json`` (a model)         |
| report     | `ReportManifest`   | ``fcdmbench report`` (``manifest.json``)     |

A file of an older schema version is refused with "re-run ... with this version": no release
ever wrote one (no tag; version 0.1.0 since the first commit), so nothing is migrated.

Example:
    >>> from fcdmbench.records import read_record, write_record
    >>> record = read_record("flops.json", kind="flops")  # doctest: +SKIP
    >>> record.result("fcdm-s").gmacs  # doctest: +SKIP
    3.0839...

This package imports neither torch nor the CLI nor the reporting layer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fcdmbench.env import EnvInfo
from fcdmbench.errors import InputError
from fcdmbench.files import write_json_atomic
from fcdmbench.records._base import Record, RunInfo, now_iso, schema_parts
from fcdmbench.records.audit import AuditRecord
from fcdmbench.records.evaluation import (
    PAPER_NUM_SAMPLES,
    CrossCheckRecord,
    EvalMode,
    EvalRecord,
    EvalTimings,
    FDDinoV2Result,
    InceptionGraph,
    MetricPair,
    OutputDifference,
    ReferenceFile,
    SamplerSettings,
    SamplesFile,
    TensorFlowInfo,
)
from fcdmbench.records.flops import (
    CFG_FACTOR,
    CONVENTION,
    TRAIN_FACTOR,
    CounterComparison,
    FlopsRecord,
    FlopsResult,
    ModuleCount,
    OpCount,
)
from fcdmbench.records.frame import to_frame
from fcdmbench.records.memory import (
    MemoryCard,
    MemoryRecord,
    MemoryResult,
    MemorySettings,
    StepMemory,
)
from fcdmbench.records.report import ReportManifest
from fcdmbench.records.roofline import (
    AllReduce,
    CpuCalibration,
    MeasuredThroughput,
    OpTime,
    RooflineDevice,
    RooflineRecord,
    RooflineResult,
    RooflineSettings,
    TrainPhase,
    TrainResult,
    TrainRooflineRecord,
    TrainSettings,
)
from fcdmbench.records.sampling import (
    CheckpointInfo,
    GuidanceInfo,
    LabelInfo,
    SampleModel,
    SamplePrecision,
    SampleRecord,
    SamplerInfo,
    SampleTiming,
    SDEInfo,
    SpectralCurve,
    SpectralRecord,
    SpectralSource,
    VAEInfo,
)
from fcdmbench.records.throughput import (
    BaselineRecord,
    CanaryResult,
    ProtocolSettings,
    Summary,
    ThroughputPoint,
    ThroughputRecord,
    ThroughputResult,
    ThroughputSettings,
)

__all__ = [
    "CFG_FACTOR",
    "CONVENTION",
    "PAPER_NUM_SAMPLES",
    "RECORD_TYPES",
    "TRAIN_FACTOR",
    "AllReduce",
    "AuditRecord",
    "BaselineRecord",
    "CanaryResult",
    "CheckpointInfo",
    "CounterComparison",
    "CpuCalibration",
    "CrossCheckRecord",
    "EnvInfo",
    "EvalMode",
    "EvalRecord",
    "EvalTimings",
    "FDDinoV2Result",
    "FlopsRecord",
    "FlopsResult",
    "GuidanceInfo",
    "InceptionGraph",
    "LabelInfo",
    "MetricPair",
    "MeasuredThroughput",
    "MemoryCard",
    "MemoryRecord",
    "MemoryResult",
    "MemorySettings",
    "ModuleCount",
    "OpCount",
    "OutputDifference",
    "OpTime",
    "ProtocolSettings",
    "Record",
    "ReferenceFile",
    "ReportManifest",
    "RooflineDevice",
    "RooflineRecord",
    "RooflineResult",
    "RooflineSettings",
    "RunInfo",
    "SDEInfo",
    "SampleModel",
    "SamplePrecision",
    "SampleRecord",
    "SampleTiming",
    "SamplerInfo",
    "SamplerSettings",
    "SamplesFile",
    "SpectralCurve",
    "SpectralRecord",
    "SpectralSource",
    "StepMemory",
    "Summary",
    "TensorFlowInfo",
    "ThroughputPoint",
    "ThroughputRecord",
    "ThroughputResult",
    "ThroughputSettings",
    "TrainPhase",
    "TrainResult",
    "TrainRooflineRecord",
    "TrainSettings",
    "VAEInfo",
    "now_iso",
    "read_json",
    "read_record",
    "record_from_json",
    "to_frame",
    "write_record",
]

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
