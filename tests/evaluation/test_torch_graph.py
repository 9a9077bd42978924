"""The torch backend of ADM's Inception graph: GraphDef reader/writer, interpreter, extractor.

Layers:
- the wire-format reader against TensorFlow's own protobuf (both directions), and its errors;
- every op of the 2015 graph against TensorFlow's kernels at the real graph's shapes
  (`tf_compare.OP_CASES`), within tolerances set from the measured spread
  (`benchmarks/spread_torch_inception.py`; docs/evaluation.md, "Torch backend: validation");
- the whole stand-in graph (real topology, random weights) against `InceptionExtractor` (slow);
- the extractor's interface, errors, and that TensorFlow is never imported.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from standin_graph import (
    _FLOAT,
    _Builder,
    build_inception_2015_graph,
    encode_graph,
    write_inception_2015_graph,
)
from tf_compare import OP_CASES, case_graph, op_difference

from fcdmbench.errors import InputError
from fcdmbench.evaluation.inception.graphdef import (
    Attr,
    AttrKind,
    Graph,
    Node,
    parse_graph,
    read_graph,
)
from fcdmbench.evaluation.inception.torch_graph import GraphRunner, UnsupportedGraphError
from fcdmbench.evaluation.inception.torch_inception import (
    TORCH_EXTRACTOR_VERSION,
    TorchInceptionExtractor,
)

#: Max |torch - TF| / max |TF| per op kind. Measured spread (3 seeds, ATEN_CPU_CAPABILITY
#: default/avx2/avx512; docs/evaluation.md, "Torch backend: validation"): 0 for Conv2D, pools,
#: ResizeBilinear, Sub, Mul, Concat, Cast; batch norm <= 9.0e-8 and the conv block <= 2.1e-7
#: (TensorFlow's approximate rsqrt); the classifier head (MatMul over 2048, softmax) <= 2.1e-6.
#: Tolerances: about 10x the largest measured value, and 1e-6 where torch and TensorFlow agreed
#: bit for bit (a one-ulp change on another CPU still passes).
OP_TOLERANCE = {"BatchNorm": 2e-6, "ConvBlock": 2e-6, "Reshape-MatMul": 2e-5}
EXACT_TOLERANCE = 1e-6
#: Whole stand-in graph, relative to max |TF|: measured <= 5.0e-6 (spatial; pool <= 1.2e-6,
#: probs <= 3.8e-6), folded or not; 6x margin.
GRAPH_TOLERANCE = 3e-5


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return write_inception_2015_graph(tmp_path_factory.mktemp("standin") / "graph.pb", seed=0)


@pytest.fixture(scope="module")
def torch_extractor(standin):
    return TorchInceptionExtractor(standin, batch_size=4)


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# --- GraphDef reader and writer ---------------------------------------------------------------


@pytest.fixture(scope="module")
def built():
    return build_inception_2015_graph(seed=1)


def test_writer_and_reader_round_trip_every_attribute_kind(built):
    graph = built
    again = parse_graph(encode_graph(graph))
    assert again.producer == 8 and len(again.nodes) == len(graph.nodes)
    for a, b in zip(graph.nodes, again.nodes, strict=True):
        assert (a.name, a.op, a.inputs, sorted(a.attr)) == (b.name, b.op, b.inputs, sorted(b.attr))
        for key, attr in a.attr.items():
            if attr.kind is AttrKind.TENSOR and attr.value.array is not None:
                np.testing.assert_array_equal(attr.value.array, b.attr[key].value.array)
            elif attr.kind is AttrKind.F:  # stored as float32
                assert np.float32(attr.value) == np.float32(b.attr[key].value)
            else:
                assert attr == b.attr[key], (a.name, key)


def test_reader_agrees_with_tensorflow_protobuf():
    tf = pytest.importorskip("tensorflow")
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 8, 8, 3], name="x")
        w = np.arange(3 * 3 * 3 * 4, dtype=np.float32).reshape(3, 3, 3, 4)
        tf.nn.conv2d(x, tf.constant(w), [1, 2, 2, 1], "SAME", name="c")
        tf.constant(["ab", "c"], name="s")
        tf.fill([5], 2.5, name="f")
    ours = parse_graph(graph.as_graph_def().SerializeToString()).by_name()
    assert ours["c"].inputs == ("x", "Const")
    assert ours["c"].attr["strides"].value.i == (1, 2, 2, 1)
    assert ours["c"].attr["padding"].value == b"SAME"
    assert ours["x"].attr["shape"].value == (-1, 8, 8, 3)
    assert ours["s"].attr["value"].value.strings == (b"ab", b"c")
    np.testing.assert_array_equal(ours["Const"].attr["value"].value.array, w)
    case = next(c for c in OP_CASES if c.name.startswith("ConvBlock"))
    graph, _, _ = case_graph(case, seed=0)
    theirs = tf.compat.v1.GraphDef()
    theirs.ParseFromString(encode_graph(graph))
    assert theirs.versions.producer == 8 and theirs.node[-1].name == "c"
    by_name = {n.name: n for n in theirs.node}
    assert list(by_name["c/control_dependency"].input) == ["c/batchnorm", "^c/CheckNumerics"]
    assert by_name["c/batchnorm"].attr["variance_epsilon"].f == np.float32(0.001)
    np.testing.assert_array_equal(
        tf.make_ndarray(by_name["c/conv2d_params"].attr["value"].tensor),
        graph.by_name()["c/conv2d_params"].attr["value"].value.array,
    )


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not a TensorFlow GraphDef .no nodes."),
        (b"this is a text file, not a graph", "not a TensorFlow GraphDef"),
        (None, "truncated"),
    ],
)
def test_bad_graph_files_are_input_errors_with_a_hint(tmp_path, data, message):
    if data is None:
        data = encode_graph(case_graph(OP_CASES[0], seed=0)[0])[:1000]
    path = tmp_path / "bad.pb"
    path.write_bytes(data)
    with pytest.raises(InputError, match=message) as caught:
        read_graph(path)
    assert caught.value.exit_code == 3 and "classify_image_graph_def.pb" in caught.value.hint
    with pytest.raises(InputError):
        TorchInceptionExtractor(path)


# --- Ops against TensorFlow -------------------------------------------------------------------


def _tolerance(name: str) -> float:
    return next((tol for key, tol in OP_TOLERANCE.items() if name.startswith(key)), EXACT_TOLERANCE)


@pytest.mark.parametrize("case", OP_CASES, ids=[case.name for case in OP_CASES])
def test_op_matches_tensorflow(case):
    pytest.importorskip("tensorflow")
    _, rel = op_difference(case, seed=0)
    assert rel <= _tolerance(case.name)


def test_op_comparison_can_fail():
    """The harness sees a wrong kernel: half-pixel resize is not TF1's resize."""
    pytest.importorskip("tensorflow")
    from tf_compare import run_tensorflow

    case = next(c for c in OP_CASES if c.name == "ResizeBilinear-37x53")
    graph, out, x = case_graph(case, 0)
    (expected,) = run_tensorflow(graph, [out], {"x:0": x})
    wrong = torch.nn.functional.interpolate(
        torch.from_numpy(x).permute(0, 3, 1, 2), (299, 299), mode="bilinear"
    ).permute(0, 2, 3, 1)
    assert np.abs(wrong.numpy() - expected).max() / np.abs(expected).max() > 1e-2


