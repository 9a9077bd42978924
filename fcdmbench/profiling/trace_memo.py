"""Two memos that make a meta trace fast without changing a single call of it.

A meta trace runs every operator through Python: the meta kernels (torch's reference
implementations), the FLOP counter, autocast's emulation and the trace's recorder, about a
millisecond per operator, for thousands of operators per model. Most of them repeat: a
transformer's 28 blocks run the same operators on the same shapes, and so do the blocks of a
convolutional stage. Two memos answer a repetition from what its first occurrence produced:

- `meta_memo`, a dispatch mode entered innermost (below the counter and the recorder, which still
  see every call), answers a functional operator on meta tensors from the output shapes, strides
  and dtypes it gave for the same operator and argument metadata before;
- `ModuleReplay` answers a whole call of a repeated module (a block) in a forward trace from the
  calls its first identical twin recorded: same module structure (classes, attributes,
  parameter and buffer shapes and dtypes), same argument metadata (shapes, strides, dtypes,
  storage offsets and which arguments share storage), same trace state. The recorded calls are
  appended again under the module's own path and their MACs added; the outputs are new meta
  tensors of the recorded shapes, strides and dtypes. A call it cannot prove repeatable runs:
  one that changes its module's attributes or its arguments' metadata, returns a view of an
  argument or two views of one tensor, takes arguments it cannot describe, runs inside a fused
  region or with autograd recording (a training step needs the real graph).

Each memo is exact by construction and tested so: traces with and without them are equal call
for call (tests/profiling/test_trace_memo.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["ModuleReplay", "meta_memo"]

_SCALARS = (int, float, bool, str, type(None))


class _Uncacheable(Exception):
    """A value a memo cannot key on: the call runs."""


@dataclass(frozen=True, slots=True)
class _MetaSpec:
    """A recorded meta output (a pytree leaf)."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: Any


def _describe(value: Any) -> Any:
    """A hashable description of an argument's metadata (`_Uncacheable` if it has none)."""
    import torch

    if isinstance(value, torch.Tensor):
        if value.device.type != "meta":
            raise _Uncacheable
        return ("T", tuple(value.shape), value.stride(), value.dtype, value.storage_offset())
    if isinstance(value, (*_SCALARS, torch.dtype, torch.device)):
        return value
    if isinstance(value, torch.memory_format | torch.layout):
        return str(value)
    raise _Uncacheable


