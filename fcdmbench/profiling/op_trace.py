"""One forward on the meta device, operator by operator: FLOPs, bytes, dtype and kind per call.

The FLOPs are `fcdmbench flops`'s own: the trace runs inside
`fcdmbench.profiling.op_table.count_with_flop_counter` and takes each call's share of its tally
(`OpTrace.macs` is that tally, and the calls sum to it; a mismatch is an error). Bytes are the
unfused traffic of each kernel: every distinct tensor it reads (broadcast dimensions counted
once) plus every tensor it writes, at the dtype it runs in; views cost nothing. With
``autocast="bfloat16"`` the trace replays CUDA autocast (`fcdmbench.profiling.autocast_policy`),
so dtypes, and the casts autocast inserts, are those a GPU would run.

``scaled_dot_product_attention`` is one kernel on a GPU (FlashAttention or the memory-efficient
kernel), and DiG's chunked GLA one family of Triton kernels upstream (flash-linear-attention):
with ``attention="fused"`` (default) each such region becomes one call (kind ``attention`` or
``linear-attention``) that reads its inputs and writes its output, with the region's operators
kept in ``OpCall.members`` so a pricing can run them apart instead (the roofline's
``--attention-kernel unfused`` and ``--linear-attention-kernel torch``); ``attention="unfused"``
records them apart in ``calls`` (scores written to and read from memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fcdmbench.errors import ConfigError

__all__ = [
    "ATTENTION_MODES",
    "KINDS",
    "OpCall",
    "OpTrace",
    "trace_module",
    "trace_ops",
]

#: Operator kinds; `fcdmbench.profiling.roofline` maps (kind, dtype, precision) to a unit.
KINDS = (
    "gemm",
    "conv",
    "depthwise",
    "attention",
    "linear-attention",
    "fused-elementwise",
    "elementwise",
    "copy",
    "cast",
)

ATTENTION_MODES = ("fused", "unfused")

_GEMM = frozenset(
    {
        "aten.addmm",
        "aten.mm",
        "aten.bmm",
        "aten.baddbmm",
        "aten.addbmm",
        "aten.mv",
        "aten.addmv",
        "aten.addr",
        "aten.matmul",
        "aten.dot",
        "aten.linalg_vecdot",
    }
)
_CONV = frozenset({"aten.convolution", "aten._convolution"})
_COPY = frozenset(
    {
        "aten.clone",
        "aten._to_copy",
        "aten.copy_",
        "aten.cat",
        "aten.stack",
        "aten.pixel_shuffle",
        "aten.pixel_unshuffle",
        "aten.constant_pad_nd",
        "aten.flip",
        "aten.roll",
        "aten.index",
        "aten.gather",
        "aten.repeat",
    }
)
#: Operators without a kernel that touches memory: allocations, and ``_unsafe_view`` (the view
#: ``linear`` and ``matmul`` return on 3-D inputs; its schema carries no alias annotation).
_NO_TRAFFIC = frozenset(
    {"aten.empty", "aten.empty_strided", "aten.empty_like", "aten.lift_fresh", "aten._unsafe_view"}
)


@dataclass(frozen=True, slots=True)
class OpCall:
    """One executed operator (or one fused region: attention, linear attention).

    Args:
        op: ``aten.convolution``; for a fused region ``aten.scaled_dot_product_attention`` or
            the function's name (``gla_chunked``).
        module: innermost module path (``enc1.0.dwconv``; ``""`` for the root).
        kind: one of `KINDS`.
        dtype: the dtype it runs in (``float32``, ``bfloat16``).
        macs: its MACs (multiply-adds; FLOPs = 2 x MACs), from the FLOP counter's tally.
        bytes_read, bytes_written: unfused memory traffic.
        shape: output shape.
        inputs: a fused region's tensor inputs as (shape, dtype, contiguous), in call order.
        members: a fused region's operators as they run unfused (their MACs sum to ``macs``).
    """

    op: str
    module: str
    kind: str
    dtype: str
    macs: float
    bytes_read: int
    bytes_written: int
    shape: tuple[int, ...]
    inputs: tuple[tuple[tuple[int, ...], str, bool], ...] = ()
    members: tuple[OpCall, ...] = ()

    @property
    def flops(self) -> float:
        return 2.0 * self.macs

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOP per byte (0 for pure data movement)."""
        return self.flops / self.bytes if self.bytes else 0.0


