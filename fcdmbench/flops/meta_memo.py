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
for call (tests/flops/test_meta_memo.py).
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CountReplay", "ModuleReplay", "dispatch_mode_base", "leaves", "map_leaves", "meta_memo"]

_SCALARS = (int, float, bool, str, type(None))


class _Uncacheable(Exception):
    """A value a memo cannot key on: the call runs."""


@dataclass(frozen=True, slots=True)
class _MetaSpec:
    """A recorded meta output tensor."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: Any


_CONTAINERS = (list, tuple, dict)


def leaves(values: Any) -> list[Any]:
    """pytree's leaves of `values` (``tree_leaves``), walking plain lists, tuples and dicts (what
    operators take and return) without pytree's per-node bookkeeping; pytree flattens the rest
    (named tuples, ordered dicts). The list is the only reference it keeps: a tensor held past
    its use would change what autograd does (a gradient still referenced is copied, not
    stolen)."""
    out: list[Any] = []
    _walk(values, out)
    return out


def _walk(value: Any, out: list[Any]) -> None:
    kind = type(value)
    if kind is list or kind is tuple:
        for item in value:
            _walk(item, out)
    elif kind is dict:
        for item in value.values():
            _walk(item, out)
    elif isinstance(value, _CONTAINERS):
        from torch.utils._pytree import tree_leaves

        out.extend(tree_leaves(value))
    else:
        out.append(value)


def map_leaves(fn: Callable[[Any], Any], values: Any) -> Any:
    """pytree's ``tree_map(fn, values)``, walking plain lists, tuples and dicts itself."""
    kind = type(values)
    if kind is list or kind is tuple:
        return kind(map_leaves(fn, v) for v in values)
    if kind is dict:
        return {k: map_leaves(fn, v) for k, v in values.items()}
    if isinstance(values, _CONTAINERS):
        from torch.utils._pytree import tree_map

        return tree_map(fn, values)
    return fn(values)


def _describe(value: Any) -> Any:
    """A hashable description of an argument's metadata, nested lists and tuples included
    (`_Uncacheable` if it has none)."""
    import torch

    kind = type(value)
    if kind is list or kind is tuple:
        return (kind, *(_describe(v) for v in value))
    if isinstance(value, torch.Tensor):
        if value.device.type != "meta":
            raise _Uncacheable
        return ("T", tuple(value.shape), value.stride(), value.dtype, value.storage_offset())
    if kind in _FAST:
        return kind, value  # typed: 1, 1.0 and True are equal keys, not equal arguments
    if isinstance(value, torch.dtype | torch.device):
        return value
    if isinstance(value, torch.memory_format | torch.layout):
        return str(value)
    raise _Uncacheable


def _spec(value: Any) -> Any:
    """The metadata of an operator's or module's output (plain lists and tuples of tensors and
    values), to build it again with `_make` (`_Uncacheable` for anything else)."""
    import torch

    kind = type(value)
    if kind is list or kind is tuple:
        return (kind, tuple(_spec(v) for v in value))
    if isinstance(value, torch.Tensor):
        return _MetaSpec(tuple(value.shape), value.stride(), value.dtype)
    if kind in _FAST:
        return value
    raise _Uncacheable


def _make(spec: Any) -> Any:
    """New meta tensors (in their lists and tuples) as `spec` describes them."""
    import torch

    if type(spec) is tuple:
        kind, items = spec
        return kind(_make(i) for i in items)
    if type(spec) is _MetaSpec:
        return torch.empty_strided(spec.shape, spec.stride, dtype=spec.dtype, device="meta")
    return spec


