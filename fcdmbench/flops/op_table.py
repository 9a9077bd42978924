"""fcdmbench's explicit operator table for `torch.utils.flop_counter.FlopCounterMode`.

Units: everything here is in MACs (a multiply-add counts 1), the DiT/paper convention; FLOPs are
2 x MACs. Two kinds of counted operators:

- ``dense``: matrix multiplies, convolutions (groups handled) and attention (QK^T + AV), with
  torch's own formulas. This is plain ``FlopCounterMode`` / 2.
- ``elementwise``: the per-element operators torchprofile (the tool the FCDM, DiC and DiCo papers
  used) also counts: ``mul`` and ``addcmul`` (1 per output element; ``addcmul`` is a multiply-add
  torchprofile happens to skip), affine layer/group/batch norm (1 per element), ``mean`` and average
  pooling (1 per output element), bilinear upsampling (4 per output element), leaky ReLU (1).

Every other operator is counted as zero and reported as such (`OpCount.kind == "zero"`), so an
undercount is visible, unlike a tool that skips an unknown operator quietly. CPU attention
(``_scaled_dot_product_flash_attention_for_cpu``), which ``FlopCounterMode`` misses, is registered.
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fcdmbench.records.flops import ModuleCount, OpCount

__all__ = ["ModuleCount", "OpCount", "OpTally", "count_with_flop_counter", "VIEW_OPS"]

#: Operators that only reshape or alias memory; listed as zero with kind "view".
VIEW_OPS = frozenset(
    {
        "aten.view",
        "aten._unsafe_view",
        "aten.reshape",
        "aten.permute",
        "aten.transpose",
        "aten.t",
        "aten.unsqueeze",
        "aten.squeeze",
        "aten.expand",
        "aten.split",
        "aten.chunk",
        "aten.unbind",
        "aten.slice",
        "aten.select",
        "aten.detach",
        "aten.alias",
        "aten.clone",
        "aten.contiguous",
        "aten._to_copy",
        "aten.flatten",
        "aten.pixel_shuffle",
        "aten.pixel_unshuffle",
        "aten.cat",
        "aten.empty",
        "aten.as_strided",
        "aten.lift_fresh",
    }
)


@dataclass(frozen=True, slots=True)
class OpTally:
    """What one counter saw in one forward."""

    ops: tuple[OpCount, ...]
    modules: tuple[ModuleCount, ...] = ()

    @property
    def macs(self) -> float:
        return float(sum(o.macs for o in self.ops))

    @property
    def dense_macs(self) -> float:
        return float(sum(o.macs for o in self.ops if o.kind == "dense"))

    @property
    def skipped_ops(self) -> tuple[OpCount, ...]:
        return tuple(o for o in self.ops if o.kind == "skipped")


def _numel(shape: Any) -> int:
    return math.prod(shape) if shape is not None else 0


def _first(out_shape: Any) -> Any:
    return (
        out_shape[0]
        if isinstance(out_shape, (tuple, list)) and out_shape and not isinstance(out_shape[0], int)
        else out_shape
    )


# Elementwise formulas. FlopCounterMode expects FLOPs, so each returns 2 x MACs and the tally halves
# every count uniformly.
def _per_output_element(*args, out_shape=None, **kwargs) -> int:
    return 2 * _numel(_first(out_shape))


def _bilinear(*args, out_shape=None, **kwargs) -> int:
    return 2 * 4 * _numel(_first(out_shape))


def _affine_norm(weight_index: int):
    def formula(*args, out_shape=None, **kwargs) -> int:
        affine = len(args) > weight_index and args[weight_index] is not None
        return 2 * _numel(_first(out_shape)) if affine else 0

    return formula


def _cpu_flash_attention(query, key, value, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query, key, value)


def _conv_backward(*args, out_shape=None, **kwargs) -> int:
    """torch's convolution-backward formula with the weight gradient divided by `groups`: torch
    counts a grouped convolution's weight gradient as if it were dense (a depthwise conv over C
    channels: C times its real work). The input gradient is torch's (it reads the real weight).

    ``args``: convolution_backward's (grad_out, input, weight, bias_sizes, stride, padding,
    dilation, transposed, output_padding, groups, output_mask), as shapes."""
    from torch.utils.flop_counter import conv_backward_flop

    *common, groups, output_mask = args
    # the module attribute is torch's shape-wrapped formula: it takes the outputs as out_val
    grad_input = conv_backward_flop(
        *common, groups, [output_mask[0], False, False], out_val=out_shape
    )
    grad_weight = conv_backward_flop(
        *common, groups, [False, output_mask[1], False], out_val=out_shape
    )
    return grad_input + grad_weight // groups


def _custom_mapping() -> dict[Any, Any]:
    import torch

    aten = torch.ops.aten
    mapping: dict[Any, Any] = {
        aten.mul: _per_output_element,
        aten.addcmul: _per_output_element,
        aten.mean: _per_output_element,
        aten.avg_pool2d: _per_output_element,
        aten._adaptive_avg_pool2d: _per_output_element,
        aten.leaky_relu: _per_output_element,
        aten.upsample_bilinear2d: _bilinear,
        aten.native_layer_norm: _affine_norm(2),  # (input, shape, weight, bias, eps)
        aten.native_group_norm: _affine_norm(1),  # (input, weight, bias, N, C, HxW, G, eps)
        aten.native_batch_norm: _affine_norm(1),
        aten._native_batch_norm_legit_no_training: _affine_norm(1),
        aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_attention,
        aten.convolution_backward: _conv_backward,  # seen only by training traces
    }
    return mapping


def _dense_ops() -> frozenset[str]:
    from torch.utils.flop_counter import flop_registry

    return frozenset(str(k) for k in flop_registry) | {
        "aten._scaled_dot_product_flash_attention_for_cpu"
    }


def count_with_flop_counter(
    model: Any,
    inputs: tuple,
    on_call: Callable | None = None,
    modes: Sequence[Any] = (),
    step: Callable[[], Any] | None = None,
) -> OpTally:
    """Run ``model(*inputs)`` under `FlopCounterMode`'s counting with fcdmbench's op table.

    Works on meta tensors (no memory, no compute) and on real ones. Every operator that ran is
    reported, counted or not, with its number of calls; per-module MACs come from FlopCounterMode's
    module tracker. The counting is FlopCounterMode's own: its formula registry (torch's plus
    `_custom_mapping`), its module tracker and its dispatch rule (an operator with a
    CompositeImplicitAutograd kernel is decomposed and its parts counted, any other runs and is
    counted with its formula), done by one dispatch mode that also takes the census and feeds
    `on_call`, so each formula runs once per call. Meta kernels are answered from
    `fcdmbench.flops.meta_memo.meta_memo` when they repeat (their outputs' metadata only), and
    in a plain count (no `on_call`, `modes` or `step`) a repeated block's call is answered by
    `fcdmbench.flops.meta_memo.CountReplay`: the same additions its first twin made.

    Args:
        on_call: called once per executed operator as ``on_call(func, args, kwargs, out, macs,
            parents)``: ``macs`` is that call's share of the tally (the same formulas, summing to
            ``OpTally.macs``), ``parents`` the module tracker's active module names. The roofline
            trace (`fcdmbench.perfmodel.op_trace`) is built on it, so it never counts FLOPs twice.
        modes: further context managers entered inside the counter, innermost last (dispatch
            modes there see each operator before the counter does).
        step: run ``step()`` with autograd on instead of ``model(*inputs)`` under no_grad (a
            training step: forward, loss, backward, optimizer; `model` names the modules).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from fcdmbench.flops import meta_memo
    from fcdmbench.flops.skip_dynamo import refs_without_dynamo

    calls: Counter[str] = Counter()
    scalar_mul_flops: Counter[str] = Counter()
    counter = FlopCounterMode(display=False, custom_mapping=_custom_mapping())
    book = CountBook(counter, calls, scalar_mul_flops)
    counting = _counting_mode(counter, book, on_call)
    with contextlib.ExitStack() as stack:
        stack.enter_context(refs_without_dynamo())
        grad = torch.no_grad() if step is None else torch.enable_grad()
        # the meta memo innermost, below the counting: it only spares meta kernels
        for mode in (grad, meta_memo.meta_memo(), counter.mod_tracker, counting, *modes):
            stack.enter_context(mode)
        if on_call is None and step is None and not modes:  # a plain count: blocks replayed
            replay = meta_memo.CountReplay(model, book)
            replay.install()
            stack.callback(replay.uninstall)
        model(*inputs) if step is None else step()
    return _tally(counter, calls, scalar_mul_flops, model)


