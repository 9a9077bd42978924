"""One forward on the meta device, operator by operator: FLOPs, bytes, dtype and kind per call.

The FLOPs are `fcdmbench flops`'s own: the trace runs inside
`fcdmbench.flops.op_table.count_with_flop_counter` and takes each call's share of its tally
(`OpTrace.macs` is that tally, and the calls sum to it; a mismatch is an error). Bytes are the
unfused traffic of each kernel: every distinct tensor it reads (broadcast dimensions counted
once) plus every tensor it writes, at the dtype it runs in; views cost nothing. With
``autocast="bfloat16"`` the trace replays CUDA autocast (`fcdmbench.perfmodel.autocast`),
so dtypes, and the casts autocast inserts, are those a GPU would run.

``scaled_dot_product_attention`` is one kernel on a GPU (FlashAttention or the memory-efficient
kernel), and DiG's chunked GLA one family of Triton kernels upstream (flash-linear-attention):
with ``attention="fused"`` (default) each such region becomes one call (kind ``attention`` or
``linear-attention``) that reads its inputs and writes its output, with the region's operators
kept in ``OpCall.members`` so a pricing can run them apart instead (the roofline's
``--attention-kernel unfused`` and ``--linear-attention-kernel torch``); ``attention="unfused"``
records them apart in ``calls`` (scores written to and read from memory).

`trace_train_step` traces one training step instead: forward, loss, the real autograd backward
(with gradient checkpointing's recomputation, which runs inside backward), the AdamW (foreach)
update and the EMA update, each call tagged with its `PHASES` entry. Fused attention there is
FlashAttention's forward and backward kernels (``aten._scaled_dot_product_flash_attention`` and
its backward: the backward recomputes the scores, 5 matmuls against the forward's 2).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
from dataclasses import dataclass
from typing import Any

from fcdmbench.errors import ConfigError
from fcdmbench.flops import meta_memo

__all__ = [
    "ATTENTION_MODES",
    "KINDS",
    "PHASES",
    "OpCall",
    "OpTrace",
    "TrainTrace",
    "trace_module",
    "trace_ops",
    "trace_train_step",
]

#: Operator kinds; `fcdmbench.perfmodel.roofline` maps (kind, dtype, precision) to a unit.
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

#: fused: one kernel per region (a forward) or FlashAttention (a training step); unfused: SDPA's
#: math path op by op; manual: attention written out by hand (`_manual_attention_mode`).
ATTENTION_MODES = ("fused", "unfused", "manual")
#: Parts of a training step (`OpCall.phase`); "recompute" is checkpointing's forward in backward.
PHASES = ("forward", "backward", "recompute", "optimizer", "ema")

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
_FLASH = frozenset(
    {
        "aten._scaled_dot_product_flash_attention",
        "aten._scaled_dot_product_flash_attention_backward",
    }
)
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
        phase: one of `PHASES` (a forward trace: ``forward``).
        inputs: a fused region's tensor inputs as (shape, dtype, contiguous), in call order.
        members: a fused region's operators as they run unfused (their MACs sum to ``macs``).
        winograd: a dense 3x3, stride-1, undilated 2-D convolution (or its backward), which
            cuDNN may run with Winograd (`fcdmbench.perfmodel.roofline`).
    """

    op: str
    module: str
    kind: str
    dtype: str
    macs: float
    bytes_read: int
    bytes_written: int
    shape: tuple[int, ...]
    phase: str = "forward"
    inputs: tuple[tuple[tuple[int, ...], str, bool], ...] = ()
    members: tuple[OpCall, ...] = ()
    winograd: bool = False

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

    return [v for v in meta_memo.leaves(values) if isinstance(v, torch.Tensor)]


