"""fcdmbench: FCDM vs DiT, DiC and DiCo on equal terms.

Importing the package loads no model family and no torch; the registry imports torch-free
catalogue modules on its first query.
"""

from __future__ import annotations

__version__ = "0.1.0"

from fcdmbench.errors import (  # noqa: E402
    CheckFailedError,
    ConfigError,
    DeviceError,
    FcdmbenchError,
    InputError,
    MissingExtraError,
    UnknownModelError,
)
from fcdmbench.registry import create_model, get_spec, list_models, register_model  # noqa: E402

__all__ = [
    "CheckFailedError",
    "ConfigError",
    "DeviceError",
    "FcdmbenchError",
    "InputError",
    "MissingExtraError",
    "UnknownModelError",
    "__version__",
    "create_model",
    "get_spec",
    "list_models",
    "register_model",
]