def _tally(counter: Any, calls: Counter, scalar_mul_flops: Counter, model: Any) -> OpTally:
    """The tally of a finished count: operators (with their census) and modules."""
    import torch

    dense = _dense_ops()
    counts = counter.get_flop_counts()
    for parent, flops in scalar_mul_flops.items():
        counts[parent][torch.ops.aten.mul] -= flops
    flops_by_op = {str(k): v for k, v in counts.get("Global", {}).items()}
    ops = []
    for op in sorted(set(calls) | set(flops_by_op)):
        macs = flops_by_op.get(op, 0) / 2
        if op in flops_by_op:
            kind = "dense" if op in dense else "elementwise"
        else:
            kind = "view" if op in VIEW_OPS else "zero"
        ops.append(OpCount(op=op, calls=calls.get(op, 0), macs=float(macs), kind=kind))
    ops.sort(key=lambda o: (-o.macs, o.kind, o.op))
    return OpTally(ops=tuple(ops), modules=_module_counts(counts, dense, model))


class CountBook:
    """What the counting mode adds per executed operator: the census of `calls`, the
    operator's FLOPs for every active module (`FlopCounterMode`'s ``flop_counts``) and the
    scalar products taken back out (`scalar_mul_flops`). `log` keeps each addition (operator,
    FLOPs or None when it has no formula, scalar FLOPs, active modules outermost first) so
    that `fcdmbench.flops.meta_memo.CountReplay` can make the same additions for a repeated
    module without running it."""

    def __init__(self, counter: Any, calls: Counter, scalar_mul_flops: Counter) -> None:
        self.tracker = counter.mod_tracker
        self.flop_counts = counter.flop_counts
        self.calls = calls
        self.scalar_mul_flops = scalar_mul_flops
        self.log: list[tuple[Any, int | None, int, list[str]]] = []

    def active(self) -> list[str]:
        """The tracker's active modules, outermost first."""
        return _outer_first(self.tracker.parents)

    def add(self, packet: Any, flops: int | None, scalar: int, parents: list[str]) -> None:
        self.log.append((packet, flops, scalar, parents))
        self.calls[str(packet)] += 1
        if flops is not None:
            for parent in parents:
                self.flop_counts[parent][packet] += flops
        if scalar:
            for parent in parents:
                self.scalar_mul_flops[parent] += scalar


