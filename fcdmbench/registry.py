"""The one model registry: FCDM and every baseline, by canonical lowercase-hyphenated name.

Specs are declared in torch-free catalogue modules (`fcdmbench.catalog.*`); a spec names its
builder as an import string, so listing models imports no backbone and no torch. Lookup forgives
case and the paper spelling (``DiT-XL/2`` -> ``dit-xl-2``), accepts aliases (``dit-xl``) and a
resolution tag (``fcdm-xl.512``).

Example:
    >>> from fcdmbench.registry import create_model, list_models
    >>> list_models("fcdm-*")
    ['fcdm-s', 'fcdm-b', 'fcdm-l', 'fcdm-xl']
    >>> model = create_model("FCDM-XL", resolution=256, device="meta")
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import importlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from fcdmbench.catalog.spec import ModelSpec
from fcdmbench.errors import ConfigError, DuplicateModelError, UnknownModelError

__all__ = [
    "DEFAULT_REF",
    "create_model",
    "get_spec",
    "list_models",
    "normalize_name",
    "register_model",
    "require_models",
    "resolve",
]

#: Catalogue modules imported on the first registry query (torch-free: configs + specs only).
CATALOG_MODULES: tuple[str, ...] = (
    "fcdmbench.catalog.fcdm",
    "fcdmbench.catalog.dit",
    "fcdmbench.catalog.dic",
    "fcdmbench.catalog.dico",
    "fcdmbench.catalog.dig",
)

_NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_SIZE_RANK = {"s": 0, "b": 1, "l": 2, "xl": 3, "h": 4, "g": 5}
#: The model others are divided by in "x ref" / "vs ref" columns (FLOPs and throughput alike):
#: DiT-XL/2, the baseline of every paper compared here.
DEFAULT_REF = "dit-xl-2"


_REGISTRY: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}
_FAMILY_ORDER: list[str] = []
_CATALOGUED: set[str] = set()  # catalogue modules whose specs are registered
_loaded = False


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add a spec. A taken name or alias, or a malformed one, raises at once.

    Raises:
        DuplicateModelError: the name or an alias is already registered.
        ConfigError: the name is not lowercase-hyphenated.
    """
    for candidate in (spec.name, *spec.aliases):
        if not _NAME_RE.match(candidate):
            raise ConfigError(
                f"model name {candidate!r} is malformed",
                hint="names are lowercase words joined by hyphens, e.g. 'dit-xl-2'",
            )
        if candidate in _REGISTRY or candidate in _ALIASES:
            raise DuplicateModelError(f"model name {candidate!r} is already registered")
    if not dataclasses.is_dataclass(spec.config) or not hasattr(spec.config, "input_size"):
        raise ConfigError(f"{spec.name}: config must be a dataclass with an 'input_size' field")
    _REGISTRY[spec.name] = spec
    for alias in spec.aliases:
        _ALIASES[alias] = spec.name
    if spec.family not in _FAMILY_ORDER:
        _FAMILY_ORDER.append(spec.family)
    return spec


def _ensure_loaded() -> None:
    """Import every catalogue module and register its `SPECS`, each module once. A missing one
    raises (a packaging fault must not make its models vanish from the registry)."""
    global _loaded
    if _loaded:
        return
    for module in CATALOG_MODULES:
        if module not in _CATALOGUED:
            for spec in importlib.import_module(module).SPECS:
                register_model(spec)
            _CATALOGUED.add(module)
    _loaded = True


def normalize_name(name: str) -> tuple[str, int | None]:
    """Lowercase, map the paper spelling to ours and split a resolution tag.

    >>> normalize_name("DiT-XL/2.512")
    ('dit-xl-2', 512)
    """
    text = name.strip().lower().replace("/", "-").replace("_", "-").replace(" ", "-")
    resolution = None
    base, dot, tag = text.rpartition(".")
    if dot and tag.isdigit():
        text, resolution = base, int(tag)
    return text, resolution


