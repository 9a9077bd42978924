"""Turn what a user typed after ``--models`` (and positional names) into canonical model names.

Accepted forms, merged into one ordered, de-duplicated list: several values after one flag (the
root group expands ``--models a b``), repeated ``--models``, comma lists (``fcdm-xl,dit-xl``),
positional names (taken after the ``--models`` values), fnmatch wildcards (``'fcdm-*'``,
``'*-xl*'``), any spelling or alias (``DiT-XL/2``, ``dit-xl``).

Example:
    >>> select_models(["fcdm-xl,fcdm-s", "FCDM-XL"])
    ['fcdm-xl', 'fcdm-s']
"""

from __future__ import annotations

from collections.abc import Iterable

from fcdmbench.errors import ConfigError, UnknownModelError
from fcdmbench.registry import list_models, resolve

__all__ = ["select_models"]

_WILDCARDS = set("*?[")


def select_models(values: Iterable[str]) -> list[str]:
    """Canonical names for every token in `values`, in first-seen order.

    Raises:
        UnknownModelError: a name is not registered (with suggestions) or a pattern matches none.
        ConfigError: a name carries a resolution tag (``fcdm-xl.512``); use ``--resolution``.
    """
    names: list[str] = []
    for value in values:
        for token in (part.strip() for part in value.split(",")):
            if not token:
                continue
            if _WILDCARDS & set(token):
                matched = list_models(token)
                if not matched:
                    raise UnknownModelError(
                        f"no registered model matches {token!r}",
                        hint="run `fcdmbench models list` to see every registered name",
                    )
            else:
                spec, tag = resolve(token)
                if tag is not None:
                    raise ConfigError(
                        f"model {token!r} carries a resolution tag",
                        hint=f"use --resolution {tag} with the plain name {spec.name!r}",
                    )
                matched = [spec.name]
            names.extend(n for n in matched if n not in names)
    return names