# --- Interpreter ------------------------------------------------------------------------------


@pytest.mark.slow
def test_fusing_conv_batchnorm_relu_changes_no_bit_and_folding_stays_close(standin):
    graph = read_graph(standin)
    outputs = ["pool_3:0", "mixed_6/conv:0", "mixed_2/join:0"]
    images = torch.from_numpy(_images(1, 40)).float()
    fused = GraphRunner(graph, outputs, "ExpandDims:0", fuse=True)(images)
    plain = GraphRunner(graph, outputs, "ExpandDims:0", fuse=False)(images)
    folded = GraphRunner(graph, outputs, "ExpandDims:0", fold_batchnorm=True)(images)
    for a, b, c in zip(fused, plain, folded, strict=True):
        assert torch.equal(a, b)
        assert not torch.equal(c, b)  # folding rounds differently ...
        assert (c - b).abs().max() <= GRAPH_TOLERANCE * b.abs().max()  # ... but not by much


def _one_node_graph(op: str, **attr: Attr) -> Graph:
    nodes = (
        Node("x", "Placeholder"),
        Node("y", op, ("x",), "", {"T": Attr(AttrKind.TYPE, 1), **attr}),
    )
    return Graph(nodes, 8)


@pytest.mark.parametrize(
    "op, attr, message",
    [
        ("Tanh", {}, "op is not implemented"),
        ("Relu", {"T": Attr(AttrKind.TYPE, 19)}, "T=19 is not implemented"),
        (
            "MaxPool",
            {"padding": Attr(AttrKind.S, b"SAME"), "data_format": Attr(AttrKind.S, b"NCHW")},
            "data_format",
        ),
        ("MaxPool", {"padding": Attr(AttrKind.S, b"EXPLICIT")}, "padding=b'EXPLICIT'"),
        ("ResizeBilinear", {"align_corners": Attr(AttrKind.B, True)}, "align_corners=True"),
    ],
)
def test_unimplemented_ops_and_attributes_name_the_node(op, attr, message):
    with pytest.raises(UnsupportedGraphError, match=message) as caught:
        GraphRunner(_one_node_graph(op, **attr), ["y:0"], "x:0")
    assert "'y'" in caught.value.message and caught.value.exit_code == 3


