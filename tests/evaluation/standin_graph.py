"""A stand-in for ADM's ``classify_image_graph_def.pb``: the 2015 topology, random weights.

`write_inception_2015_graph` writes a GraphDef (``versions.producer`` 8, the op set of 2015:
``BatchNormWithGlobalNormalization``, old ``Concat``) with the real graph's tensor names and
layer shapes, so that TensorFlow can run it exactly as ADM's evaluator runs the real file
(``import_graph_def`` with ``input_map`` at ``ExpandDims:0``; outputs ``pool_3:0``,
``mixed_6/conv:0``, ``softmax/logits/MatMul``) and the torch interpreter can be compared with it
without the 92 MB download. No TensorFlow is needed to write it: `encode_graph` writes the
GraphDef messages that `fcdmbench.evaluation.inception.graphdef` reads (tensors as
``tensor_content``).

Test support (tests and benchmarks/ import it; the package does not ship it).

The topology follows public descriptions of the 2015 graph (its node names as scripts that
convert its weights read them; the block structure of pytorch-fid's ``FIDInception*`` blocks):
each convolution is ``P/conv2d_params`` -> ``P/Conv2D`` -> ``P/batchnorm`` (gamma, beta, moving
mean and variance, epsilon 0.001) -> ``P/CheckNumerics`` + ``P/control_dependency`` -> ``P``
(ReLU); ``mixed``..``mixed_10`` join their towers with ``Concat`` on axis 3; average pools in
towers exclude padding; ``mixed_10``'s pool tower max-pools. Names of the few nodes no public
source lists (concat axes, the inner joins of ``mixed_9``/``mixed_10``) are this module's guess.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from fcdmbench.evaluation.inception.graphdef import (
    _NUMPY,
    Attr,
    AttrKind,
    AttrList,
    DType,
    Graph,
    Node,
    Tensor,
)

__all__ = ["build_inception_2015_graph", "encode_graph", "write_inception_2015_graph"]

# ---------------------------------------------------------------------------------------------
# The GraphDef writer (the package only reads graphs)


def _put_varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _put_varint(number << 3 | wire)


def _bytes_field(number: int, data: bytes) -> bytes:
    return _key(number, 2) + _put_varint(len(data)) + data


def _int_field(number: int, value: int) -> bytes:
    return _key(number, 0) + _put_varint(value)


def _packed(number: int, values) -> bytes:
    return _bytes_field(number, b"".join(_put_varint(int(v)) for v in values)) if values else b""


def _encode_shape(shape: tuple[int, ...] | None) -> bytes:
    if shape is None:
        return _int_field(3, 1)
    return b"".join(_bytes_field(2, _int_field(1, d)) for d in shape)


def _encode_tensor(tensor: Tensor) -> bytes:
    out = _int_field(1, tensor.dtype) + _bytes_field(2, _encode_shape(tensor.shape))
    if tensor.dtype == DType.STRING:
        return out + b"".join(_bytes_field(8, s) for s in tensor.strings)
    array = np.ascontiguousarray(tensor.array, _NUMPY[DType(tensor.dtype)])
    return out + _bytes_field(4, array.tobytes())


def _encode_attr(attr: Attr) -> bytes:
    kind, value = attr.kind, attr.value
    if kind is AttrKind.S:
        return _bytes_field(2, value)
    if kind is AttrKind.I:
        return _int_field(3, value)
    if kind is AttrKind.F:
        return _key(4, 5) + struct.pack("<f", value)
    if kind is AttrKind.B:
        return _int_field(5, int(value))
    if kind is AttrKind.TYPE:
        return _int_field(6, value)
    if kind is AttrKind.SHAPE:
        return _bytes_field(7, _encode_shape(value))
    if kind is AttrKind.TENSOR:
        return _bytes_field(8, _encode_tensor(value))
    lst: AttrList = value
    body = b"".join(_bytes_field(2, s) for s in lst.s) + _packed(3, lst.i)
    body += _bytes_field(4, struct.pack(f"<{len(lst.f)}f", *lst.f)) if lst.f else b""
    body += _packed(5, lst.b) + _packed(6, lst.type)
    body += b"".join(_bytes_field(7, _encode_shape(s)) for s in lst.shape)
    body += b"".join(_bytes_field(8, _encode_tensor(t)) for t in lst.tensor)
    return _bytes_field(1, body)


def _encode_node(node: Node) -> bytes:
    out = _bytes_field(1, node.name.encode()) + _bytes_field(2, node.op.encode())
    out += b"".join(_bytes_field(3, name.encode()) for name in node.inputs)
    out += _bytes_field(4, node.device.encode()) if node.device else b""
    for key in sorted(node.attr):
        entry = _bytes_field(1, key.encode()) + _bytes_field(2, _encode_attr(node.attr[key]))
        out += _bytes_field(5, entry)
    return out


def encode_graph(graph: Graph) -> bytes:
    """GraphDef bytes of `graph` (``versions.producer`` = ``graph.producer``)."""
    body = b"".join(_bytes_field(1, _encode_node(node)) for node in graph.nodes)
    return body + _bytes_field(4, _int_field(1, graph.producer))


PRODUCER = 8
_FLOAT = Attr(AttrKind.TYPE, DType.FLOAT)


def _ints(*values: int) -> Attr:
    return Attr(AttrKind.LIST, AttrList(i=tuple(values)))


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[Node] = []

    def add(self, name: str, op: str, inputs=(), **attr: Attr) -> str:
        self.nodes.append(Node(name, op, tuple(inputs), "", dict(attr)))
        return name

    def const(self, name: str, array: np.ndarray) -> str:
        dtype = DType.FLOAT if array.dtype == np.float32 else DType.INT32
        tensor = Tensor(dtype, tuple(array.shape), array)
        value = Attr(AttrKind.TENSOR, tensor)
        return self.add(name, "Const", dtype=Attr(AttrKind.TYPE, dtype), value=value)

    def conv(self, name, x, cin, cout, kernel, stride=1, padding="SAME") -> str:
        """A 2015 conv block; returns the name of its ReLU (= `name`)."""
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        std = np.float32(np.sqrt(2.0 / (kh * kw * cin)))
        w = self.rng.standard_normal((kh, kw, cin, cout), dtype=np.float32) * std
        params = self.const(f"{name}/conv2d_params", w)
        conv = self.add(
            f"{name}/Conv2D",
            "Conv2D",
            [x, params],
            T=_FLOAT,
            strides=_ints(1, stride, stride, 1),
            padding=Attr(AttrKind.S, padding.encode()),
            use_cudnn_on_gpu=Attr(AttrKind.B, True),
        )
        bn = f"{name}/batchnorm"
        stats = {
            "beta": self.rng.normal(0.0, 0.1, cout),
            "gamma": self.rng.uniform(0.5, 1.5, cout),
            "moving_mean": self.rng.normal(0.0, 0.1, cout),
            "moving_variance": self.rng.uniform(0.5, 1.5, cout),
        }
        refs = {k: self.const(f"{bn}/{k}", v.astype(np.float32)) for k, v in stats.items()}
        order = ("moving_mean", "moving_variance", "beta", "gamma")
        self.add(
            bn,
            "BatchNormWithGlobalNormalization",
            [conv, *(refs[k] for k in order)],
            T=_FLOAT,
            variance_epsilon=Attr(AttrKind.F, 0.001),
            scale_after_normalization=Attr(AttrKind.B, True),
        )
        check = self.add(
            f"{name}/CheckNumerics", "CheckNumerics", [bn], T=_FLOAT, message=Attr(AttrKind.S, b"")
        )
        dep = self.add(f"{name}/control_dependency", "Identity", [bn, f"^{check}"], T=_FLOAT)
        return self.add(name, "Relu", [dep], T=_FLOAT)

    def pool(self, name, x, op, kernel, stride, padding) -> str:
        return self.add(
            name,
            op,
            [x],
            T=_FLOAT,
            ksize=_ints(1, kernel, kernel, 1),
            strides=_ints(1, stride, stride, 1),
            padding=Attr(AttrKind.S, padding.encode()),
        )

    def concat(self, name, parts) -> str:
        axis = self.const(f"{name}/concat_dim", np.array(3, np.int32))
        n = Attr(AttrKind.I, len(parts))
        return self.add(name, "Concat", [axis, *parts], N=n, T=_FLOAT)


def _stem(b: _Builder) -> str:
    contents = Tensor(DType.STRING, (), None, (b"",))
    b.add(
        "DecodeJpeg/contents",
        "Const",
        dtype=Attr(AttrKind.TYPE, DType.STRING),
        value=Attr(AttrKind.TENSOR, contents),
    )
    b.add("DecodeJpeg", "DecodeJpeg", ["DecodeJpeg/contents"], channels=Attr(AttrKind.I, 3))
    b.add("Cast", "Cast", ["DecodeJpeg"], SrcT=Attr(AttrKind.TYPE, DType.UINT8), DstT=_FLOAT)
    dim = b.const("ExpandDims/dim", np.array(0, np.int32))
    b.add(
        "ExpandDims", "ExpandDims", ["Cast", dim], T=_FLOAT, Tdim=Attr(AttrKind.TYPE, DType.INT32)
    )
    size = b.const("ResizeBilinear/size", np.array([299, 299], np.int32))
    x = b.add(
        "ResizeBilinear",
        "ResizeBilinear",
        ["ExpandDims", size],
        T=_FLOAT,
        align_corners=Attr(AttrKind.B, False),
    )
    x = b.add("Sub", "Sub", [x, b.const("Sub/y", np.array(128.0, np.float32))], T=_FLOAT)
    x = b.add("Mul", "Mul", [x, b.const("Mul/y", np.array(1 / 128, np.float32))], T=_FLOAT)
    x = b.conv("conv", x, 3, 32, 3, 2, "VALID")
    x = b.conv("conv_1", x, 32, 32, 3, 1, "VALID")
    x = b.conv("conv_2", x, 32, 64, 3)
    x = b.pool("pool", x, "MaxPool", 3, 2, "VALID")
    x = b.conv("conv_3", x, 64, 80, 1, 1, "VALID")
    x = b.conv("conv_4", x, 80, 192, 3, 1, "VALID")
    return b.pool("pool_1", x, "MaxPool", 3, 2, "VALID")


def _mixed_35(b: _Builder, m: str, x: str, cin: int, pool_features: int) -> str:
    a = b.conv(f"{m}/conv", x, cin, 64, 1)
    t = b.conv(f"{m}/tower/conv", x, cin, 48, 1)
    t = b.conv(f"{m}/tower/conv_1", t, 48, 64, 5)
    t1 = b.conv(f"{m}/tower_1/conv", x, cin, 64, 1)
    t1 = b.conv(f"{m}/tower_1/conv_1", t1, 64, 96, 3)
    t1 = b.conv(f"{m}/tower_1/conv_2", t1, 96, 96, 3)
    p = b.pool(f"{m}/tower_2/pool", x, "AvgPool", 3, 1, "SAME")
    p = b.conv(f"{m}/tower_2/conv", p, cin, pool_features, 1)
    return b.concat(f"{m}/join", [a, t, t1, p])


def _mixed_17(b: _Builder, m: str, x: str, c7: int) -> str:
    a = b.conv(f"{m}/conv", x, 768, 192, 1)
    t = b.conv(f"{m}/tower/conv", x, 768, c7, 1)
    t = b.conv(f"{m}/tower/conv_1", t, c7, c7, (1, 7))
    t = b.conv(f"{m}/tower/conv_2", t, c7, 192, (7, 1))
    t1 = b.conv(f"{m}/tower_1/conv", x, 768, c7, 1)
    t1 = b.conv(f"{m}/tower_1/conv_1", t1, c7, c7, (7, 1))
    t1 = b.conv(f"{m}/tower_1/conv_2", t1, c7, c7, (1, 7))
    t1 = b.conv(f"{m}/tower_1/conv_3", t1, c7, c7, (7, 1))
    t1 = b.conv(f"{m}/tower_1/conv_4", t1, c7, 192, (1, 7))
    p = b.pool(f"{m}/tower_2/pool", x, "AvgPool", 3, 1, "SAME")
    p = b.conv(f"{m}/tower_2/conv", p, 768, 192, 1)
    return b.concat(f"{m}/join", [a, t, t1, p])


def _mixed_8(b: _Builder, m: str, x: str, cin: int, pool_op: str) -> str:
    a = b.conv(f"{m}/conv", x, cin, 320, 1)
    t = b.conv(f"{m}/tower/conv", x, cin, 384, 1)
    t = b.concat(
        f"{m}/tower/join",
        [
            b.conv(f"{m}/tower/mixed/conv", t, 384, 384, (1, 3)),
            b.conv(f"{m}/tower/mixed/conv_1", t, 384, 384, (3, 1)),
        ],
    )
    t1 = b.conv(f"{m}/tower_1/conv", x, cin, 448, 1)
    t1 = b.conv(f"{m}/tower_1/conv_1", t1, 448, 384, 3)
    t1 = b.concat(
        f"{m}/tower_1/join",
        [
            b.conv(f"{m}/tower_1/mixed/conv", t1, 384, 384, (1, 3)),
            b.conv(f"{m}/tower_1/mixed/conv_1", t1, 384, 384, (3, 1)),
        ],
    )
    p = b.pool(f"{m}/tower_2/pool", x, pool_op, 3, 1, "SAME")
    p = b.conv(f"{m}/tower_2/conv", p, cin, 192, 1)
    return b.concat(f"{m}/join", [a, t, t1, p])


def _reductions(b: _Builder, x: str) -> str:
    a = b.conv("mixed_3/conv", x, 288, 384, 3, 2, "VALID")
    t = b.conv("mixed_3/tower/conv", x, 288, 64, 1)
    t = b.conv("mixed_3/tower/conv_1", t, 64, 96, 3)
    t = b.conv("mixed_3/tower/conv_2", t, 96, 96, 3, 2, "VALID")
    p = b.pool("mixed_3/pool", x, "MaxPool", 3, 2, "VALID")
    x = b.concat("mixed_3/join", [a, t, p])
    for m, c7 in (("mixed_4", 128), ("mixed_5", 160), ("mixed_6", 160), ("mixed_7", 192)):
        x = _mixed_17(b, m, x, c7)
    t = b.conv("mixed_8/tower/conv", x, 768, 192, 1)
    t = b.conv("mixed_8/tower/conv_1", t, 192, 320, 3, 2, "VALID")
    t1 = b.conv("mixed_8/tower_1/conv", x, 768, 192, 1)
    t1 = b.conv("mixed_8/tower_1/conv_1", t1, 192, 192, (1, 7))
    t1 = b.conv("mixed_8/tower_1/conv_2", t1, 192, 192, (7, 1))
    t1 = b.conv("mixed_8/tower_1/conv_3", t1, 192, 192, 3, 2, "VALID")
    p = b.pool("mixed_8/pool", x, "MaxPool", 3, 2, "VALID")
    return b.concat("mixed_8/join", [t, t1, p])


def _head(b: _Builder, x: str) -> None:
    x = b.pool("pool_3", x, "AvgPool", 8, 1, "VALID")
    shape = b.const("pool_3/_reshape/shape", np.array([1, 2048], np.int32))
    x = b.add(
        "pool_3/_reshape", "Reshape", [x, shape], T=_FLOAT, Tshape=Attr(AttrKind.TYPE, DType.INT32)
    )
    weights = b.rng.standard_normal((2048, 1008), dtype=np.float32) / np.float32(np.sqrt(2048))
    w = b.const("softmax/weights", weights)
    bias = b.const("softmax/biases", b.rng.normal(0.0, 0.1, 1008).astype(np.float32))
    x = b.add(
        "softmax/logits/MatMul",
        "MatMul",
        [x, w],
        T=_FLOAT,
        transpose_a=Attr(AttrKind.B, False),
        transpose_b=Attr(AttrKind.B, False),
    )
    x = b.add("softmax/logits", "BiasAdd", [x, bias], T=_FLOAT)
    b.add("softmax", "Softmax", [x], T=_FLOAT)


def build_inception_2015_graph(seed: int = 0) -> Graph:
    """The stand-in graph with random weights drawn from `seed` (see the module docstring)."""
    b = _Builder(seed)
    x = _stem(b)
    x = _mixed_35(b, "mixed", x, 192, 32)
    x = _mixed_35(b, "mixed_1", x, 256, 64)
    x = _mixed_35(b, "mixed_2", x, 288, 64)
    x = _reductions(b, x)
    x = _mixed_8(b, "mixed_9", x, 1280, "AvgPool")
    x = _mixed_8(b, "mixed_10", x, 2048, "MaxPool")
    _head(b, x)
    return Graph(tuple(b.nodes), PRODUCER)


def write_inception_2015_graph(path: str | Path, seed: int = 0) -> Path:
    """Write the stand-in graph (about 95 MB, like the real file) to `path`; returns `path`."""
    path = Path(path)
    path.write_bytes(encode_graph(build_inception_2015_graph(seed)))
    return path
