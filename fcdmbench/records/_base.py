"""The machinery every record kind shares: run metadata, validation against type hints, JSON.

A record class is a frozen, slotted dataclass that also derives from `Record`. `Record.from_json`
checks every field against the class's type hints and raises `InputError` naming the file and the
dotted field (``run.json: results[0].batch: expected int, got '4'``); unknown keys are ignored, so
a reader of schema version N accepts records a later release wrote under the same version.
``to_json`` writes the fields (plus the class's ``DERIVED`` properties, for people reading the
file) under ``schema``. Supported field types: str, int, float, bool, None, unions, Any, enums
(stored as their values), ``tuple[T, ...]``, ``dict[str, T]`` and nested dataclasses.

This module imports neither torch nor the CLI nor the reporting layer.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import shlex
import sys
import types
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Self

from fcdmbench import __version__
from fcdmbench.env import git_state
from fcdmbench.errors import InputError

__all__ = ["Record", "RunInfo", "dump", "now_iso", "parse", "schema_parts"]


def schema_parts(schema: Any) -> tuple[str, int] | None:
    """``"fcdmbench.flops/2"`` -> ``("flops", 2)``; None for anything else."""
    if not isinstance(schema, str) or not schema.startswith("fcdmbench.") or "/" not in schema:
        return None
    kind, _, version = schema.removeprefix("fcdmbench.").partition("/")
    if not kind or not version.isdigit():
        return None
    return kind, int(version)


def _where(source: Any) -> str:
    return str(source) if source is not None else "record"


class _Invalid(Exception):
    """A field failed validation; `from_json` turns it into an `InputError`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _convert(tp: Any, value: Any, path: str) -> Any:
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None:
            if type(None) in options:
                return None
            raise _Invalid(path, f"expected {_type_name(tp)}, got null")
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, path)
            except _Invalid as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise _Invalid(path, f"expected {_type_name(tp)}, got {_short(value)}")
    if tp is type(None):
        if value is not None:
            raise _Invalid(path, f"expected null, got {_short(value)}")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise _Invalid(path, f"expected true/false, got {_short(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(path, f"expected an integer, got {_short(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Invalid(path, f"expected a number, got {_short(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _Invalid(path, f"expected a string, got {_short(value)}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _Invalid(path, f"expected a list, got {_short(value)}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise _Invalid(path, f"expected {len(args)} items, got {len(value)}")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in pairs)
    if origin is dict:
        if not isinstance(value, dict):
            raise _Invalid(path, f"expected an object, got {_short(value)}")
        _, value_type = typing.get_args(tp) or (str, Any)
        return {str(k): _convert(value_type, v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in tp)
            raise _Invalid(path, f"expected one of {allowed}, got {_short(value)}") from None
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _Invalid(path, f"expected an object, got {_short(value)}")
        return _build(tp, value, path)
    raise TypeError(f"records cannot hold fields of type {tp!r}")  # a bug in a record class


def _build(cls: type, obj: dict, path: str) -> Any:
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        sub = f"{path}.{f.name}" if path else f.name
        if f.name not in obj:
            has_default = (
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            )
            if has_default:
                continue
            raise _Invalid(sub, "missing")
        kwargs[f.name] = _convert(hints[f.name], obj[f.name], sub)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:  # __post_init__ checks
        raise _Invalid(path, str(exc)) from exc


def parse(cls: type, obj: Any, source: Any = None, path: str = "") -> Any:
    """Build dataclass `cls` from JSON `obj`, validating every field.

    Raises:
        InputError: naming `source` (a file) and the offending field.
    """
    try:
        if not isinstance(obj, dict):
            raise _Invalid(path, f"expected an object, got {_short(obj)}")
        return _build(cls, obj, path)
    except _Invalid as exc:
        raise InputError(
            f"{_where(source)}: {exc}",
            hint="the file is not a valid record of this fcdmbench version; re-create it with "
            "the command that wrote it",
        ) from None


def dump(obj: Any) -> Any:
    """A record (or any field value) as plain JSON types; non-finite floats become null."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: dump(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        for name in getattr(obj, "DERIVED", ()):
            out[name] = dump(getattr(obj, name))
        return out
    if isinstance(obj, dict):
        return {str(k): dump(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [dump(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if type(obj).__module__ == "numpy":
        return dump(obj.tolist())
    return obj


def _command_line() -> str:
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("fcdmbench", "__main__.py"):
        argv[0] = "fcdmbench"
    return shlex.join(argv)


@dataclasses.dataclass(frozen=True, slots=True)
class RunInfo:
    """Who produced a record: fcdmbench version, git state, start time, command line."""

    fcdmbench: str
    git_sha: str | None
    git_dirty: bool | None
    started: str
    command: str

    @classmethod
    def current(cls, started: str | None = None) -> RunInfo:
        """This process: version, git HEAD of the checkout, now (UTC) unless `started`, argv."""

        sha, dirty = git_state()
        return cls(
            fcdmbench=__version__,
            git_sha=sha,
            git_dirty=dirty,
            started=started or now_iso(),
            command=_command_line(),
        )


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second (``2026-11-22T10:00:00+00:00``)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Record:
    """Base of every record class: ``SCHEMA``, `to_json`, `from_json`.

    Subclasses are ``@dataclass(frozen=True, slots=True)`` and set ``SCHEMA``
    (``"fcdmbench.<kind>/N"``). A file of an older version is refused with "re-run".
    """

    __slots__ = ()
    SCHEMA: ClassVar[str] = ""
    #: Properties written to JSON beside the fields (for readers of the file), ignored on reading.
    DERIVED: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def kind(cls) -> str:
        """``"flops"`` for ``fcdmbench.flops/2``."""
        return schema_parts(cls.SCHEMA)[0]

    @classmethod
    def version(cls) -> int:
        return schema_parts(cls.SCHEMA)[1]

    def to_json(self) -> dict[str, Any]:
        """The record as one JSON object, ``schema`` first."""
        return {"schema": self.SCHEMA, **dump(self)}

    @classmethod
    def from_json(cls, obj: Any, source: Any = None) -> Self:
        """Validate `obj` (parsed JSON) and build the record.

        Args:
            obj: the parsed JSON object.
            source: where it came from (a path), named in every error.

        Raises:
            InputError: another schema, a newer version, or a field that fails validation.
        """
        where = _where(source)
        if not isinstance(obj, dict):
            raise InputError(f"{where} is not an fcdmbench record (not a JSON object)")
        parts = schema_parts(obj.get("schema"))
        if parts is None:
            raise InputError(
                f"{where} is not an fcdmbench record (schema {obj.get('schema')!r})",
                hint=f"expected schema {cls.SCHEMA}",
            )
        kind, version = parts
        if kind != cls.kind():
            raise InputError(
                f"{where} is a {kind} record (schema {obj['schema']}), not a {cls.kind()} record",
                hint=f"pass a file with schema {cls.SCHEMA}",
            )
        if version > cls.version():
            raise InputError(
                f"{where} has schema {obj['schema']}, newer than this fcdmbench reads "
                f"({cls.SCHEMA})",
                hint="upgrade fcdmbench",
            )
        if version < cls.version():
            raise InputError(
                f"{where} has schema {obj['schema']}, which this fcdmbench no longer reads",
                hint=f"re-run the command that wrote it with this version (schema {cls.SCHEMA})",
            )
        return parse(cls, obj, source)