def _distinct_bytes(tensors: list[Any]) -> int:
    seen = set()
    total = 0
    for t in tensors:
        key = (id(t.untyped_storage()), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        if key not in seen:
            seen.add(key)
            total += _footprint(t)
    return total


def _mutated(func: Any, args: tuple, kwargs: dict) -> list[Any]:
    """The tensors an operator writes in place through its arguments (``Tensor(a!)``)."""
    names = [a.name for a in func._schema.arguments]
    values = dict(zip(names, args, strict=False)) | kwargs
    return _tensors(
        [
            values.get(a.name)
            for a in func._schema.arguments
            if a.alias_info is not None and a.alias_info.is_write
        ]
    )


#: `_facts` of each operator seen, by id (an overload lives as long as torch).
_FACTS: dict[int, tuple[str, bool, bool]] = {}


def _facts(func: Any) -> tuple[str, bool, bool]:
    """(name, is a view, writes in place) of an operator, read from its schema once."""
    facts = _FACTS.get(id(func))
    if facts is None:
        returns = func._schema.returns
        view = bool(returns) and all(
            r.alias_info is not None and not r.alias_info.is_write for r in returns
        )
        inplace = not returns or any(r.alias_info is not None and r.alias_info.is_write
                                     for r in returns)  # fmt: skip
        facts = _FACTS[id(func)] = (str(func._overloadpacket), view, inplace)
    return facts


def _kind(name: str, func: Any, args: tuple, kwargs: dict, out: Any) -> str:
    if name in _GEMM:
        return "gemm"
    if name in _FLASH:
        return "attention"
    if name in _CONV or name == "aten.convolution_backward":
        backward = name == "aten.convolution_backward"  # (grad_out, input, weight, ..., groups)
        groups = args[8 + backward] if len(args) > 8 + backward else kwargs.get("groups", 1)
        x = args[int(backward)]
        channels = x.shape[1] if x.dim() > 1 else 1
        return "depthwise" if groups > 1 and groups == channels else "conv"
    if name == "aten._to_copy":
        return "cast" if args[0].dtype != out.dtype else "copy"
    if name in _COPY:
        return "copy"
    return "elementwise"


def _winograd(name: str, args: tuple, kwargs: dict) -> bool:
    """Whether a dense convolution (``aten.convolution`` or its backward) is 2-D, 3x3, stride
    1, undilated and not transposed: the shapes cuDNN's Winograd algorithms take."""
    backward = int(name == "aten.convolution_backward")
    names = ("weight", "stride", "dilation", "transposed")
    where = (1 + backward, 3 + backward, 5 + backward, 6 + backward)
    try:
        weight, stride, dilation, transposed = (
            args[i] if len(args) > i else kwargs[n] for i, n in zip(where, names, strict=True)
        )
    except KeyError:
        return False
    shape = tuple(weight.shape)
    ones = (1,) * (len(shape) - 2)
    return (
        len(shape) == 4
        and shape[2:] == (3, 3)
        and tuple(stride) in ((1,), ones)
        and tuple(dilation) in ((1,), ones)
        and not transposed
    )


class _Recorder:
    """Collects `OpCall`s from `count_with_flop_counter`'s per-call hook."""

    def __init__(self, root: str, state: Any, fuse_attention: bool) -> None:
        import torch

        self.root = root
        self.state = state
        self.fuse = fuse_attention
        self.phase = "forward"  # set by a training step as it goes
        self.grad_enabled = torch.is_grad_enabled
        self.calls: list[OpCall] = []
        self.macs_total = 0.0
        self.region_members: dict[int, list[OpCall]] = {}
        self.region_module: dict[int, str] = {}
        self.entered: dict[str, int] = {}  # active module -> when the recorder first saw it
        self.clock = itertools.count()

    def on_call(self, func, args, kwargs, out, macs, parents) -> None:
        self.macs_total += macs
        region = self.state.region
        if region is not None:
            self.region_module.setdefault(region, self._module(parents))
        target = self.calls
        if region is not None and self.fuse:
            target = self.region_members.setdefault(region, [])
        name, is_view, is_inplace = _facts(func)
        outputs = _tensors(out) or _mutated(func, args, kwargs)  # foreach updates return nothing
        if not outputs or name in _NO_TRAFFIC or (is_view and not macs):
            if macs:  # never drop counted work
                self._append(target, name, parents, "elementwise", outputs, macs, 0, 0)
            return
        inputs = _tensors((args, kwargs))
        written = _distinct_bytes(outputs)
        read = _distinct_bytes(inputs)
        if name == "aten.embedding":  # reads the looked-up rows, not the whole table
            read = written + _distinct_bytes(inputs[1:])
        elif is_inplace:
            read = max(read - written, 0) + written  # the mutated tensor is read and written
        kind = _kind(name, func, args, kwargs, outputs[0])
        winograd = kind == "conv" and _winograd(name, args, kwargs)
        self._append(target, name, parents, kind, outputs, macs, read, written, winograd)

    def check(self, tally_macs: float) -> None:
        """The calls must sum to the FLOP counter's tally (a mismatch is a bug)."""
        if abs(self.macs_total - tally_macs) > 1e-6 * max(tally_macs, 1.0):
            raise RuntimeError(f"per-call MACs {self.macs_total} != the tally's {tally_macs}")

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
                phase=self._phase(),
            )
        )

    def _module(self, parents: Any) -> str:
        """The module a call runs in, relative to the root: the active module (the module
        tracker's `parents`) entered last. In a forward the active modules are one chain and
        that is the deepest; in backward the tracker keeps a module active until its inputs'
        gradients are done, so a block whose backward has begun can sit beside the one before
        it, and the one entered last is the one running. Modules that appear together are
        ordered by name (a child's name extends its parent's), never by a set's order, which
        follows Python's string hashing and changes from one process to the next."""
        entered = self.entered
        for name in [n for n in entered if n not in parents]:
            del entered[name]
        for name in sorted(n for n in parents if n not in entered):
            entered[name] = next(self.clock)
        name = max((n for n in entered if n != "Global"), key=entered.__getitem__, default="")
        root = self.root
        if name.startswith(root + "."):
            return name[len(root) + 1 :]
        return "" if name == root else name

    def _phase(self) -> str:
        if self.phase == "backward" and self.grad_enabled():
            return "recompute"  # checkpointing re-runs the forward with grad on inside backward
        return self.phase

    def _append(self, target, name, parents, kind, outputs, macs, read, written, winograd=False):
        first = outputs[0] if outputs else None
        target.append(
            OpCall(
                op=name,
                module=self._module(parents),
                kind=kind,
                dtype=_dtype_name(first) if first is not None else "",
                macs=float(macs),
                bytes_read=int(read),
                bytes_written=int(written),
                shape=tuple(first.shape) if first is not None else (),
                phase=self._phase(),
                winograd=winograd,
            )
        )


