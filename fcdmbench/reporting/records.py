"""Records: one JSON object per run, written atomically, with a schema name and version.

Schemas in use: ``fcdmbench.flops/1``, ``fcdmbench.throughput/1``, ``fcdmbench.eval/1``,
``fcdmbench.sample/1``. Every record has ``schema``, ``env`` (an `EnvInfo` as a dict) and
``created``; commands write records, reports read only records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fcdmbench.errors import InputError
from fcdmbench.files import write_json_atomic

__all__ = ["read_record", "write_json_atomic", "write_record"]


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
