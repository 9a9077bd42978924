"""Execute a frozen TensorFlow-1 GraphDef in PyTorch: the ops of ADM's 2015 Inception graph.

`GraphRunner` compiles the nodes that the requested outputs need, from a fed tensor
(``ExpandDims:0`` for ADM) down, into a list of steps: constants become torch tensors once
(filters in OIHW channels-last layout, batch-norm scales), each node a closure with TensorFlow's
semantics (`fcdmbench.evaluation.inception.torch_ops`). An op, dtype, data format or attribute
value it does not implement is an `InputError` naming the node, never a guess.

A Conv2D whose only reader is a BatchNormWithGlobalNormalization, followed by the 2015 graph's
``CheckNumerics`` + ``Identity`` (control dependency) and a ``Relu``, runs as one step that
normalises and rectifies the convolution's output in place: the same arithmetic, in the same
order, without the intermediate tensors. ``CheckNumerics`` is an identity here (it checks
nothing); uint8 images through finite weights cannot produce a NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fcdmbench.errors import InputError
from fcdmbench.evaluation.inception import torch_ops
from fcdmbench.evaluation.inception.graphdef import Attr, AttrKind, DType, Graph, Node

__all__ = ["GraphRunner", "UnsupportedGraphError"]

_HINT = "the torch backend runs only the ops of ADM's classify_image_graph_def.pb; use --backend tf"

_TORCH_DTYPES = {
    DType.FLOAT: torch.float32,
    DType.DOUBLE: torch.float64,
    DType.INT32: torch.int32,
    DType.UINT8: torch.uint8,
    DType.INT16: torch.int16,
    DType.INT8: torch.int8,
    DType.INT64: torch.int64,
    DType.BOOL: torch.bool,
    DType.HALF: torch.float16,
}

#: Attribute values a 2015-era node may omit: the op definitions' defaults.
_DEFAULTS = {
    "data_format": Attr(AttrKind.S, b"NHWC"),
    "T": Attr(AttrKind.TYPE, DType.FLOAT),
    "align_corners": Attr(AttrKind.B, False),
    "half_pixel_centers": Attr(AttrKind.B, False),
    "transpose_a": Attr(AttrKind.B, False),
    "transpose_b": Attr(AttrKind.B, False),
    "Truncate": Attr(AttrKind.B, False),
}

_Run = Callable[..., torch.Tensor]


class UnsupportedGraphError(InputError):
    """The graph uses an op or attribute value the torch interpreter does not implement."""


@dataclass(frozen=True, slots=True)
class _Step:
    name: str
    inputs: tuple[str, ...]
    run: _Run


def _split(ref: str) -> tuple[str, int]:
    name, _, index = ref.partition(":")
    return name, int(index or 0)


def _data_inputs(node: Node) -> list[str]:
    return [ref for ref in node.inputs if not ref.startswith("^")]


class _Compiler:
    """Turns nodes into steps; knows the graph, the device and the constants seen so far."""

    def __init__(self, nodes: dict[str, Node], device: torch.device) -> None:
        self.nodes = nodes
        self.device = device

    def fail(self, node: Node, what: str) -> UnsupportedGraphError:
        return UnsupportedGraphError(f"node {node.name!r} ({node.op}): {what}", _HINT)

    def attr(self, node: Node, key: str, kind: AttrKind | None = None):
        entry = node.attr.get(key, _DEFAULTS.get(key))
        if entry is None:
            raise self.fail(node, f"attribute {key!r} is missing")
        if kind is not None and entry.kind is not kind:
            raise self.fail(node, f"attribute {key!r} is {entry.kind.value}, not {kind.value}")
        return entry.value

    def ints(self, node: Node, key: str) -> tuple[int, ...]:
        return tuple(self.attr(node, key, AttrKind.LIST).i)

    def expect(self, node: Node, key: str, allowed: Sequence) -> None:
        value = self.attr(node, key)
        if value not in allowed:
            raise self.fail(node, f"{key}={value!r} is not implemented (only {list(allowed)})")

    def expect_float(self, node: Node, key: str = "T") -> None:
        if self.attr(node, key, AttrKind.TYPE) != DType.FLOAT:
            raise self.fail(node, f"{key}={self.attr(node, key)} is not implemented (float32 only)")

    def constant(self, node: Node, ref: str) -> np.ndarray:
        """The value of input `ref` of `node`, which must be a Const (through Identity)."""
        source = self.nodes.get(_split(ref)[0])
        while source is not None and source.op == "Identity":
            source = self.nodes.get(_split(_data_inputs(source)[0])[0])
        if source is None or source.op != "Const":
            raise self.fail(node, f"input {ref!r} must be a constant")
        tensor = self.attr(source, "value", AttrKind.TENSOR)
        if tensor.array is None:
            raise self.fail(source, f"constant of dtype {tensor.dtype} cannot be computed")
        return tensor.array

    def tensor(self, array: np.ndarray, channels_last: bool = False) -> torch.Tensor:
        out = torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        return out.contiguous(memory_format=torch.channels_last) if channels_last else out


# ---------------------------------------------------------------------------------------------
# One compiler per op. Each returns (data inputs the step reads, the step's function).


def _window(c: _Compiler, node: Node, key: str) -> tuple[int, int]:
    values = c.ints(node, key)
    if len(values) != 4 or values[0] != 1 or values[3] != 1:
        raise c.fail(node, f"{key}={list(values)} is not implemented (batch/channel must be 1)")
    return values[1], values[2]


def _padding(c: _Compiler, node: Node) -> bool:
    c.expect(node, "padding", [b"SAME", b"VALID"])
    c.expect(node, "data_format", [b"NHWC"])
    c.expect_float(node)
    return c.attr(node, "padding") == b"SAME"


def _conv_weight(c: _Compiler, node: Node) -> tuple[np.ndarray, tuple[int, int], bool]:
    same = _padding(c, node)
    dilations = node.attr.get("dilations")
    if dilations is not None and tuple(dilations.value.i) not in ((), (1, 1, 1, 1)):
        raise c.fail(node, f"dilations={list(dilations.value.i)} is not implemented")
    filt = c.constant(node, node.inputs[1])
    if filt.ndim != 4 or filt.dtype != np.float32:
        raise c.fail(node, f"filter of shape {list(filt.shape)} and dtype {filt.dtype}")
    return filt.transpose(3, 2, 0, 1), _window(c, node, "strides"), same


def _compile_conv2d(c: _Compiler, node: Node):
    weight, stride, same = _conv_weight(c, node)
    weight = c.tensor(weight, channels_last=True)
    return node.inputs[:1], lambda x: torch_ops.conv2d(x, weight, stride, same)


def _compile_pool(c: _Compiler, node: Node):
    same = _padding(c, node)
    kernel, stride = _window(c, node, "ksize"), _window(c, node, "strides")
    pool = torch_ops.max_pool if node.op == "MaxPool" else torch_ops.avg_pool
    return node.inputs[:1], lambda x: pool(x, kernel, stride, same)


def _bn_params(c: _Compiler, node: Node) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, scale, beta) of a BatchNormWithGlobalNormalization, in float32."""
    c.expect_float(node)
    eps = np.float32(c.attr(node, "variance_epsilon", AttrKind.F))
    mean, var, beta, gamma = (c.constant(node, ref) for ref in node.inputs[1:5])
    scale = np.float32(1) / np.sqrt(var.astype(np.float32) + eps)
    if c.attr(node, "scale_after_normalization", AttrKind.B):
        scale = scale * gamma
    return mean, scale.astype(np.float32), beta


