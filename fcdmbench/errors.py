"""Error classes with exit codes; the CLI catches `FcdmbenchError` in one place (docs/design.md).

| class                                   | exit |
|-----------------------------------------|------|
| ConfigError, UnknownModelError, ...     | 2    |
| InputError, ReferenceBatchError         | 3    |
| DeviceError, MissingExtraError          | 4    |
| CheckFailedError                        | 5    |
"""

from __future__ import annotations

import importlib

__all__ = [
    "CheckFailedError",
    "ConfigError",
    "DeviceError",
    "DuplicateModelError",
    "FcdmbenchError",
    "InputError",
    "MissingExtraError",
    "ReferenceBatchError",
    "UnknownModelError",
]


class FcdmbenchError(Exception):
    """Base class of every error fcdmbench reports to a user.

    Args:
        message: what went wrong, with the offending value.
        hint: how to fix it (printed as a `hint:` line by the CLI).
    """

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(FcdmbenchError, ValueError):
    """A configuration value or option is invalid (exit 2)."""

    exit_code = 2


class UnknownModelError(ConfigError, KeyError):
    """A model name is not registered; the message lists the nearest names (exit 2)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class DuplicateModelError(ConfigError):
    """A model name (or alias) is registered twice (exit 2)."""


class InputError(FcdmbenchError):
    """An input file is missing, truncated or malformed (exit 3)."""

    exit_code = 3


class ReferenceBatchError(InputError):
    """A reference batch is missing or does not match the manifest's sha256 (exit 3)."""


class DeviceError(FcdmbenchError):
    """A requested device (e.g. CUDA) is absent (exit 4)."""

    exit_code = 4


class MissingExtraError(FcdmbenchError, ImportError):
    """An optional dependency is not installed (exit 4)."""

    exit_code = 4


class CheckFailedError(FcdmbenchError):
    """A verification, parity or regression check failed (exit 5)."""

    exit_code = 5


def require(module: str, extra: str, purpose: str):
    """Import an optional dependency or raise `MissingExtraError` naming the extra to install.

    Example:
        tf = require("tensorflow", "eval-tf-cpu", "the ADM Inception graph")
    """

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{purpose} needs the Python package '{module}', which is not installed ({exc})",
            hint=f"pip install 'fcdmbench[{extra}]'",
        ) from exc