def _counting_mode(counter: Any, book: CountBook, on_call: Any):
    """The dispatch mode of `count_with_flop_counter`: `counter`'s (a `FlopCounterMode`,
    not entered) counting of each executed operator, written in `book` (its ``flop_counts``
    per active module, the census of calls), and `on_call`."""
    import torch

    from fcdmbench.flops.meta_memo import dispatch_mode_base

    registry = counter.flop_registry
    tracker = counter.mod_tracker
    mul_scalar = torch.ops.aten.mul.Scalar
    device = torch.ops.prim.device.default
    composite: dict[int, bool] = {}

    def decomposes(func: Any) -> bool:
        """Whether ``func.decompose`` runs a kernel (else it returns NotImplemented)."""
        if id(func) not in composite:
            key = torch._C.DispatchKey.CompositeImplicitAutograd
            composite[id(func)] = func is not device and (
                key in func.py_kernels or torch._C._dispatch_has_kernel_for_dispatch_key(
                    func.name(), key
                )
            )  # fmt: skip
        return composite[id(func)]

    class _Counting(dispatch_mode_base()):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if decomposes(func):  # FlopCounterMode: counted in its parts
                with self:
                    out = func.decompose(*args, **kwargs)
                if out is not NotImplemented:
                    return out
            packet = func._overloadpacket
            out = func(*args, **kwargs)
            flops = registry[packet](*args, **kwargs, out_val=out) if packet in registry else None
            # aten.mul.Scalar only comes from decompositions (SDPA's math path scales q and k);
            # torchprofile's attention formula leaves it out, so it is taken back out.
            scalar = 2 * out.numel() if func is mul_scalar else 0
            book.add(packet, flops, scalar, book.active())
            if on_call is not None:
                share = 0 if func is mul_scalar else flops or 0
                on_call(func, args, kwargs, out, share / 2, tracker.parents)
            return out

    return _Counting()


def _outer_first(parents: Any) -> list[str]:
    """The module tracker's active modules (a set) outermost first: the order a module's MACs
    first appear in the per-module counts, hence in records, whatever the string hash seed."""
    return sorted(parents, key=lambda name: (name.count("."), name))


def _module_counts(counts: dict, dense: frozenset[str], model: Any) -> tuple[ModuleCount, ...]:
    root = type(model).__name__
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    is_dense: dict[Any, bool] = {}
    for name, per_op in counts.items():
        if name == "Global":
            continue
        if name == root:
            key = ""
        elif name.startswith(root + "."):
            key = name[len(root) + 1 :]
        else:
            key = name
        for op, flops in per_op.items():
            if op not in is_dense:
                is_dense[op] = str(op) in dense
            totals[key][0] += flops / 2
            if is_dense[op]:
                totals[key][1] += flops / 2
    _add_container_totals(totals)
    return tuple(ModuleCount(module=k, macs=v[0], dense_macs=v[1]) for k, v in totals.items())


def _add_container_totals(totals: dict[str, list[float]]) -> None:
    """Give containers that never run forward themselves (``nn.ModuleList`` stages such as
    ``enc1``) the sum of their top-most tracked descendants, inserted before the first child."""
    names = [n for n in totals if n]
    missing: dict[str, list[float]] = {}
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in totals:
                break  # a tracked ancestor already holds this module's MACs
            # only the top-most tracked descendant below `prefix` contributes
            between = [".".join(parts[:j]) for j in range(i + 1, len(parts))]
            if any(b in totals for b in between):
                continue
            acc = missing.setdefault(prefix, [0.0, 0.0])
            acc[0] += totals[name][0]
            acc[1] += totals[name][1]
    if not missing:
        return
    ordered: dict[str, list[float]] = {}
    for name, value in totals.items():
        parts = name.split(".") if name else []
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in missing and prefix not in ordered:
                ordered[prefix] = missing[prefix]
        ordered[name] = value
    totals.clear()
    totals.update(ordered)