def test_the_batch_one_reshape_refuses_a_batch():
    b = _Builder(0)
    b.add("ExpandDims", "Placeholder", dtype=Attr(AttrKind.TYPE, 1))
    b.pool("pool_3", "ExpandDims", "AvgPool", 8, 1, "VALID")
    shape = b.const("pool_3/_reshape/shape", np.array([1, 2048], np.int32))
    b.add("pool_3/_reshape", "Reshape", ["pool_3", shape], T=_FLOAT)
    runner = GraphRunner(Graph(tuple(b.nodes), 8), ["pool_3/_reshape:0"], "ExpandDims:0")
    assert runner(torch.ones(1, 8, 8, 2048))[0].shape == (1, 2048)
    with pytest.raises(UnsupportedGraphError, match="pool_3/_reshape"):
        runner(torch.ones(2, 8, 8, 2048))


# --- Extractor --------------------------------------------------------------------------------


@pytest.mark.slow
def test_extractor_interface_shapes_and_batch_independence(torch_extractor, standin):
    images = _images(3, 48)
    seen = []
    pool, spatial = torch_extractor.extract([images[:2], images[2:]], on_batch=seen.append)
    assert seen == [2, 1]
    assert pool.shape == (3, 2048) and spatial.shape == (3, 17 * 17 * 7)
    assert pool.dtype == spatial.dtype == np.float32
    alone, _ = torch_extractor.extract_batch(images[2:])
    np.testing.assert_allclose(alone, pool[2:], rtol=0, atol=1e-5 * np.abs(pool).max())
    probs = torch_extractor.pool_to_probs(pool)
    assert probs.shape == (3, 1008) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert torch_extractor.extractor_id.startswith(f"{TORCH_EXTRACTOR_VERSION}:")
    assert torch_extractor.extractor_id.endswith(":bs4")
    assert torch_extractor.graph_sha256 in torch_extractor.extractor_id
    unfolded = TorchInceptionExtractor(standin, batch_size=4, fold_batchnorm=False)
    assert unfolded.extractor_id != torch_extractor.extractor_id


def test_a_graph_without_adm_tensors_names_what_is_missing(tmp_path, built):
    nodes = tuple(n for n in built.nodes if n.name not in ("pool_3", "ExpandDims"))
    path = tmp_path / "partial.pb"
    path.write_bytes(encode_graph(Graph(nodes, 8)))
    with pytest.raises(InputError, match="ExpandDims:0, pool_3:0"):
        TorchInceptionExtractor(path)


def test_reading_and_running_the_graph_never_imports_tensorflow(standin):
    code = (
        "import sys, numpy as np\n"
        "from fcdmbench.evaluation.inception.torch_inception import TorchInceptionExtractor\n"
        f"x = TorchInceptionExtractor({str(standin)!r})\n"
        "pool, _ = x.extract_batch(np.zeros((1, 16, 16, 3), np.uint8))\n"
        "x.pool_to_probs(pool)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
@pytest.mark.parametrize("size", [32, 299])
def test_whole_standin_graph_matches_tensorflow_extractor(standin, size, fold):
    pytest.importorskip("tensorflow")
    from fcdmbench.evaluation.inception.tf_inception import InceptionExtractor

    reference = InceptionExtractor(standin, batch_size=4)
    torch_extractor = TorchInceptionExtractor(standin, batch_size=4, fold_batchnorm=fold)
    images = _images(3, size, seed=size)
    want_pool, want_spatial = reference.extract_batch(images)
    got_pool, got_spatial = torch_extractor.extract_batch(images)
    for got, want in ((got_pool, want_pool), (got_spatial, want_spatial)):
        assert np.abs(got - want).max() <= GRAPH_TOLERANCE * np.abs(want).max()
    want_probs = reference.pool_to_probs(want_pool)
    got_probs = torch_extractor.pool_to_probs(want_pool)
    assert np.abs(got_probs - want_probs).max() <= GRAPH_TOLERANCE * want_probs.max()
    reference.close()


@pytest.mark.parametrize("stride, same", [(1, True), (2, False)])
def test_prepacked_conv_relu_equals_the_plain_convolution(stride, same):
    from fcdmbench.evaluation.inception import torch_ops

    x = torch.rand(3, 17, 17, 32)
    w = torch.rand(48, 32, 3, 3).contiguous(memory_format=torch.channels_last)
    bias = torch.rand(48)
    packed = torch_ops.ConvReluCPU(w, bias, (stride, stride), same)
    plain = torch.nn.functional.conv2d(x.permute(0, 3, 1, 2), w, bias, stride, int(same))
    plain = plain.relu().permute(0, 2, 3, 1)
    with torch.inference_mode():
        assert torch.equal(packed(x), plain)
        assert torch.equal(packed(x[:1]), plain[:1])  # another batch: packed again
