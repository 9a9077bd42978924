"""Run torch's Python meta kernels without importing ``torch._dynamo`` (half the `flops` command).

On the meta device torch answers many operators (``add``, ``mul``, ``arange``, ``gelu``, ``cat``,
...) with its Python reference implementations (`torch._refs`, registered as the Meta kernels by
``torch._meta_registrations``). Those are wrapped by ``torch._disable_dynamo``, whose wrapper
imports ``torch._dynamo`` on its first call to build ``torch._dynamo.disable(fn)`` and caches it
on ``fn`` as ``fn.__dynamo_disable``. That import costs about as much as ``import torch`` itself
and does nothing for a count: ``torch._dynamo.disable(fn)`` only differs from ``fn`` while dynamo
traces a frame, and no frame can be traced while ``torch._dynamo`` is not even imported.

`refs_without_dynamo` therefore fills that per-function cache with ``fn`` itself for the
references torch registers as decompositions, for the duration of a trace, when ``torch._dynamo``
is not loaded yet; it removes exactly what it set afterwards, so a later ``torch.compile`` in the
same process wraps them as torch does. Operators, shapes and counts are unchanged (the golden
counts test this); a wrapper it does not find (another torch version) imports dynamo as before,
only slower.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["refs_without_dynamo"]

#: The attribute ``torch._compile._disable_dynamo``'s wrapper caches ``disable(fn)`` under.
_CACHE = "__dynamo_disable"
#: Where torch's meta kernels written in Python live.
_REFERENCE_MODULES = ("torch._refs", "torch._prims", "torch._decomp")


@functools.cache
def _wrapped_references() -> tuple[Any, ...]:
    """The functions of torch's references (`torch._refs`, `torch._prims`, `torch._decomp`)
    that ``torch._disable_dynamo`` wrapped: the wrappers are the functions whose code is its
    wrapper's (found through the code object: a walk over the heap, 25-50 ms, so once per
    process; torch wraps its references when it imports them, and a wrapper made later is only
    missed, which imports dynamo as before)."""
    import gc

    import torch._compile

    wrapper_code = torch._compile._disable_dynamo(lambda: None).__code__
    if "fn" not in wrapper_code.co_freevars:
        return ()
    cell = wrapper_code.co_freevars.index("fn")
    found = []
    for wrapper in gc.get_referrers(wrapper_code):
        if getattr(wrapper, "__code__", None) is wrapper_code:
            fn = wrapper.__closure__[cell].cell_contents
            if getattr(fn, "__module__", "").startswith(_REFERENCE_MODULES):
                found.append(fn)
    return tuple(found)


@contextlib.contextmanager
def refs_without_dynamo() -> Iterator[None]:
    """Within the block, torch's wrapped references call straight through (see the module)."""
    if "torch._dynamo" in sys.modules:
        yield  # already paid for; torch's own wrappers are then the right ones
        return
    seeded = []
    for fn in _wrapped_references():
        if _CACHE not in vars(fn):
            setattr(fn, _CACHE, fn)
            seeded.append(fn)
    try:
        yield
    finally:
        for fn in seeded:
            if vars(fn).get(_CACHE) is fn:
                delattr(fn, _CACHE)