def _check_options(autocast: str | None, attention: str, batch: int = 1) -> Any:
    """The torch dtype of `autocast` (None: fp32); ConfigError for a bad option."""
    import torch

    if attention not in ATTENTION_MODES:
        raise ConfigError(f"attention must be one of {ATTENTION_MODES}, got {attention!r}")
    dtypes = {"bfloat16": torch.bfloat16, "float16": torch.float16, None: None}
    if autocast not in dtypes:
        raise ConfigError(f"autocast must be bfloat16, float16 or None, got {autocast!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch must be an integer >= 1, got {batch!r}")
    return dtypes[autocast]


def trace_module(
    model: Any, inputs: tuple, autocast: str | None = None, attention: str = "fused"
) -> tuple[tuple[OpCall, ...], float]:
    """Trace ``model(*inputs)`` (meta or real tensors): its calls and the FLOP counter's MACs.

    Raises:
        ConfigError: unknown `autocast` or `attention`.
    """

    from fcdmbench.flops.op_table import count_with_flop_counter
    from fcdmbench.perfmodel.autocast import AutocastEmulation, FunctionModes, TraceState

    dtype = _check_options(autocast, attention)
    state = TraceState()
    recorder = _Recorder(type(model).__name__, state, fuse_attention=attention == "fused")
    state.on_region_end = recorder.on_region_end
    modes = [FunctionModes(state, dtype)]
    if attention == "manual":
        modes.append(_manual_attention_mode())
    if dtype is not None:
        modes.append(AutocastEmulation(dtype, state))
    replay = meta_memo.ModuleReplay(model, recorder, idle=lambda: state.region is None)
    replay.install()
    try:
        tally = count_with_flop_counter(model, inputs, on_call=recorder.on_call, modes=modes)
    finally:
        replay.uninstall()
    macs = tally.macs + replay.replayed_macs  # replayed calls never reached the counter
    recorder.check(macs)
    return tuple(recorder.calls), macs


