"""CUDA autocast, replayed on the meta device: which operators run in bf16/fp16 and which in fp32.

A meta-device trace has no CUDA autocast (torch disables it without a GPU, and the meta backend
has no autocast key), so a roofline of ``--precision bf16`` would otherwise price every tensor
at 4 bytes. `AutocastEmulation` is a dispatch mode that applies PyTorch's CUDA autocast policy to
the operators a meta trace sees, with real dtype changes on the meta tensors, so bytes and units
follow from what autocast would run:

- lower precision (``LOWER_PRECISION_OPS``): floating inputs are cast to the autocast dtype first
  (each cast is a real ``aten._to_copy`` in the trace, priced like any copy): convolutions and
  every matmul;
- fp32 (``FP32_OPS``): floating inputs are cast up to fp32 (layer/group norm, exp, pow, rsqrt,
  upsampling, losses ...);
- fp32 output (``FP32_OUTPUT_OPS``): reductions that autocast gives ``dtype=float32`` (sum,
  cumsum, prod, linalg_vector_norm) read their input as it is and write fp32; softmax and
  log-softmax cast their input (what ``at::softmax`` does for a bf16 input with ``dtype=float``);
- promote (``PROMOTE_OPS``): inputs are cast to the widest floating input (addcmul, addcdiv ...);
- everything else runs in the dtypes it is given, with torch's own type promotion.

The lists follow ``AT_FORALL_LOWER_PRECISION_FP``, ``AT_FORALL_FP32``,
``AT_FORALL_FP32_SET_OPT_DTYPE`` and ``AT_FORALL_PROMOTE`` in pytorch/pytorch
``aten/src/ATen/autocast_mode.h``, restated for the operators seen below autograd (``linear`` is
seen as ``addmm``, ``conv2d`` as ``convolution``, ``group_norm`` as ``native_group_norm``);
``AUTOCAST_NAMES`` lists the registered names, and a test checks each has an AutocastCUDA
kernel in the installed torch. `FunctionModes` casts the Python-level entry points (``conv2d``
checks its dtypes before any dispatch mode runs) and runs ``scaled_dot_product_attention``
(itself lower precision) with casts of q, k, v and no emulation inside, as the autocast wrapper
does, and marks its operators so a trace can fuse them.

Limits (documented, not modelled): autocast's weight-cast cache (a weight used twice is cast
once) is not replayed; each use is cast. Double tensors are never cast (as in autocast).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AUTOCAST_NAMES",
    "AutocastEmulation",
    "FP32_OPS",
    "FP32_OUTPUT_OPS",
    "LOWER_PRECISION_OPS",
    "PROMOTE_OPS",
    "FUSED_KIND_ATTR",
    "FunctionModes",
    "TraceState",
    "fused_kind",
]

#: Operator packets (as a meta trace sees them) that autocast runs in bf16/fp16.
LOWER_PRECISION_OPS = frozenset(
    {
        "aten.convolution",
        "aten._convolution",
        "aten.addmm",
        "aten.mm",
        "aten.bmm",
        "aten.baddbmm",
        "aten.addbmm",
        "aten.mv",
        "aten.addmv",
        "aten.addr",
        "aten.prelu",
        "aten.matmul",
        "aten.linalg_vecdot",
    }
)
#: Operators autocast runs in fp32 (inputs cast up).
FP32_OPS = frozenset(
    {
        "aten.native_layer_norm",
        "aten.native_group_norm",
        "aten.acos",
        "aten.asin",
        "aten.cosh",
        "aten.erfinv",
        "aten.exp",
        "aten.expm1",
        "aten.log",
        "aten.log10",
        "aten.log2",
        "aten.log1p",
        "aten.reciprocal",
        "aten.rsqrt",
        "aten.sinh",
        "aten.tan",
        "aten.pow",
        "aten.softplus",
        "aten.upsample_nearest1d",
        "aten.upsample_nearest2d",
        "aten.upsample_bilinear2d",
        "aten.upsample_bicubic2d",
        "aten.mse_loss",
        "aten.l1_loss",
        "aten.smooth_l1_loss",
        "aten.huber_loss",
        "aten.binary_cross_entropy_with_logits",
        "aten.nll_loss_forward",
        "aten.kl_div",
        "aten.logsumexp",
        "aten.dist",
        "aten.cdist",
        "aten.renorm",
        "aten._softmax",
        "aten._log_softmax",
    }
)
#: Reductions autocast calls with ``dtype=float32`` (input read as is, output fp32).
FP32_OUTPUT_OPS = frozenset(
    {"aten.sum", "aten.prod", "aten.cumsum", "aten.cumprod", "aten.linalg_vector_norm"}
)
#: Operators autocast runs in the widest floating input dtype.
PROMOTE_OPS = frozenset(
    {
        "aten.addcdiv",
        "aten.addcmul",
        "aten.atan2",
        "aten.cross",
        "aten.dot",
        "aten.vdot",
        "aten.index_put",
        "aten.scatter_add",
        "aten.grid_sampler_2d",
    }
)
#: The registered autocast names behind the lists above (tests check each has an AutocastCUDA
#: kernel in the installed torch).
AUTOCAST_NAMES = {
    "lower_precision": (
        "conv2d",
        "convolution",
        "_convolution",
        "linear",
        "addmm",
        "mm",
        "bmm",
        "baddbmm",
        "addbmm",
        "mv",
        "addmv",
        "addr",
        "prelu",
        "matmul",
        "scaled_dot_product_attention",
    ),
    "fp32": (
        "layer_norm",
        "native_layer_norm",
        "group_norm",
        "exp",
        "log",
        "rsqrt",
        "pow.Tensor_Scalar",
        "softplus",
        "upsample_bilinear2d",
        "upsample_nearest2d",
        "mse_loss",
        "logsumexp",
    ),
    "fp32_set_opt_dtype": ("softmax.int", "log_softmax.int", "sum", "cumsum", "linalg_vector_norm"),
    "promote": ("addcmul", "addcdiv", "atan2", "index_put", "scatter_add"),
}


@dataclass(slots=True)
class TraceState:
    """Shared between the modes of one trace: the open fused region, if any, and its kind
    (``attention``: ``scaled_dot_product_attention``; ``linear-attention`` or
    ``fused-elementwise``: a function that declares itself one fused kernel upstream, see
    `fused_kind`). Autocast is replayed inside every region but SDPA's, as CUDA autocast does.

    ``on_region_end(region, tensor_args, out)`` is called when a region's call returns.
    """

    region: int | None = None
    region_kind: str | None = None
    region_op: str | None = None
    regions: itertools.count = field(default_factory=itertools.count)
    on_region_end: Callable[[int, tuple, Any], None] | None = None


#: Attribute a Python function (wrapped with ``torch.overrides.wrap_torch_function`` so function
#: modes see it) sets to the kind of the one upstream kernel it stands for.
FUSED_KIND_ATTR = "fcdmbench_fused_kind"


def fused_kind(func: Any) -> str | None:
    """The fused-kernel kind of `func`: ``attention`` for SDPA, the kind a baseline function
    declares under `FUSED_KIND_ATTR` (DiG's chunked GLA: ``linear-attention``), else None."""
    import torch.nn.functional as F

    if func is F.scaled_dot_product_attention:
        return "attention"
    return getattr(func, FUSED_KIND_ATTR, None)


def _floating(t: Any) -> bool:
    import torch

    return isinstance(t, torch.Tensor) and t.is_floating_point() and t.dtype != torch.float64


def _cast_all(args: Any, dtype: Any) -> Any:
    """Cast every eligible floating tensor in a (nested) argument structure to `dtype`."""
    import torch

    from fcdmbench.flops.meta_memo import map_leaves

    def cast(value):
        if _floating(value) and value.dtype != dtype:
            return torch.ops.aten._to_copy.default(value, dtype=dtype)
        return value

    return map_leaves(cast, args)


def _widest(args: Any) -> Any:
    import torch

    from fcdmbench.flops.meta_memo import leaves

    dtypes = {t.dtype for t in leaves(args) if _floating(t)}
    return torch.float32 if torch.float32 in dtypes or not dtypes else dtypes.pop()


def AutocastEmulation(dtype: Any, state: TraceState):  # noqa: N802 (a mode factory)
    """A TorchDispatchMode applying CUDA autocast's policy with lower-precision `dtype`."""
    import torch

    from fcdmbench.flops.meta_memo import dispatch_mode_base

    class _Emulation(dispatch_mode_base()):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            name = str(func._overloadpacket)
            if state.region_kind == "attention" and state.region is not None:
                pass  # inside SDPA: autocast keys are excluded there
            elif name in LOWER_PRECISION_OPS:
                args, kwargs = _cast_all((args, kwargs), dtype)
            elif name in FP32_OPS:
                args, kwargs = _cast_all((args, kwargs), torch.float32)
            elif name in FP32_OUTPUT_OPS:
                has_dtype = any(a.name == "dtype" for a in func._schema.arguments)
                if has_dtype and kwargs.get("dtype") is None and args and _floating(args[0]):
                    kwargs["dtype"] = torch.float32
            elif name in PROMOTE_OPS:
                args, kwargs = _cast_all((args, kwargs), _widest((args, kwargs)))
            return func(*args, **kwargs)

    return _Emulation()


def _lower_precision_functions() -> frozenset:
    """Python-level entry points autocast wraps as lower precision. Convolutions must be cast
    here: ``conv2d`` checks that input and bias dtypes agree before any dispatch mode runs."""
    import torch
    import torch.nn.functional as F

    return frozenset(
        {
            F.conv1d,
            F.conv2d,
            F.conv3d,
            F.conv_transpose1d,
            F.conv_transpose2d,
            F.conv_transpose3d,
            F.linear,
            F.prelu,
            torch.matmul,
            torch.mm,
            torch.bmm,
            torch.addmm,
            torch.baddbmm,
            torch.einsum,
            torch.Tensor.matmul,
            torch.Tensor.__matmul__,
            torch.Tensor.__rmatmul__,
            torch.Tensor.mm,
            torch.Tensor.bmm,
        }
    )


def FunctionModes(state: TraceState, dtype: Any | None):  # noqa: N802 (a mode factory)
    """A TorchFunctionMode for what must happen above dispatch.

    - Each ``scaled_dot_product_attention`` call is one region (`TraceState.region`), so a
      trace can fuse its operators; with `dtype`, q, k and v are cast first and nothing inside
      is emulated, as the SDPA autocast wrapper does. A function with a `fused_kind` (DiG's
      chunked GLA, one Triton kernel family upstream) is a region too, its inputs passed as
      they are (upstream's kernels run in the dtype they are given).
    - With `dtype`, the lower-precision entry points (convolutions, linear, matmuls) get their
      floating arguments cast to `dtype`, where autocast itself casts them.
    """
    import torch
    from torch.overrides import TorchFunctionMode

    lower = _lower_precision_functions() if dtype is not None else frozenset()

    def cast(values):
        return tuple(v.to(dtype) if _floating(v) and v.dtype != dtype else v for v in values), None

    class _Modes(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if state.region is not None and (state.region_kind == "attention" or func not in lower):
                return func(*args, **kwargs)  # SDPA: no autocast inside; no nested regions
            if func in lower:
                args = cast(args)[0]
                kwargs = {k: cast((v,))[0][0] for k, v in kwargs.items()}
                return func(*args, **kwargs)
            kind = fused_kind(func)
            if kind is None:
                return func(*args, **kwargs)
            if dtype is not None and kind == "attention":
                args = cast(args)[0]
            region = state.region = next(state.regions)
            state.region_kind = kind
            state.region_op = (
                "aten.scaled_dot_product_attention" if kind == "attention" else func.__name__
            )
            try:
                out = func(*args, **kwargs)
            finally:
                state.region = None
            if state.on_region_end is not None:
                tensors = tuple(a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor))
                state.on_region_end(region, tensors, out)
            return out

    return _Modes()