@functools.cache
def dispatch_mode_base() -> type:
    """``TorchDispatchMode`` for the trace's modes, without the ``torch._dynamo.disable``
    wrapper torch puts around every ``__torch_dispatch__`` (a few microseconds per operator
    and mode; it only matters while ``torch.compile`` traces, which a meta trace never does)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class _Mode(TorchDispatchMode):
        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            return False

    return _Mode


#: `meta_memo`'s answers, kept for the process: a meta kernel's output metadata is a function of
#: the operator and its arguments' metadata alone (every model's timestep embedding repeats).
_META_OUTPUTS: dict[Any, Any] = {}
#: Whether an operator (by id: an overload lives as long as torch) is functional: neither
#: aliases nor writes an argument, and returns a value.
_FUNCTIONAL: dict[int, bool] = {}


def _functional(func: Any) -> bool:
    known = _FUNCTIONAL.get(id(func))
    if known is None:
        schema = func._schema
        known = _FUNCTIONAL[id(func)] = bool(schema.returns) and not any(
            a.alias_info is not None for a in (*schema.arguments, *schema.returns)
        )
    return known


def meta_memo():
    """A dispatch mode, entered innermost, that answers a functional operator on meta tensors
    from a cache of its output shapes, strides and dtypes when it has seen the same operator with
    the same argument metadata (and default dtype) before. Operators that alias or write their
    arguments, and any whose arguments or outputs it cannot describe, always run."""
    import torch

    cache = _META_OUTPUTS

    class _Memo(dispatch_mode_base()):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if not _functional(func):
                return func(*args, **kwargs)
            try:
                named = tuple((k, _describe(v)) for k, v in kwargs.items())
                key = (func, _describe(args), named, torch.get_default_dtype())
            except _Uncacheable:
                return func(*args, **kwargs)
            if key in cache:
                return _make(cache[key])
            out = func(*args, **kwargs)
            try:
                cache[key] = _spec(out)
            except _Uncacheable:
                pass
            return out

    return _Memo()


#: A module's own state that `_signature` reads apart (tensors, children) or leaves out (the
#: forward `ModuleReplay` installs).
_APART = frozenset({"_parameters", "_buffers", "_modules", "forward"})


def _attribute_key(value: Any) -> Any:
    """A module attribute as a signature entry: its value when it is plain data, else its
    identity (two modules match on such an attribute only when they share the object)."""

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


def _signature(module: Any, memo: dict[int, int], interned: dict[tuple, int]) -> int:
    """What a module's forward can depend on: class, attributes (in the order they were set),
    parameter and buffer metadata, and its children's signatures, recursively; as a number,
    equal for equal structures (`interned` numbers each distinct one, so a signature hashes in
    constant time). `memo` holds the modules done. Call it with torch functions disabled:
    tensor attributes are read without a mode seeing them."""
    if id(module) in memo:
        return memo[id(module)]
    state = vars(module)
    own = _torch_state()
    attributes = []
    for k, v in state.items():
        kind = type(v)
        if kind in _FAST:
            attributes.append((k, v))
        elif k in _APART or (k in own and not v):
            continue
        elif kind is tuple and all(type(x) in _FAST for x in v):  # kernel_size, padding ...
            attributes.append((k, v))
        else:
            attributes.append((k, _attribute_key(v)))
    tensors = tuple(
        tuple(
            (name, None if t is None else (t.shape, t.stride(), t.dtype, t.requires_grad))
            for name, t in state[group].items()
        )
        for group in ("_parameters", "_buffers")
    )
    children = tuple(
        (name, None if child is None else _signature(child, memo, interned))
        for name, child in state["_modules"].items()
    )
    structure = (type(module), tuple(attributes), tensors, children)
    memo[id(module)] = number = interned.setdefault(structure, len(interned))
    return number


_FAST = frozenset({int, float, bool, str, type(None)})


@functools.cache
def _torch_state() -> frozenset[str]:
    """The attributes torch gives every module (hook tables, ``training``): `_signature` leaves
    out those that are empty, as they are in every module without hooks."""
    import torch

    return frozenset(vars(torch.nn.Module()))


@dataclass(frozen=True, slots=True)
class _Recording:
    """What one module call did: its calls (module paths relative to the module's), their
    MACs, and its output's metadata (`_spec`)."""

    calls: tuple[Any, ...]
    macs: float
    output: Any


def _renamed(call: Any, path: str) -> Any:
    """`call` with its module path relative to a module (``""``, ``".attn.qkv"``) put under
    that module's `path`."""
    members = tuple(_renamed(m, path) for m in call.members) if call.members else ()
    return _moved(call, path + call.module, members)


def _relative(call: Any, path: str) -> Any:
    """`call` with its module path made relative to `path` (`_Uncacheable` when outside)."""
    if call.module != path and not call.module.startswith(path + "."):
        raise _Uncacheable
    members = tuple(_relative(m, path) for m in call.members)
    return _moved(call, call.module[len(path) :], members)


def _moved(call: Any, module: str, members: tuple) -> Any:
    """An `OpCall` with another module and members: ``dataclasses.replace`` without its walk
    over the fields (half the time; replays copy tens of thousands of calls per audit)."""
    return type(call)(
        call.op, module, call.kind, call.dtype, call.macs, call.bytes_read, call.bytes_written,
        call.shape, call.phase, call.inputs, members, call.winograd,
    )  # fmt: skip


class ModuleReplay:
    """Replays repeated module calls of a forward trace (module docstring).

    ``install()`` wraps the forward of every module with children whose signature occurs more
    than once in `model` (blocks, and the layers inside them: a block that is not repeated can
    still replay its attention); ``uninstall()`` restores them. A recording may hold replayed
    calls of the modules inside it. `recorder` is the trace's
    recorder (``calls``, ``macs_total``); `idle` says whether a call may be answered (no fused
    region open). ``replayed_macs`` are the MACs appended from recordings (the FLOP counter never
    saw them); ``hits`` counts the calls answered.
    """

    def __init__(self, model: Any, recorder: Any, idle: Callable[[], bool]) -> None:
        self.recorder = recorder
        self.idle = idle
        self.signatures: dict[int, int] = {}
        self.paths = {id(m): name for name, m in model.named_modules()}
        self.cache: dict[Any, _Recording | None] = {}
        self.replayed_macs = 0.0
        self.hits = 0
        self.interned: dict[tuple, int] = {}
        counts = Counter(_signature(m, self.signatures, self.interned) for m in model.modules())
        self.modules = [
            m
            for name, m in model.named_modules()
            if name and m._modules and counts[self.signatures[id(m)]] > 1
        ]
        self.owned = {
            id(m): {id(t.untyped_storage()) for t in (*m.parameters(), *m.buffers())}
            for m in self.modules
        }

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
            with torch._C.DisableTorchFunction():  # bookkeeping: no mode needs to see it
                key = self._key(module, (args, kwargs))
                recording = self.cache.get(key, False) if key is not None else None
                if recording:
                    return self._replay(module, recording)
            if recording is None:  # not describable, or seen before and not repeatable
                return forward(*args, **kwargs)
            mark = self._mark()
            out = forward(*args, **kwargs)
            with torch._C.DisableTorchFunction():
                self.cache[key] = self._record(module, key, (args, kwargs), out, mark)
            return out

        return replaying

    def _key(self, module: Any, arguments: tuple) -> tuple | None:
        """The module's signature, its arguments' metadata and which of them share storage;
        None if an argument cannot be described or is one of the module's own tensors."""
        import torch

        owned = self.owned[id(module)]
        storages: dict[int, int] = {}
        sharing = []  # per tensor argument: the first argument with its storage
        for leaf in leaves(arguments):
            if isinstance(leaf, torch.Tensor):
                storage = id(leaf.untyped_storage())
                if storage in owned:
                    return None
                sharing.append((storages.setdefault(storage, len(storages)), leaf.requires_grad))
        args, kwargs = arguments
        try:
            described = (_describe(args), tuple((k, _describe(v)) for k, v in kwargs.items()))
        except _Uncacheable:
            return None
        return self.signatures[id(module)], described, tuple(sharing)

    def _mark(self) -> Any:
        """Where the recorder stands before a call (`_capture` takes what came after)."""
        return len(self.recorder.calls), self.recorder.macs_total

    def _capture(self, path: str, mark: Any) -> tuple[tuple[Any, ...], float]:
        """What the recorder got since `mark`, relative to the module at `path`, and its MACs
        (`_Uncacheable` when a call lies outside the module)."""
        start, macs = mark
        calls = tuple(_relative(c, path) for c in self.recorder.calls[start:])
        return calls, self.recorder.macs_total - macs

    def _apply(self, path: str, recording: _Recording) -> None:
        """Give the recorder a recording's calls again, under the module at `path`."""
        self.recorder.calls.extend(_renamed(c, path) for c in recording.calls)
        self.recorder.macs_total += recording.macs

    def _record(self, module, key, arguments, out, mark) -> _Recording | None:
        """The recording of a call that ran, or None when it cannot be replayed."""
        import torch

        tensors = [o for o in leaves(out) if isinstance(o, torch.Tensor)]
        inputs = {id(t.untyped_storage()) for t in leaves(arguments) if isinstance(t, torch.Tensor)}
        outputs = {id(o.untyped_storage()) for o in tensors}
        fresh = len(outputs) == len(tensors) and not outputs & (inputs | self.owned[id(module)])
        whole = all(o.storage_offset() == 0 for o in tensors)
        unchanged = _signature(module, {}, self.interned) == key[0]  # attributes not set
        same = self._key(module, arguments) == key  # arguments' metadata not changed
        if not (fresh and whole and unchanged and same and self.idle()):
            return None
        try:
            calls, macs = self._capture(self.paths[id(module)], mark)
            return _Recording(calls, macs, _spec(out))
        except _Uncacheable:
            return None

    def _replay(self, module: Any, recording: _Recording) -> Any:
        import torch
        from torch.utils._python_dispatch import _disable_current_modes

        self._apply(self.paths[id(module)], recording)
        self.replayed_macs += recording.macs
        self.hits += 1
        with torch._C.DisableTorchFunction(), _disable_current_modes():
            return _make(recording.output)


class CountReplay(ModuleReplay):
    """`ModuleReplay` for a FLOP count: a repeated module's call is answered by making, in the
    count's book (`fcdmbench.flops.op_table.CountBook`), the additions its first identical twin
    made (census, per-operator FLOPs for every module active then, scalar products), in the
    same order, under the module's own name; the census, the per-module counts and their order
    are those of a count that runs every block (tests/flops/test_flops.py)."""

    def __init__(self, model: Any, book: Any) -> None:
        super().__init__(model, book, idle=lambda: True)
        self.root = type(model).__name__  # the module tracker's name of the model

    def _key(self, module: Any, arguments: tuple) -> tuple | None:
        """`ModuleReplay`'s key, for a module the tracker knows by its path (not one reached
        under two names), else None: the call runs."""
        if f"{self.root}.{self.paths[id(module)]}" not in self.recorder.tracker.parents:
            return None
        return super()._key(module, arguments)

    def _mark(self) -> Any:
        return len(self.recorder.log)

    def _capture(self, path: str, mark: Any) -> tuple[tuple[Any, ...], float]:
        """The book's additions since `mark`, each with the names of the modules below the one
        at `path` that were active (relative: ``".attn"``)."""
        name = f"{self.root}.{path}"
        below = name + "."
        additions = []
        for packet, flops, scalar, parents in self.recorder.log[mark:]:
            if name not in parents:
                raise _Uncacheable
            inner = tuple(p[len(name) :] for p in parents if p.startswith(below))
            additions.append((packet, flops, scalar, inner))
        return tuple(additions), 0.0

    def _apply(self, path: str, recording: _Recording) -> None:
        """The additions again, for the modules active now (the module itself, as the tracker's
        hooks ran for it, and those around it) and the ones below it under its name; those
        sort after the others, as the counting mode orders them (outermost first)."""
        book = self.recorder
        around = book.active()
        name = f"{self.root}.{path}"
        for packet, flops, scalar, inner in recording.calls:
            book.add(packet, flops, scalar, around + [name + p for p in inner])