def _spec(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return _MetaSpec(tuple(value.shape), value.stride(), value.dtype)
    return value


def _make(value: Any) -> Any:
    import torch

    if isinstance(value, _MetaSpec):
        return torch.empty_strided(value.shape, value.stride, dtype=value.dtype, device="meta")
    return value


def meta_memo():
    """A dispatch mode, entered innermost, that answers a functional operator on meta tensors
    from a cache of its output shapes, strides and dtypes when it has seen the same operator with
    the same argument metadata before. Operators that alias or write their arguments, and any
    whose outputs are not plain tensors or values, always run."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten, tree_map

    cache: dict[Any, Any] = {}

    class _Memo(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            schema = func._schema
            aliasing = any(a.alias_info is not None for a in schema.arguments) or any(
                r.alias_info is not None for r in schema.returns
            )
            if aliasing or not schema.returns:
                return func(*args, **kwargs)
            try:
                leaves, structure = tree_flatten((args, kwargs))
                key = (func, str(structure), tuple(_describe(v) for v in leaves))
            except _Uncacheable:
                return func(*args, **kwargs)
            if key in cache:
                return tree_map(_make, cache[key])
            out = func(*args, **kwargs)
            outs, _ = tree_flatten(out)
            plain = (torch.Tensor, int, float, bool, type(None))
            if all(isinstance(o, plain) for o in outs):
                cache[key] = tree_map(_spec, out)
            return out

    return _Memo()


def _attribute_key(value: Any) -> Any:
    """A module attribute as a signature entry: its value when it is plain data, else its
    identity (two modules match on such an attribute only when they share the object)."""
    import dataclasses

    import torch

    if isinstance(value, (*_SCALARS, torch.dtype)):
        return value
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, *(_attribute_key(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(_attribute_key(v) for v in value))
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return ("dict", *((k, _attribute_key(v)) for k, v in value.items()))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        params = getattr(value, "__dataclass_params__", None)
        if params is not None and params.frozen:
            return ("dataclass", type(value), repr(value))
    return ("object", id(value))


def _signature(module: Any, memo: dict[int, Any]) -> Any:
    """What a module's forward can depend on: class, attributes, parameter and buffer metadata,
    and its children's signatures, recursively."""
    if id(module) in memo:
        return memo[id(module)]
    state = vars(module)
    attributes = tuple(
        (k, _attribute_key(v))
        for k, v in sorted(state.items())
        if k not in ("_parameters", "_buffers", "_modules", "forward")
    )
    tensors = tuple(
        (group, name, None if t is None else (tuple(t.shape), t.stride(), t.dtype, t.requires_grad))
        for group in ("_parameters", "_buffers")
        for name, t in state[group].items()
    )
    children = tuple(
        (name, None if child is None else _signature(child, memo))
        for name, child in state["_modules"].items()
    )
    memo[id(module)] = signature = (type(module), attributes, tensors, children)
    return signature


@dataclass(frozen=True, slots=True)
class _Recording:
    """What one module call did: its calls (module paths relative to the module's), their
    MACs, and its outputs' structure and metadata."""

    calls: tuple[Any, ...]
    macs: float
    outputs: tuple[Any, ...]
    structure: Any


def _renamed(call: Any, path: str) -> Any:
    """`call` with its module path relative to a module (``""``, ``".attn.qkv"``) put under
    that module's `path`."""
    members = tuple(_renamed(m, path) for m in call.members)
    return replace(call, module=path + call.module, members=members)


def _relative(call: Any, path: str) -> Any:
    """`call` with its module path made relative to `path` (`_Uncacheable` when outside)."""
    if call.module != path and not call.module.startswith(path + "."):
        raise _Uncacheable
    members = tuple(_relative(m, path) for m in call.members)
    return replace(call, module=call.module[len(path) :], members=members)


class ModuleReplay:
    """Replays repeated module calls of a forward trace (module docstring).

    ``install()`` wraps the forward of every top-most module whose signature occurs more than
    once in `model` (the blocks); ``uninstall()`` restores them. `recorder` is the trace's
    recorder (``calls``, ``macs_total``); `idle` says whether a call may be answered (no fused
    region open). ``replayed_macs`` are the MACs appended from recordings (the FLOP counter never
    saw them); ``hits`` counts the calls answered.
    """

    def __init__(self, model: Any, recorder: Any, idle: Callable[[], bool]) -> None:
        self.recorder = recorder
        self.idle = idle
        signatures: dict[int, Any] = {}
        self.paths = {id(m): name for name, m in model.named_modules()}
        self.cache: dict[Any, _Recording | None] = {}
        self.replayed_macs = 0.0
        self.hits = 0
        counts = Counter(_signature(m, signatures) for m in model.modules())
        self.modules: list[Any] = []
        chosen: list[str] = []
        for name, module in model.named_modules():
            repeated = counts[signatures[id(module)]] > 1 and len(module._modules) > 0
            if name and repeated and not any(name.startswith(p + ".") for p in chosen):
                chosen.append(name)
                self.modules.append(module)

    def install(self) -> None:
        for module in self.modules:
            module.forward = self._wrap(module, module.forward)

    def uninstall(self) -> None:
        for module in self.modules:
            module.__dict__.pop("forward", None)

    def _wrap(self, module: Any, forward: Callable) -> Callable:
        def replaying(*args, **kwargs):
            import torch

            if torch.is_grad_enabled() or not self.idle():
                return forward(*args, **kwargs)
            try:
                key = (_signature(module, {}), self._key(module, (args, kwargs)))
            except _Uncacheable:
                return forward(*args, **kwargs)
            recording = self.cache.get(key, False)
            if recording:
                return self._replay(module, recording)
            if recording is None:  # seen before and not repeatable
                return forward(*args, **kwargs)
            start, macs = len(self.recorder.calls), self.recorder.macs_total
            out = forward(*args, **kwargs)
            self.cache[key] = self._record(module, key, (args, kwargs), out, start, macs)
            return out

        return replaying

    def _key(self, module: Any, arguments: Any) -> tuple:
        """The arguments' metadata and which of them (and of the module's tensors) share
        storage (`_Uncacheable` if any cannot be described)."""
        import torch
        from torch.utils._pytree import tree_flatten

        leaves, structure = tree_flatten(arguments)
        owned = {id(t.untyped_storage()) for t in (*module.parameters(), *module.buffers())}
        storages: dict[int, int] = {}
        described = []
        for leaf in leaves:
            entry = _describe(leaf)
            if isinstance(leaf, torch.Tensor):
                storage = id(leaf.untyped_storage())
                if storage in owned:
                    raise _Uncacheable
                entry = (*entry, leaf.requires_grad, storages.setdefault(storage, len(storages)))
            described.append(entry)
        return str(structure), tuple(described)

    def _record(self, module, key, arguments, out, start, macs) -> _Recording | None:
        """The recording of a call that ran, or None when it cannot be replayed."""
        import torch
        from torch.utils._pytree import tree_flatten

        leaves, structure = tree_flatten(out)
        inputs = {id(t.untyped_storage()) for t in tree_flatten(arguments)[0]
                  if isinstance(t, torch.Tensor)}  # fmt: skip
        inputs |= {id(t.untyped_storage()) for t in (*module.parameters(), *module.buffers())}
        outputs = [o.untyped_storage() for o in leaves if isinstance(o, torch.Tensor)]
        try:
            fresh = len({id(s) for s in outputs}) == len(outputs) and not (
                {id(s) for s in outputs} & inputs
            )
            same = self._key(module, arguments) == key[1] and _signature(module, {}) == key[0]
            plain = all(isinstance(o, (torch.Tensor, *_SCALARS)) for o in leaves)
            whole = all(o.storage_offset() == 0 for o in leaves if isinstance(o, torch.Tensor))
            if not (fresh and same and plain and whole and self.idle()):
                return None
            path = self.paths[id(module)]
            calls = tuple(_relative(c, path) for c in self.recorder.calls[start:])
        except _Uncacheable:
            return None
        specs = tuple(_spec(o) for o in leaves)
        return _Recording(calls, self.recorder.macs_total - macs, specs, structure)

    def _replay(self, module: Any, recording: _Recording) -> Any:
        import torch
        from torch.utils._python_dispatch import _disable_current_modes
        from torch.utils._pytree import tree_unflatten

        path = self.paths[id(module)]
        self.recorder.calls.extend(_renamed(c, path) for c in recording.calls)
        self.recorder.macs_total += recording.macs
        self.replayed_macs += recording.macs
        self.hits += 1
        with torch._C.DisableTorchFunction(), _disable_current_modes():
            leaves = [_make(o) for o in recording.outputs]
        return tree_unflatten(leaves, recording.structure)
