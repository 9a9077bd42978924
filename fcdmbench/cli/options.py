"""Options several commands share, as typer parameter types (one definition, one help text),
and the coercion of every command's option values (`fast_coercion`).

typer coerces every option value that is not a boolean flag with a pydantic ``TypeAdapter``,
built on first use: the first one imports pydantic (about a tenth of ``import torch``, a third
of what `fcdmbench flops` costs beyond torch's meta kernels). Most values need no such
machinery: an omitted option (None), a string for a ``str``, strings for a ``list[str]``, a
plain decimal within range for an ``int``, a member (or value) of an ``Enum`` choice.
`fast_coercion` answers exactly those as typer's adapters would (same value, same type) and
hands anything else (a path, a float, a value out of range, a malformed number, a custom parser)
to typer's own coercion, built as typer builds it, so every error message and every other value
stays typer's (tests/cli/test_cli_flops.py compares the two for every option of every command).
"""

from __future__ import annotations

import dataclasses
import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import typer

__all__ = [
    "GpuKey",
    "Models",
    "RecordJson",
    "Resolution",
    "config_fields",
    "fast_coercion",
    "split_values",
]

Models = Annotated[
    list[str] | None,
    typer.Option(
        "--models", "-m", help="Models: --models fcdm-xl dit-xl-2; commas, wildcards work."
    ),
]
Resolution = Annotated[int, typer.Option("--resolution", "-r", min=8, help="Image side in pixels.")]
GpuKey = Annotated[
    str,
    typer.Option(
        "--gpu",
        "--device",
        help="Device table key (a100-40gb-sxm, a100-80gb-sxm, h100-sxm, h100-pcie, h200-sxm, "
        "rtx-4090, l40s; --list-devices) or 'cpu' (calibrated on this machine).",
    ),
]


def RecordJson(schema: str) -> type:  # noqa: N802 (a type factory)
    """``--json PATH``: write the command's record (``-``: print it instead of the tables)."""
    return Annotated[
        Path | None,
        typer.Option(
            "--json", metavar="PATH", help=f"Write a fcdmbench.{schema} record ('-': stdout)."
        ),
    ]


def split_values(values: list[str] | None) -> tuple[str, ...]:
    """``["2,3", "4"]`` -> ``("2", "3", "4")``."""
    return tuple(v.strip() for value in values or () for v in value.split(",") if v.strip())


def config_fields(cls: type, options: dict, renamed: dict[str, str] | None = None) -> dict:
    """The command's `options` (name -> value) that are fields of the config dataclass `cls`,
    by name; `renamed` maps a field to its option's name where the two differ."""
    renamed = renamed or {}
    names = ((f.name, renamed.get(f.name, f.name)) for f in dataclasses.fields(cls))
    return {field: options[option] for field, option in names if option in options}


#: What `_plain` returns when it leaves a value to typer.
_TYPER = object()
#: Decimals that pydantic's lax ``int`` reads as Python's ``int`` does (no sign, spaces,
#: underscores or leading zeros: those go to typer).
_DECIMAL = re.compile(r"-?[1-9][0-9]*|0")


class _FastCoercion:
    """A ``RuntimeParam`` stand-in: `_plain` first, typer's own coercion for the rest."""

    def __init__(self, descriptor: Any) -> None:
        self.descriptor = descriptor
        self.typer_param: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        multi = param.multiple or param.nargs == -1
        if value is None:  # what typer's RuntimeParam.coerce returns for an omitted value
            return () if multi else None
        plain = _TYPER if multi and isinstance(value, str) else _plain(self, value, ctx)
        if plain is not _TYPER:
            return plain
        if self.typer_param is None:
            from typer._coercion import build_runtime_param

            self.typer_param = build_runtime_param(self.descriptor)
        return self.typer_param.coerce(value, param=param, ctx=ctx)


def _plain(coercion: _FastCoercion, value: Any, ctx: Any) -> Any:
    """typer's adapter's result for `value` where it is plain, else `_TYPER`."""
    descriptor = coercion.descriptor
    info = descriptor.parameter_info
    if info.parser is not None or descriptor.is_file:
        return _TYPER
    annotation = descriptor.annotation
    if get_origin(annotation) is list:  # the adapter validates each item into a list
        (item,) = get_args(annotation)
        if not isinstance(value, list | tuple):
            return _TYPER
        items = [_leaf(item, info, v, ctx) for v in value]
        return _TYPER if any(i is _TYPER for i in items) else items
    return _leaf(annotation, info, value, ctx)


def _leaf(annotation: Any, info: Any, value: Any, ctx: Any) -> Any:
    if annotation is str:
        return value if type(value) is str else _TYPER  # a StrEnum member becomes a str
    if annotation is int and not info.clamp:
        if isinstance(value, str) and _DECIMAL.fullmatch(value):
            value = int(value)
        if type(value) is not int:
            return _TYPER
        low, high = info.min, info.max
        inside = (low is None or value >= low) and (high is None or value <= high)
        return value if inside else _TYPER
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        from typer._param_types import coerce_cli_choice

        try:  # typer's choice adapter calls this very function; its errors go to typer
            return coerce_cli_choice(
                value, choices=list(annotation), case_sensitive=info.case_sensitive, ctx=ctx
            )
        except Exception:  # noqa: BLE001 - typer raises it again, with its own message
            return _TYPER
    return _TYPER


def fast_coercion(params: Any) -> None:
    """Give each typer parameter in `params` (a command's, its help option included) the fast
    coercion (module docstring); a parameter typer has already coerced, or one without
    typer's descriptor, keeps its own."""
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is not None and getattr(param, "_runtime_param", False) is None:
            param._runtime_param = _FastCoercion(descriptor)
