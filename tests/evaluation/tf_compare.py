"""Run one GraphDef in TensorFlow (as ADM imports a graph) and in the torch interpreter.

Shared by `test_torch_graph.py` and `benchmarks/spread_torch_inception.py` (which measures the
spread the tests' tolerances come from). Each op case is a tiny GraphDef written with
`fcdmbench.evaluation.inception.graphdef` (``versions.producer`` 8, so TensorFlow accepts the 2015
ops), fed at a placeholder ``x`` with random data at the real graph's shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from standin_graph import _FLOAT, _Builder, encode_graph

from fcdmbench.evaluation.inception.graphdef import Attr, AttrKind, DType, Graph
from fcdmbench.evaluation.inception.torch_graph import GraphRunner


@dataclass(frozen=True, slots=True)
class OpCase:
    """One op at one shape: `build` adds nodes reading ``x`` and returns the output's name."""

    name: str
    shape: tuple[int, ...]
    build: object
    dtype: str = "float32"


def _conv(h, w, k, s, pad, cin=32, cout=48, block=False):
    """Conv2D alone, or (`block`) the 2015 conv block: Conv2D, batch norm, checks, ReLU."""

    def build(b: _Builder) -> str:
        relu = b.conv("c", "x", cin, cout, k, s, pad)
        return relu if block else f"{relu}/Conv2D"

    kind = "ConvBlock" if block else "Conv2D"
    return OpCase(f"{kind}-{h}x{w}-k{k}-s{s}-{pad}", (2, h, w, cin), build)


def _bn(scale_after: bool):
    def build(b: _Builder) -> str:
        rng = b.rng
        for key, v in {
            "m": rng.normal(0, 1, 64),
            "v": rng.uniform(0.01, 3, 64),
            "beta": rng.normal(0, 1, 64),
            "gamma": rng.uniform(0.5, 1.5, 64),
        }.items():
            b.const(key, v.astype(np.float32))
        return b.add(
            "bn",
            "BatchNormWithGlobalNormalization",
            ["x", "m", "v", "beta", "gamma"],
            T=_FLOAT,
            variance_epsilon=Attr(AttrKind.F, 0.001),
            scale_after_normalization=Attr(AttrKind.B, scale_after),
        )

    return OpCase(f"BatchNorm-scale{int(scale_after)}", (2, 17, 17, 64), build)


def _pool(op, h, w, k, s, pad):
    return OpCase(
        f"{op}-{h}x{w}-k{k}-s{s}-{pad}", (2, h, w, 32), lambda b: b.pool("p", "x", op, k, s, pad)
    )


def _resize(h, w):
    def build(b: _Builder) -> str:
        size = b.const("size", np.array([299, 299], np.int32))
        return b.add(
            "r", "ResizeBilinear", ["x", size], T=_FLOAT, align_corners=Attr(AttrKind.B, False)
        )

    return OpCase(f"ResizeBilinear-{h}x{w}", (2, h, w, 3), build, "uint8-as-float")


def _elementwise(op):
    def build(b: _Builder) -> str:
        y = b.const("y", np.array(128.0 if op == "Sub" else 1 / 128, np.float32))
        return b.add("e", op, ["x", y], T=_FLOAT)

    return OpCase(op, (2, 35, 35, 3), build)


def _concat(op):
    def build(b: _Builder) -> str:
        axis = b.const("axis", np.array(3, np.int32))
        r = b.add("r", "Relu", ["x"], T=_FLOAT)
        parts = ["x", r, "x"]
        inputs = [axis, *parts] if op == "Concat" else [*parts, axis]
        return b.add("j", op, inputs, N=Attr(AttrKind.I, 3), T=_FLOAT)

    return OpCase(op, (2, 8, 8, 16), build)


def _identity_chain():
    def build(b: _Builder) -> str:
        check = b.add("chk", "CheckNumerics", ["x"], T=_FLOAT, message=Attr(AttrKind.S, b""))
        dep = b.add("dep", "Identity", ["x", f"^{check}"], T=_FLOAT)
        return b.add("relu", "Relu", [dep], T=_FLOAT)

    return OpCase("CheckNumerics-Identity-Relu", (2, 17, 17, 8), build)


def _head(transpose_b: bool):
    def build(b: _Builder) -> str:
        shape = b.const("shape", np.array([-1, 2048], np.int32))
        x = b.add("flat", "Reshape", ["x", shape], T=_FLOAT, Tshape=Attr(AttrKind.TYPE, 3))
        w = b.rng.standard_normal((1008, 2048) if transpose_b else (2048, 1008)) / 45
        w = b.const("w", w.astype(np.float32))
        bias = b.const("bias", b.rng.normal(0, 0.1, 1008).astype(np.float32))
        x = b.add("mm", "MatMul", [x, w], T=_FLOAT, transpose_b=Attr(AttrKind.B, transpose_b))
        x = b.add("logits", "BiasAdd", [x, bias], T=_FLOAT)
        return b.add("softmax", "Softmax", [x], T=_FLOAT)

    return OpCase(f"Reshape-MatMul-BiasAdd-Softmax-tb{int(transpose_b)}", (64, 1, 1, 2048), build)