@dataclass(frozen=True, slots=True)
class OpTrace:
    """Every operator call of one forward of `model` at (`resolution`, `batch`)."""

    model: str
    display_name: str
    resolution: int
    batch: int
    autocast: str | None
    attention: str
    params: int
    macs: float  # the FLOP counter's tally (same as `fcdmbench flops`)
    calls: tuple[OpCall, ...]

    @property
    def gmacs_per_image(self) -> float:
        return self.macs / self.batch / 1e9

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.calls)


def _dtype_name(t: Any) -> str:
    return str(t.dtype).removeprefix("torch.")


def _footprint(t: Any) -> int:
    """Bytes a kernel must touch for tensor `t`: broadcast (stride-0) dimensions count once."""
    elements = 1
    for size, stride in zip(t.shape, t.stride(), strict=True):
        if stride != 0:
            elements *= size
    return elements * t.element_size() if t.numel() else 0


def _tensors(values: Any) -> list[Any]:
    import torch
    from torch.utils._pytree import tree_leaves

    return [v for v in tree_leaves(values) if isinstance(v, torch.Tensor)]


def _distinct_bytes(tensors: list[Any]) -> int:
    seen = set()
    total = 0
    for t in tensors:
        key = (id(t.untyped_storage()), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        if key not in seen:
            seen.add(key)
            total += _footprint(t)
    return total


def _is_view(func: Any) -> bool:
    returns = func._schema.returns
    return bool(returns) and all(
        r.alias_info is not None and not r.alias_info.is_write for r in returns
    )


def _kind(name: str, func: Any, args: tuple, kwargs: dict, out: Any) -> str:
    if name in _GEMM:
        return "gemm"
    if name in _CONV:
        groups = args[8] if len(args) > 8 else kwargs.get("groups", 1)
        channels = args[0].shape[1] if args[0].dim() > 1 else 1
        return "depthwise" if groups > 1 and groups == channels else "conv"
    if name == "aten._to_copy":
        return "cast" if args[0].dtype != out.dtype else "copy"
    if name in _COPY:
        return "copy"
    return "elementwise"


def _innermost(parents: Any, root: str) -> str:
    names = [p for p in parents if p != "Global"]
    if not names:
        return ""
    name = max(names, key=lambda n: n.count("."))
    return name[len(root) + 1 :] if name.startswith(root + ".") else ("" if name == root else name)


class _Recorder:
    """Collects `OpCall`s from `count_with_flop_counter`'s per-call hook."""

    def __init__(self, root: str, state: Any, fuse_attention: bool) -> None:
        self.root = root
        self.state = state
        self.fuse = fuse_attention
        self.calls: list[OpCall] = []
        self.macs_total = 0.0
        self.region_members: dict[int, list[OpCall]] = {}
        self.region_module: dict[int, str] = {}

    def on_call(self, func, args, kwargs, out, macs, parents) -> None:
        self.macs_total += macs
        region = self.state.region
        if region is not None:
            self.region_module.setdefault(region, _innermost(parents, self.root))
        target = self.calls
        if region is not None and self.fuse:
            target = self.region_members.setdefault(region, [])
        name = str(func._overloadpacket)
        outputs = _tensors(out)
        if not outputs or name in _NO_TRAFFIC or (_is_view(func) and not macs):
            if macs:  # never drop counted work
                self._append(target, name, parents, "elementwise", outputs, macs, 0, 0)
            return
        inputs = _tensors((args, kwargs))
        is_inplace = any(
            r.alias_info is not None and r.alias_info.is_write for r in func._schema.returns
        )
        written = _distinct_bytes(outputs)
        read = _distinct_bytes(inputs)
        if name == "aten.embedding":  # reads the looked-up rows, not the whole table
            read = written + _distinct_bytes(inputs[1:])
        elif is_inplace:
            read = max(read - written, 0) + written  # the mutated tensor is read and written
        kind = _kind(name, func, args, kwargs, outputs[0])
        self._append(target, name, parents, kind, outputs, macs, read, written)

    def on_region_end(self, region: int, tensors: tuple, out: Any) -> None:
        if not self.fuse:
            return
        outputs = _tensors(out)
        members = tuple(self.region_members.pop(region, ()))
        kind = self.state.region_kind
        self.calls.append(
            OpCall(
                op=self.state.region_op,
                module=self.region_module.get(region, ""),
                kind=kind,
                dtype=_dtype_name(tensors[0]),
                macs=sum(m.macs for m in members),
                bytes_read=_distinct_bytes(list(tensors)),
                bytes_written=_distinct_bytes(outputs),
                shape=tuple(outputs[0].shape),
                inputs=tuple((tuple(t.shape), _dtype_name(t), t.is_contiguous()) for t in tensors),
                members=members,
            )
        )

    def _append(self, target, name, parents, kind, outputs, macs, read, written) -> None:
        first = outputs[0] if outputs else None
        target.append(
            OpCall(
                op=name,
                module=_innermost(parents, self.root),
                kind=kind,
                dtype=_dtype_name(first) if first is not None else "",
                macs=float(macs),
                bytes_read=int(read),
                bytes_written=int(written),
                shape=tuple(first.shape) if first is not None else (),
            )
        )


def trace_module(
    model: Any, inputs: tuple, autocast: str | None = None, attention: str = "fused"
) -> tuple[tuple[OpCall, ...], float]:
    """Trace ``model(*inputs)`` (meta or real tensors): its calls and the FLOP counter's MACs.

    Raises:
        ConfigError: unknown `autocast` or `attention`.
    """
    import torch

    from fcdmbench.profiling.autocast_policy import AutocastEmulation, FunctionModes, TraceState
    from fcdmbench.profiling.op_table import count_with_flop_counter

    if attention not in ATTENTION_MODES:
        raise ConfigError(f"attention must be one of {ATTENTION_MODES}, got {attention!r}")
    dtypes = {"bfloat16": torch.bfloat16, "float16": torch.float16, None: None}
    if autocast not in dtypes:
        raise ConfigError(f"autocast must be bfloat16, float16 or None, got {autocast!r}")
    state = TraceState()
    recorder = _Recorder(type(model).__name__, state, fuse_attention=attention == "fused")
    state.on_region_end = recorder.on_region_end
    dtype = dtypes[autocast]
    modes = [FunctionModes(state, dtype)]
    if dtype is not None:
        modes.append(AutocastEmulation(dtype, state))
    tally = count_with_flop_counter(model, inputs, on_call=recorder.on_call, modes=modes)
    if abs(recorder.macs_total - tally.macs) > 1e-6 * max(tally.macs, 1.0):
        raise RuntimeError(f"per-call MACs {recorder.macs_total} != the tally's {tally.macs}")
    return tuple(recorder.calls), tally.macs


def trace_ops(
    name: str,
    resolution: int = 256,
    batch: int = 1,
    autocast: str | None = None,
    attention: str = "fused",
    overrides: dict[str, Any] | None = None,
) -> OpTrace:
    """Trace one forward of registered model `name` on the meta device.

    Args:
        name: registry name (any spelling; a ``.512`` tag sets the resolution).
        resolution: image side in pixels.
        batch: rows per forward.
        autocast: ``"bfloat16"`` or ``"float16"`` to replay CUDA autocast; None for fp32.
        attention: ``fused`` (SDPA as one kernel) or ``unfused``.
        overrides: config fields to replace (an ablation configuration, e.g. FCDM's width).

    Returns:
        An `OpTrace` whose ``macs`` equals ``count_flops(name, resolution, batch).macs``.
    """
    from fcdmbench.profiling.flops import build_for_counting
    from fcdmbench.profiling.inputs import make_inputs
    from fcdmbench.registry import VAE_FACTOR, resolve

    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch must be an integer >= 1, got {batch!r}")
    spec, tag = resolve(name)
    resolution = tag or resolution
    model = build_for_counting(spec, resolution, overrides=overrides)  # validated as flops does
    side = resolution // VAE_FACTOR
    shape = (
        spec.input_shape(resolution)
        if resolution in spec.resolutions
        else (spec.latent_channels, side, side)
    )
    inputs = make_inputs(
        shape, batch=batch, device="meta", num_classes=getattr(spec.config, "num_classes", 1000)
    )
    calls, macs = trace_module(model, inputs, autocast, attention)
    return OpTrace(
        model=spec.name,
        display_name=spec.display_name,
        resolution=resolution,
        batch=batch,
        autocast=autocast,
        attention=attention,
        params=sum(p.numel() for p in model.parameters()),
        macs=macs,
        calls=calls,
    )
