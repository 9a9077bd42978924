"""`--set KEY=VALUE` model-config overrides, typed by the config field they replace."""

from __future__ import annotations

import dataclasses
from typing import Any

from fcdmbench.errors import ConfigError
from fcdmbench.registry import get_spec

__all__ = ["parse_set_options"]


def parse_set_options(model: str, items: list[str] | None) -> tuple[tuple[str, Any], ...]:
    """``["width=16", "depths=1,1,1,1,1", "learn_sigma=false"]`` -> typed config overrides.

    Values are parsed by the type of the field's current value in the model's config.

    Raises:
        ConfigError: malformed item, unknown field (names the valid ones) or unparsable value.
    """

    if not items:
        return ()
    config = get_spec(model).config
    valid = {f.name for f in dataclasses.fields(config)}
    out = []
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        if key not in valid:
            raise ConfigError(
                f"unknown config field {key!r} for {type(config).__name__}",
                hint=f"valid fields: {', '.join(sorted(valid))}",
            )
        current = getattr(config, key)
        try:
            if isinstance(current, bool):
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(text)
                value: Any = text.lower() in ("true", "1")
            elif isinstance(current, int):
                value = int(text)
            elif isinstance(current, float):
                value = float(text)
            elif isinstance(current, tuple):
                value = tuple(int(v) for v in text.split(","))
            else:
                value = text
        except ValueError as exc:
            raise ConfigError(
                f"--set {key}: cannot parse {text!r} as {type(current).__name__}"
            ) from exc
        out.append((key, value))
    return tuple(out)