def _natural_key(name: str) -> tuple:
    spec = _REGISTRY[name]
    # Catalogue families in CATALOG_MODULES order, whichever module happened to be imported
    # first; any other family (registered by user code) after them, in registration order.
    module = f"fcdmbench.catalog.{spec.family}"
    if module in CATALOG_MODULES:
        family_rank = (0, CATALOG_MODULES.index(module))
    else:
        family_rank = (1, _FAMILY_ORDER.index(spec.family))
    parts = []
    for token in name.split("-")[1:]:
        if token in _SIZE_RANK:
            parts.append((0, _SIZE_RANK[token], ""))
        elif token.isdigit():
            parts.append((1, int(token), ""))
        else:
            parts.append((2, 0, token))
    return (family_rank, tuple(parts), name)


def resolve(name: str) -> tuple[ModelSpec, int | None]:
    """Return the spec and the resolution tag (None when absent) for a user-given name.

    Raises:
        UnknownModelError: listing the nearest registered names.
    """
    _ensure_loaded()
    text, resolution = normalize_name(name)
    canonical = _ALIASES.get(text, text)
    if canonical in _REGISTRY:
        return _REGISTRY[canonical], resolution
    candidates = list(_REGISTRY) + list(_ALIASES)
    close = difflib.get_close_matches(text, candidates, n=3, cutoff=0.5)
    suggestion = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownModelError(
        f"unknown model {name!r}{suggestion}",
        hint="run `fcdmbench models list` to see every registered name",
    )


def require_models(models: Sequence[str]) -> None:
    """Raise `ConfigError` (with the house hint) when no model name is given."""
    if not models:
        raise ConfigError("no model given", hint="pass --models, e.g. --models fcdm-xl dit-xl-2")


def get_spec(name: str) -> ModelSpec:
    """The spec of a model, by any accepted spelling."""
    return resolve(name)[0]


def list_models(
    pattern: str | Sequence[str] = "*",
    exclude: str | Iterable[str] = (),
    family: str | None = None,
) -> list[str]:
    """Canonical names matching fnmatch pattern(s), sorted by family, size then patch.

    Patterns are normalised like names (``'DiT-*/2'`` works); an exact alias matches its target.
    """
    _ensure_loaded()
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    excludes = [exclude] if isinstance(exclude, str) else list(exclude)
    patterns = [normalize_name(p)[0] for p in patterns]
    excludes = [normalize_name(p)[0] for p in excludes]
    names = []
    for name, spec in _REGISTRY.items():
        if family is not None and spec.family != family:
            continue
        keys = (name, *spec.aliases)
        if not any(fnmatch.fnmatchcase(k, p) for p in patterns for k in keys):
            continue
        if any(fnmatch.fnmatchcase(k, p) for p in excludes for k in keys):
            continue
        names.append(name)
    return sorted(names, key=_natural_key)


def import_object(path: str) -> Any:
    """Import ``"package.module:attribute"``."""
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def create_model(
    name: str,
    resolution: int | None = None,
    device: Any = None,
    **overrides: Any,
):
    """Build a registered model.

    Args:
        name: any accepted spelling; a ``.512`` tag sets the resolution.
        resolution: image resolution (256 or 512); defaults to the tag, else 256.
        device: build directly on this device; ``"meta"`` allocates nothing.
        **overrides: config fields to replace (unknown keys raise `ConfigError`).

    Returns:
        An ``nn.Module`` in eval mode.
    """
    import torch

    spec, tag = resolve(name)
    if resolution is not None and tag is not None and resolution != tag:
        raise ConfigError(f"{name!r} names resolution {tag} but resolution={resolution} was given")
    config = spec.config_for(resolution or tag or 256, **overrides)
    builder = import_object(spec.builder)
    if device is None:
        model = builder(config)
    else:
        with torch.device(device):
            model = builder(config)
    return model.eval()