def _cast_expand():
    def build(b: _Builder) -> str:
        x = b.add("cast", "Cast", ["x"], SrcT=Attr(AttrKind.TYPE, DType.UINT8), DstT=_FLOAT)
        dim = b.const("dim", np.array(0, np.int32))
        return b.add("ed", "ExpandDims", [x, dim], T=_FLOAT, Tdim=Attr(AttrKind.TYPE, 3))

    return OpCase("Cast-ExpandDims", (37, 53, 3), build, "uint8")


OP_CASES = [
    _conv(299, 299, 3, 2, "VALID", 3, 32),
    _conv(147, 147, 3, 1, "SAME", 32, 64),
    _conv(35, 35, 5, 1, "SAME", 48, 64),
    _conv(35, 35, 3, 2, "VALID", 96, 96),
    _conv(17, 17, (1, 7), 1, "SAME", 128, 128),
    _conv(17, 17, (7, 1), 1, "SAME", 128, 192),
    _conv(8, 8, (1, 3), 1, "SAME", 384, 384),
    _conv(8, 8, 1, 1, "SAME", 2048, 320),
    _conv(37, 53, 3, 2, "SAME"),
    _conv(38, 54, 3, 2, "SAME"),
    _conv(35, 35, 3, 1, "SAME", 64, 96, block=True),
    _conv(17, 17, 3, 2, "VALID", 192, 320, block=True),
    _bn(True),
    _bn(False),
    _pool("MaxPool", 147, 147, 3, 2, "VALID"),
    _pool("MaxPool", 8, 8, 3, 1, "SAME"),
    _pool("MaxPool", 37, 53, 3, 2, "SAME"),
    _pool("AvgPool", 35, 35, 3, 1, "SAME"),
    _pool("AvgPool", 17, 17, 3, 1, "SAME"),
    _pool("AvgPool", 8, 8, 8, 1, "VALID"),
    _pool("AvgPool", 37, 53, 3, 2, "SAME"),
    _pool("AvgPool", 38, 54, 2, 2, "SAME"),
    *(_resize(h, w) for h, w in ((16, 16), (37, 53), (64, 64), (256, 256), (299, 299), (512, 512))),
    _elementwise("Sub"),
    _elementwise("Mul"),
    _concat("Concat"),
    _concat("ConcatV2"),
    _identity_chain(),
    _head(False),
    _head(True),
    _cast_expand(),
]


def case_graph(case: OpCase, seed: int) -> tuple[Graph, str, np.ndarray]:
    """The case's graph, its output tensor name and a random input."""
    b = _Builder(seed)
    dtype = DType.UINT8 if case.dtype == "uint8" else DType.FLOAT
    b.add("x", "Placeholder", dtype=Attr(AttrKind.TYPE, dtype))
    out = case.build(b)
    rng = np.random.default_rng(seed + 1000)
    if case.dtype == "float32":
        x = rng.standard_normal(case.shape).astype(np.float32)
    else:
        x = rng.integers(0, 256, case.shape, dtype=np.uint8)
        x = x if case.dtype == "uint8" else x.astype(np.float32)
    return Graph(tuple(b.nodes), 8), f"{out}:0", x


def run_tensorflow(graph: Graph, outputs: list[str], feeds: dict[str, np.ndarray]) -> list:
    """`outputs` of `graph` computed by TensorFlow (import_graph_def, a v1 Session)."""
    from fcdmbench.evaluation.inception.tf_inception import import_tensorflow

    tf = import_tensorflow("the comparison")
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(encode_graph(graph))
    with tf.Graph().as_default():
        tensors = tf.import_graph_def(graph_def, return_elements=outputs, name="")
        with tf.compat.v1.Session() as session:
            return session.run(tensors, feeds)


def op_difference(case: OpCase, seed: int) -> tuple[float, float]:
    """(max abs difference, max abs difference / max |TF|) of torch against TensorFlow."""
    graph, out, x = case_graph(case, seed)
    (expected,) = run_tensorflow(graph, [out], {"x:0": x})
    (got,) = GraphRunner(graph, [out], "x:0")(torch.from_numpy(x))
    got = got.numpy()
    assert got.shape == expected.shape and got.dtype == expected.dtype, (got.shape, expected.shape)
    diff = float(np.abs(got.astype(np.float64) - expected).max())
    return diff, diff / max(float(np.abs(expected).max()), 1e-30)