def _meta_inputs(spec: Any, resolution: int, batch: int) -> tuple:
    """``(x, t, y)`` on the meta device for `batch` rows of `spec` at `resolution`."""
    from fcdmbench.catalog.spec import VAE_FACTOR
    from fcdmbench.flops.inputs import make_inputs

    side = resolution // VAE_FACTOR  # `spec.input_shape` without its check of the resolution
    shape = (spec.latent_channels, side, side)
    classes = getattr(spec.config, "num_classes", 1000)
    return make_inputs(shape, batch=batch, device="meta", num_classes=classes)


@functools.lru_cache(maxsize=1)
def _meta_model(name: str, resolution: int, overrides: tuple) -> Any:
    """The meta model a forward trace runs, validated as ``fcdmbench flops`` builds it; the last
    one is kept (a trace leaves it unchanged, and the audit traces each model in fp32 then bf16
    in a row)."""
    from fcdmbench.flops.counter import build_for_counting
    from fcdmbench.registry import get_spec

    return build_for_counting(get_spec(name), resolution, overrides=dict(overrides) or None)


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
        attention: ``fused`` (SDPA as one kernel), ``unfused`` (its math path op by op) or
            ``manual`` (attention written out by hand; its scale's products add to ``macs``).
        overrides: config fields to replace (an ablation configuration, e.g. FCDM's width).

    Returns:
        An `OpTrace` whose ``macs`` equals ``count_flops(name, resolution, batch).macs``
        (``manual``: plus the scale's products).
    """
    from fcdmbench.registry import resolve

    _check_options(autocast, attention, batch)
    spec, tag = resolve(name)
    resolution = tag or resolution
    key = tuple((overrides or {}).items())
    try:
        model = _meta_model(spec.name, resolution, key)
    except TypeError:  # an unhashable override value: built afresh
        model = _meta_model.__wrapped__(spec.name, resolution, key)
    calls, macs = trace_module(model, _meta_inputs(spec, resolution, batch), autocast, attention)
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


@dataclass(frozen=True, slots=True)
class TrainTrace(OpTrace):
    """An `OpTrace` of one training step of `model` on `batch` rows (one GPU's share).

    ``calls`` carry their `PHASES` entry; ``macs`` is the FLOP counter's tally of the whole step.
    ``grad_bytes`` are the gradients of the trainable parameters (what DDP all-reduces).
    """

    checkpointing: str  # "off" or how the blocks are checkpointed
    ema: bool
    trainable_params: int
    grad_bytes: int

    @property
    def gmacs_per_image(self) -> float:
        """GMACs per row of the calls held (all phases, or those `only` kept)."""
        return sum(c.macs for c in self.calls) / self.batch / 1e9

    def only(self, *phases: str) -> TrainTrace:
        """The same trace with the calls of `phases` only."""

        return dataclasses.replace(self, calls=tuple(c for c in self.calls if c.phase in phases))

    def bytes_of(self, *phases: str) -> int:
        return sum(c.bytes for c in self.calls if c.phase in phases)


def _flash_attention_mode():
    """A TorchFunctionMode running ``scaled_dot_product_attention`` (no mask, no dropout) as
    FlashAttention's forward and backward kernels, so a trace sees one kernel each way."""
    import torch
    import torch.nn.functional as F
    from torch.overrides import TorchFunctionMode

    aten = torch.ops.aten

    class _FlashBackward(torch.autograd.Function):
        """Identity on the attention output whose backward is FlashAttention's backward."""

        @staticmethod
        def forward(ctx, q, k, v, out, lse, seed, offset, extra):
            ctx.save_for_backward(q, k, v, out, lse, seed, offset)
            ctx.extra = extra
            return out

        @staticmethod
        def backward(ctx, grad):
            q, k, v, out, lse, seed, offset = ctx.saved_tensors
            cq, ck, mq, mk, scale = ctx.extra
            grads = aten._scaled_dot_product_flash_attention_backward(
                grad, q, k, v, out, lse, cq, ck, mq, mk, 0.0, False, seed, offset, scale=scale
            )
            return (*grads, *([None] * 5))

    class _Mode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is F.scaled_dot_product_attention and len(args) == 3:
                options = {k: v for k, v in kwargs.items() if v not in (None, 0.0, False)}
                if set(options) <= {"scale"}:
                    # the forward kernel runs here, in the caller's grad mode, so that a trace
                    # tells checkpointing's recomputation (grad on inside backward) from backward
                    scale = options.get("scale")
                    q, k, v = args
                    out, lse, cq, ck, mq, mk, seed, offset, _ = (
                        aten._scaled_dot_product_flash_attention(
                            q.detach(), k.detach(), v.detach(), 0.0, False, False, scale=scale
                        )
                    )
                    extra = (cq, ck, mq, mk, scale)
                    return _FlashBackward.apply(q, k, v, out, lse, seed, offset, extra)
            return func(*args, **kwargs)

    return _Mode()


def _manual_attention_mode():
    """A TorchFunctionMode running ``scaled_dot_product_attention`` (no mask, no dropout) as
    code that writes it out by hand (timm's ``Attention`` before 0.9, DiT's original code):
    ``(q @ k.transpose(-2, -1)) * scale``, ``softmax``, ``@ v``. Entered above `FunctionModes`,
    so autocast casts the matmuls to 16 bits and softmax to fp32 as it would this code."""
    import torch.nn.functional as F
    from torch.overrides import TorchFunctionMode

    class _Mode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is F.scaled_dot_product_attention and len(args) == 3:
                options = {k: v for k, v in kwargs.items() if v not in (None, 0.0, False)}
                if set(options) <= {"scale"}:
                    q, k, v = args
                    scale = options.get("scale", q.shape[-1] ** -0.5)
                    attn = (q @ k.transpose(-2, -1)) * scale
                    return attn.softmax(dim=-1) @ v
            return func(*args, **kwargs)

    return _Mode()


def _step_modes(state: Any, dtype: Any, attention: str) -> list[Any]:
    """The function modes of a training trace (fresh ones: checkpointing's recomputation runs
    in backward, outside the modes entered around the step, and enters its own)."""
    from fcdmbench.perfmodel.autocast import FunctionModes

    modes = [FunctionModes(state, dtype)]
    if attention == "fused":
        modes.insert(0, _flash_attention_mode())  # below FunctionModes: sees SDPA after its casts
    elif attention == "manual":
        modes.append(_manual_attention_mode())  # above: its matmuls and softmax get autocast's
    return modes


def _flat_like(tensors: list[Any]) -> list[Any]:
    """One flat meta tensor per dtype, as many elements as `tensors` hold together."""
    import torch

    sizes: dict[Any, int] = {}
    for t in tensors:
        sizes[t.dtype] = sizes.get(t.dtype, 0) + t.numel()
    return [
        torch.nn.Parameter(torch.empty(n, dtype=dtype, device="meta")) for dtype, n in sizes.items()
    ]


def _train_step(model: Any, inputs: tuple, ema: bool, recorder: _Recorder) -> tuple:
    """(the step to trace, the model's parameters, the trainable ones): DiT's and FCDM's
    train.py loop on `inputs`, telling `recorder` which phase runs."""
    import torch

    from fcdmbench.throughput import workloads

    x, t, y = inputs
    noise = torch.empty_like(x)
    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    # The updates are elementwise over every parameter, so they are traced on one flat
    # parameter per dtype of the same size: the same bytes as the per-tensor kernels, in
    # a fraction of the time (meta kernels run in Python).
    flat = _flat_like(trainable)
    optimizer = workloads.make_adamw(flat, foreach=True)
    workloads.prime_optimizer(optimizer, flat)
    ema_pairs = (_flat_like(params), _flat_like(params)) if ema else ((), ())

    def step():
        recorder.phase = "forward"
        loss = workloads.epsilon_loss(model(x, t, y), noise)
        seed = torch.ones_like(loss)  # made here: backward's own would run with grad on
        recorder.phase = "backward"
        loss.backward(seed)
        recorder.phase = "optimizer"
        for p in flat:  # the gradients backward left in the model's parameters, flattened
            p.grad = torch.empty_like(p)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if ema:
            recorder.phase = "ema"
            workloads.update_ema(*ema_pairs)

    return step, params, trainable


def trace_train_step(
    name: str,
    resolution: int = 256,
    batch: int = 1,
    autocast: str | None = None,
    attention: str = "fused",
    grad_checkpointing: bool = False,
    ema: bool = True,
) -> TrainTrace:
    """Trace one steady-state training step of registered model `name` on the meta device.

    The step is DiT's and FCDM's train.py loop: forward on `batch` rows, epsilon MSE loss,
    backward, AdamW (foreach, lr 1e-4, no weight decay; its state created beforehand), and
    with `ema` the per-parameter EMA update. With `grad_checkpointing` every block is
    checkpointed, non-reentrant, as FCDM's upstream does
    (`fcdmbench.throughput.workloads.checkpoint_blocks`); its recomputation is traced where it
    runs, inside backward (phase ``recompute``; torch stops it once the tensors backward needs
    are back, so a block's trailing elementwise work is not recomputed). Data loading, the VAE
    and the DDP all-reduce are not traced.

    Raises:
        ConfigError: unknown `autocast` or `attention`, a bad batch or resolution, or a model
            without a block list to checkpoint.
    """

    from fcdmbench.flops.op_table import count_with_flop_counter
    from fcdmbench.perfmodel.autocast import AutocastEmulation, TraceState
    from fcdmbench.registry import resolve
    from fcdmbench.throughput import workloads

    dtype = _check_options(autocast, attention, batch)
    spec, tag = resolve(name)
    resolution = tag or resolution
    state = TraceState()

    @contextlib.contextmanager
    def recompute():
        with contextlib.ExitStack() as stack:
            for mode in _step_modes(state, dtype, attention):
                stack.enter_context(mode)
            yield

    # fcdmbench's per-block wrapper for every model (FCDM's own checkpointing is the same, but
    # its recomputation could not re-enter the trace's function modes: autocast casts, flash)
    model, description = workloads.build_for_training(
        spec, resolution, grad_checkpointing, recompute, upstream=False
    )
    recorder = _Recorder(type(model).__name__, state, fuse_attention=False)
    step, params, trainable = _train_step(
        model, _meta_inputs(spec, resolution, batch), ema, recorder
    )
    modes = _step_modes(state, dtype, attention)
    if dtype is not None:
        modes.append(AutocastEmulation(dtype, state))
    tally = count_with_flop_counter(model, (), recorder.on_call, modes, step=step)
    recorder.check(tally.macs)
    return TrainTrace(
        model=spec.name,
        display_name=spec.display_name,
        resolution=resolution,
        batch=batch,
        autocast=autocast,
        attention=attention,
        params=sum(p.numel() for p in params),
        macs=tally.macs,
        calls=tuple(recorder.calls),
        checkpointing=description,
        ema=ema,
        trainable_params=sum(p.numel() for p in trainable),
        grad_bytes=sum(p.numel() * p.element_size() for p in trainable),
    )