def _compile_batchnorm(c: _Compiler, node: Node):
    mean, scale, beta = (c.tensor(v) for v in _bn_params(c, node))
    return node.inputs[:1], lambda x: torch_ops.batch_norm_global(x, mean, scale, beta)


def _compile_concat(c: _Compiler, node: Node):
    data = _data_inputs(node)
    axis_ref, parts = (data[0], data[1:]) if node.op == "Concat" else (data[-1], data[:-1])
    axis = int(c.constant(node, axis_ref))
    return tuple(parts), lambda *xs: torch.cat(xs, dim=axis)


def _compile_resize(c: _Compiler, node: Node):
    for key in ("align_corners", "half_pixel_centers"):
        c.expect(node, key, [False])
    height, width = (int(v) for v in c.constant(node, node.inputs[1]))

    def run(x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float32:
            raise c.fail(node, f"input of dtype {x.dtype} (only float32 is implemented)")
        return torch_ops.resize_bilinear_tf1(x, height, width)

    return node.inputs[:1], run


def _compile_elementwise(c: _Compiler, node: Node):
    c.expect_float(node)
    if node.op in ("Sub", "Mul"):
        return tuple(_data_inputs(node)[:2]), torch.sub if node.op == "Sub" else torch.mul
    if node.op == "Relu":
        return node.inputs[:1], torch.relu
    return node.inputs[:1], lambda x: torch.softmax(x, dim=-1)


def _compile_bias_add(c: _Compiler, node: Node):
    c.expect_float(node)
    c.expect(node, "data_format", [b"NHWC"])
    return tuple(_data_inputs(node)[:2]), torch.add


def _compile_matmul(c: _Compiler, node: Node):
    c.expect_float(node)
    ta = c.attr(node, "transpose_a", AttrKind.B)
    tb = c.attr(node, "transpose_b", AttrKind.B)
    return tuple(_data_inputs(node)[:2]), lambda a, b: (a.T if ta else a) @ (b.T if tb else b)


def _compile_reshape(c: _Compiler, node: Node):
    shape = tuple(int(v) for v in c.constant(node, node.inputs[1]))

    def run(x: torch.Tensor) -> torch.Tensor:
        try:
            return x.reshape(shape)
        except RuntimeError:
            raise c.fail(node, f"cannot reshape {list(x.shape)} to {list(shape)}") from None

    return node.inputs[:1], run


def _compile_expand_dims(c: _Compiler, node: Node):
    dim = int(c.constant(node, node.inputs[1]))
    return node.inputs[:1], lambda x: x.unsqueeze(dim if dim >= 0 else x.dim() + 1 + dim)


def _compile_cast(c: _Compiler, node: Node):
    target = c.attr(node, "DstT", AttrKind.TYPE)
    if target not in _TORCH_DTYPES or c.attr(node, "Truncate", AttrKind.B):
        raise c.fail(node, f"cast to dtype {target} is not implemented")
    dtype = _TORCH_DTYPES[DType(target)]
    return node.inputs[:1], lambda x: x.to(dtype)


def _compile_identity(c: _Compiler, node: Node):
    return tuple(_data_inputs(node)[:1]), lambda x: x


_COMPILERS = {
    "Conv2D": _compile_conv2d,
    "MaxPool": _compile_pool,
    "AvgPool": _compile_pool,
    "BatchNormWithGlobalNormalization": _compile_batchnorm,
    "Concat": _compile_concat,
    "ConcatV2": _compile_concat,
    "ResizeBilinear": _compile_resize,
    "Sub": _compile_elementwise,
    "Mul": _compile_elementwise,
    "Relu": _compile_elementwise,
    "Softmax": _compile_elementwise,
    "BiasAdd": _compile_bias_add,
    "MatMul": _compile_matmul,
    "Reshape": _compile_reshape,
    "ExpandDims": _compile_expand_dims,
    "Cast": _compile_cast,
    "Identity": _compile_identity,
    "CheckNumerics": _compile_identity,
}


# ---------------------------------------------------------------------------------------------
# The runner


def _needed(nodes: dict[str, Node], outputs: Sequence[str], feed: str | None) -> list[str]:
    """Names of the nodes the outputs need, each after its data inputs (the feed is a leaf)."""
    order: list[str] = []
    seen: set[str] = set()
    for out in outputs:
        stack = [(_split(out)[0], False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                order.append(name)
                continue
            if name in seen:
                continue
            seen.add(name)
            if name not in nodes:
                raise InputError(f"the graph has no node {name!r}", hint=_HINT)
            stack.append((name, True))
            if name != feed:
                node = nodes[name]
                stack.extend((_split(ref)[0], False) for ref in _data_inputs(node))
    return order


def _readers(nodes: dict[str, Node], order: list[str], feed: str | None) -> dict[str, list[str]]:
    readers: dict[str, list[str]] = {name: [] for name in order}
    for name in order:
        if name == feed:
            continue
        for ref in _data_inputs(nodes[name]):
            readers[_split(ref)[0]].append(name)
    return readers


class GraphRunner:
    """Runs the part of `graph` that `outputs` need, fed at `feed` (a tensor name).

    Args:
        graph: a parsed GraphDef (`fcdmbench.evaluation.inception.graphdef.read_graph`).
        outputs: tensor names (``"pool_3:0"``); every op must have a single output.
        feed: the tensor the caller provides (``"ExpandDims:0"``); its node's inputs never run.
        device: torch device for weights and activations.
        fuse: run Conv2D + batch norm + ReLU chains as one in-place step (same arithmetic).
        fold_batchnorm: with `fuse`, fold each batch norm into its convolution's filter and bias
            and fuse the ReLU into the convolution: faster, but rounds differently from
            TensorFlow (docs/evaluation.md, "Torch backend: validation").

    Raises:
        InputError: a missing node; `UnsupportedGraphError`: an op or attribute not implemented.
    """

    def __init__(
        self,
        graph: Graph,
        outputs: Sequence[str],
        feed: str | None = "ExpandDims:0",
        device: str | torch.device = "cpu",
        fuse: bool = True,
        fold_batchnorm: bool = False,
    ) -> None:
        self.device = torch.device(device)
        nodes = graph.by_name()
        self._feed = _split(feed)[0] if feed else None
        for ref in [*outputs, *([feed] if feed else [])]:
            if _split(ref)[1] != 0:
                raise InputError(f"tensor {ref!r}: only output 0 of an op is implemented", _HINT)
        self._outputs = [_split(ref)[0] for ref in outputs]
        order = _needed(nodes, self._outputs, self._feed)
        compiler = _Compiler(nodes, self.device)
        self._constants: dict[str, torch.Tensor] = {}
        self._steps = self._compile(compiler, nodes, order, fuse, fold_batchnorm)
        self._last_use = self._lifetimes()

    def _compile(self, c: _Compiler, nodes, order: list[str], fuse: bool, fold: bool):
        readers = _readers(nodes, order, self._feed)
        fused = _fusable(nodes, order, readers, set(self._outputs)) if fuse else {}
        skipped = {name for chain in fused.values() for name in chain[:-1]}
        steps = []
        for name in order:
            node = nodes[name]
            if name == self._feed or name in skipped:
                continue
            if node.op == "Const":
                self._constants[name] = self._constant_tensor(c, node)
            elif name in fused:
                steps.append(_fused_step(c, [nodes[n] for n in fused[name]], fold))
            elif node.op in _COMPILERS:
                inputs, run = _COMPILERS[node.op](c, node)
                steps.append(_Step(name, tuple(_split(r)[0] for r in inputs), run))
            else:
                raise c.fail(node, "op is not implemented")
        return steps

    @staticmethod
    def _constant_tensor(c: _Compiler, node: Node) -> torch.Tensor:
        tensor = c.attr(node, "value", AttrKind.TENSOR)
        if tensor.array is None:
            return torch.empty(0)  # string constant: parsed, never computed
        return c.tensor(tensor.array)

    def _lifetimes(self) -> dict[str, int]:
        last: dict[str, int] = {}
        for index, step in enumerate(self._steps):
            for name in step.inputs:
                last[name] = index
        return last

    def __call__(self, fed: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The outputs, in order, for `fed` (the feed tensor's value)."""
        values: dict[str, torch.Tensor] = dict(self._constants)
        keep = set(self._outputs) | set(self._constants)
        if self._feed is not None:
            if fed is None:
                raise ValueError("this graph is fed: pass the feed tensor")
            values[self._feed] = fed.to(self.device)
        with torch.inference_mode():
            for index, step in enumerate(self._steps):
                values[step.name] = step.run(*(values[name] for name in step.inputs))
                for name in set(step.inputs):
                    if self._last_use[name] == index and name not in keep:
                        del values[name]
        return [values[name] for name in self._outputs]


# ---------------------------------------------------------------------------------------------
# Conv2D -> BatchNorm -> [CheckNumerics] -> Identity -> Relu, as one step


def _only_reader(readers: dict[str, list[str]], name: str, op: str, nodes) -> str | None:
    """The single reader of `name` when it is an `op` node, else None."""
    found = readers.get(name, [])
    return found[0] if len(found) == 1 and nodes[found[0]].op == op else None


def _fusable(nodes, order, readers, outputs: set[str]) -> dict[str, list[str]]:
    """Relu name -> its [Conv2D, BatchNorm, Identity?, Relu] chain, each read only by the next.

    ``CheckNumerics`` nodes, read only as ``^control`` inputs, are not part of the data path.
    """
    chains = {}
    for name in order:
        if nodes[name].op != "Conv2D" or name in outputs:
            continue
        bn = _only_reader(readers, name, "BatchNormWithGlobalNormalization", nodes)
        if bn is None or bn in outputs:
            continue
        chain, current = [name, bn], bn
        identity = _only_reader(readers, bn, "Identity", nodes)
        if identity is not None and identity not in outputs:
            chain.append(identity)
            current = identity
        relu = _only_reader(readers, current, "Relu", nodes)
        if relu is not None:
            chains[relu] = [*chain, relu]
    return chains


def _fused_step(c: _Compiler, chain: list[Node], fold: bool) -> _Step:
    """One step for a chain; `fold` scales the filter by the batch norm instead (not exact)."""
    conv, bn, relu = chain[0], chain[1], chain[-1]
    for node in chain[2:]:
        if node.op == "Relu":
            c.expect_float(node)
    weight, stride, same = _conv_weight(c, conv)
    mean, scale, beta = _bn_params(c, bn)
    if fold:
        folded = c.tensor(weight * scale[:, None, None, None], channels_last=True)
        run = torch_ops.ConvReluCPU(folded, c.tensor(beta - mean * scale), stride, same)

    else:
        weight = c.tensor(weight, channels_last=True)
        mean, scale, beta = c.tensor(mean), c.tensor(scale), c.tensor(beta)

        def run(x: torch.Tensor) -> torch.Tensor:
            y = torch_ops.conv2d(x, weight, stride, same)
            return torch_ops.batch_norm_global(y, mean, scale, beta, inplace=True).relu_()

    return _Step(relu.name, (_split(conv.inputs[0])[0],), run)
