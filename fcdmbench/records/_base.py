"""The machinery every record kind shares: run metadata, validation by msgspec, JSON.

A record class is a frozen, slotted dataclass that also derives from `Record`. `Record.from_json`
converts the parsed JSON with ``msgspec.convert`` (strict: neither ``"4"`` nor ``true`` is an
integer; an integer is accepted as a float) and raises `InputError` naming the file and the
first bad field in field order (``run.json: results[0].batch: expected an integer, got '4'``);
unknown keys are ignored, so a reader of schema version N accepts records a later release wrote
under the same version. ``to_json`` writes the fields (plus the class's ``DERIVED`` properties,
for people reading the file) under ``schema``. Field types: str, int, float, bool, ``X | None``,
Any, enums (stored as their values), ``tuple[T, ...]``, ``tuple[A, B]``, ``dict[str, T]`` and
nested dataclasses.

This module imports neither torch nor the CLI nor the reporting layer, and msgspec only when a
record is read.
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


def parse(cls: type, obj: Any, source: Any = None, path: str = "") -> Any:
    """Build dataclass `cls` from JSON `obj`, validating every field (`msgspec.convert`).

    Raises:
        InputError: naming `source` (a file) and the first offending field, in field order.
    """
    import msgspec  # here, not at the top: commands that only write records never load it

    try:
        return msgspec.convert(obj, cls)
    except msgspec.ValidationError:
        raise InputError(
            f"{_where(source)}: {_explain(cls, obj, path)}",
            hint="the file is not a valid record of this fcdmbench version; re-create it with "
            "the command that wrote it",
        ) from None


def _error(value: Any, tp: Any) -> Exception | None:
    """Why `value` is no `tp` (msgspec's error), or None if it is one."""
    import msgspec

    try:
        msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        return exc
    return None


def _explain(tp: Any, value: Any, path: str) -> str:
    """The first bad field in field order: ``results[0].batch: expected an integer, got '4'``.

    msgspec names the path too (``$.results[0].batch``), but in input order, with type errors
    before missing fields and dict keys as ``[...]``: walking down from `tp` keeps today's words.
    """
    tp = _unwrap_optional(tp)
    for sub, sub_type, sub_value in _parts(tp, value, path):
        if sub_value is dataclasses.MISSING:
            return f"{sub}: missing"
        if _error(sub_value, sub_type):
            return _explain(sub_type, sub_value, sub)
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        refusal = _error(value, tp)  # every field is fine: its __post_init__ refused it
        message = str(refusal.__cause__ or refusal)
    else:
        message = _complaint(tp, value)
    return f"{path}: {message}" if path else message


def _parts(tp: Any, value: Any, path: str) -> list[tuple[str, Any, Any]]:
    """(path, type, value) of each field of a dataclass (MISSING if required and absent), item
    of a tuple of the right length or value of a dict, in order; none if `value` is no object."""
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        hints, no = typing.get_type_hints(tp), dataclasses.MISSING
        return [
            (f"{path}.{f.name}".removeprefix("."), hints[f.name], value.get(f.name, no))
            for f in dataclasses.fields(tp)
            if f.name in value or (f.default is no and f.default_factory is no)
        ]
    if typing.get_origin(tp) is dict and isinstance(value, dict):
        return [(f"{path}.{k}", args[1], v) for k, v in value.items()]
    if typing.get_origin(tp) is tuple and isinstance(value, (list, tuple)):
        item_types = args[:1] * len(value) if args[-1] is Ellipsis else args
        if len(item_types) == len(value):
            return [
                (f"{path}[{i}]", *pair)
                for i, pair in enumerate(zip(item_types, value, strict=True))
            ]
    return []


def _unwrap_optional(tp: Any) -> Any:
    options = [t for t in typing.get_args(tp) if t is not type(None)]
    is_union = typing.get_origin(tp) in (typing.Union, types.UnionType)
    return options[0] if is_union and len(options) == 1 else tp


def _complaint(tp: Any, value: Any) -> str:
    """Why `value` is no `tp`, where its top level is wrong."""
    got = _short(value)
    if tp in _EXPECTED:
        return f"expected {_EXPECTED[tp]}, got {got}"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return f"expected one of {', '.join(repr(m.value) for m in tp)}, got {got}"
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        got = "null" if value is None else got
        return f"expected {str(tp).replace('typing.', '')}, got {got}"
    if typing.get_origin(tp) is tuple:
        if isinstance(value, (list, tuple)):
            return f"expected {len(typing.get_args(tp))} items, got {len(value)}"
        return f"expected a list, got {got}"
    return f"expected an object, got {got}"


_EXPECTED = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
