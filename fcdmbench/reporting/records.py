"""Records: one JSON object per run, written atomically, with a schema name and version.

Schemas in use: ``fcdmbench.flops/1``, ``fcdmbench.throughput/1``, ``fcdmbench.eval/1``,
``fcdmbench.sample/1``. Every record has ``schema``, ``env`` (an `EnvInfo` as a dict) and
``created``; commands write records, reports read only records.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from fcdmbench.errors import InputError

__all__ = ["read_record", "write_json_atomic", "write_record"]


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write JSON via a temporary file in the same folder and ``os.replace`` (no torn files)."""
    from fcdmbench.cli.output import to_jsonable

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(to_jsonable(obj), fh, indent=2, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_record(path: str | Path, schema: str, body: dict[str, Any]) -> Path:
    """Write ``{"schema": schema, **body}`` atomically (`schema`: ``fcdmbench.flops/1``)."""
    if "/" not in schema:
        raise ValueError(f"schema must look like 'fcdmbench.kind/N', got {schema!r}")
    return write_json_atomic(path, {"schema": schema, **body})


def read_record(path: str | Path, expect: str | None = None) -> dict[str, Any]:
    """Read a record; `expect` is a schema prefix such as ``fcdmbench.throughput``.

    Raises:
        InputError: missing file, invalid JSON, or a different schema.
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InputError(f"record {path} not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"record {path} is not valid JSON: {exc}") from exc
    if not isinstance(record, dict) or "schema" not in record:
        raise InputError(f"{path} is not an fcdmbench record (no 'schema' field)")
    if expect is not None and not str(record["schema"]).startswith(expect + "/"):
        raise InputError(f"{path} has schema {record['schema']!r}, expected {expect}/N")
    return record
