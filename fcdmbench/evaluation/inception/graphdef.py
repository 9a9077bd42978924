"""TensorFlow GraphDef files read and written without TensorFlow or `protobuf`.

A small reader of the protobuf wire format (varints, fixed32/64, length-delimited fields) for the
messages a frozen graph uses: GraphDef (``node``, ``versions``), NodeDef (``name``, ``op``,
``input``, ``device``, ``attr``), AttrValue (``s``, ``i``, ``f``, ``b``, ``type``, ``shape``,
``tensor``, ``list``), TensorShapeProto and TensorProto (``tensor_content`` or the typed
``*_val`` fields). No dependency and no coupling to a protobuf version: the wire format of these
messages has not changed since 2015. (The tests' stand-in graphs are written by
``tests/evaluation/standin_graph.py``.)

Example:
    graph = read_graph("classify_image_graph_def.pb")
    node = graph.by_name()["conv/Conv2D"]
    node.attr["strides"].value  # AttrList(i=(1, 2, 2, 1), ...)
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fcdmbench.errors import InputError

__all__ = [
    "Attr",
    "AttrKind",
    "AttrList",
    "DType",
    "Graph",
    "Node",
    "Tensor",
    "parse_graph",
    "read_graph",
]

_HINT = "use the official classify_image_graph_def.pb (fcdmbench reference fetch inception)"


class DType(enum.IntEnum):
    """TensorFlow `DataType` values that a frozen Inception graph can hold."""

    FLOAT = 1
    DOUBLE = 2
    INT32 = 3
    UINT8 = 4
    INT16 = 5
    INT8 = 6
    STRING = 7
    INT64 = 9
    BOOL = 10
    HALF = 19


_NUMPY = {
    DType.FLOAT: "<f4",
    DType.DOUBLE: "<f8",
    DType.INT32: "<i4",
    DType.UINT8: "u1",
    DType.INT16: "<i2",
    DType.INT8: "i1",
    DType.INT64: "<i8",
    DType.BOOL: "?",
    DType.HALF: "<f2",
}


class AttrKind(enum.Enum):
    """Which field of an AttrValue is set."""

    S = "s"
    I = "i"  # noqa: E741 (the protobuf field's name)
    F = "f"
    B = "b"
    TYPE = "type"
    SHAPE = "shape"
    TENSOR = "tensor"
    LIST = "list"


@dataclass(frozen=True, slots=True)
class Tensor:
    """A TensorProto: `array` for numeric dtypes, `strings` for DT_STRING."""

    dtype: int
    shape: tuple[int, ...]
    array: np.ndarray | None = None
    strings: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class AttrList:
    """AttrValue.ListValue: one tuple per field."""

    s: tuple[bytes, ...] = ()
    i: tuple[int, ...] = ()
    f: tuple[float, ...] = ()
    b: tuple[bool, ...] = ()
    type: tuple[int, ...] = ()
    shape: tuple[tuple[int, ...] | None, ...] = ()
    tensor: tuple[Tensor, ...] = ()


@dataclass(frozen=True, slots=True)
class Attr:
    """One AttrValue: `kind` names the field set, `value` holds it (shape: None = unknown rank)."""

    kind: AttrKind
    value: Any


@dataclass(frozen=True, slots=True)
class Node:
    """A NodeDef."""

    name: str
    op: str
    inputs: tuple[str, ...] = ()
    device: str = ""
    attr: dict[str, Attr] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Graph:
    """A GraphDef: its nodes in file order and ``versions.producer`` (0 if absent)."""

    nodes: tuple[Node, ...]
    producer: int = 0

    def by_name(self) -> dict[str, Node]:
        """Node name -> node."""
        return {node.name: node for node in self.nodes}


class _Truncated(Exception):
    pass


class _Malformed(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Reading


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _Truncated
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _Malformed("varint longer than 10 bytes")


def _fields(buf: memoryview):
    """(field number, wire type, value) of each field; value is int or memoryview."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Malformed("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise _Malformed(f"wire type {wire}")
        if pos > end:
            raise _Truncated
        yield number, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _ints(wire: int, value) -> list[int]:
    """A repeated varint field's entries, packed (wire 2) or one (wire 0)."""
    if wire == 0:
        return [_signed(value)]
    out, pos = [], 0
    while pos < len(value):
        item, pos = _varint(value, pos)
        out.append(_signed(item))
    return out


def _floats(wire: int, value, width: int = 4) -> list[float]:
    fmt = "<f" if width == 4 else "<d"
    return [x[0] for x in struct.iter_unpack(fmt, bytes(value))]


def _shape(buf) -> tuple[int, ...] | None:
    dims, unknown = [], False
    for number, _, value in _fields(buf):
        if number == 2:
            dims.append(next((_signed(v) for n, _, v in _fields(value) if n == 1), 0))
        elif number == 3:
            unknown = bool(value)
    return None if unknown else tuple(dims)


def _tensor(buf) -> Tensor:
    dtype, shape, content = 0, (), None
    vals: dict[int, list] = {}
    strings: list[bytes] = []
    for number, wire, value in _fields(buf):
        if number == 1:
            dtype = value
        elif number == 2:
            shape = _shape(value) or ()
        elif number == 4:
            content = bytes(value)
        elif number == 8:
            strings.append(bytes(value))
        elif number in (5, 6):
            width = 4 if number == 5 else 8
            vals.setdefault(number, []).extend(
                _floats(wire, value, width) if wire != 0 else [value]
            )
        elif number in (7, 10, 11, 13):
            vals.setdefault(number, []).extend(_ints(wire, value))
    if dtype == DType.STRING:
        return Tensor(dtype, shape, None, tuple(strings))
    if dtype not in _NUMPY:
        return Tensor(dtype, shape)
    return Tensor(dtype, shape, _tensor_array(DType(dtype), shape, content, vals))


def _tensor_array(dtype: DType, shape, content, vals) -> np.ndarray:
    np_dtype = np.dtype(_NUMPY[dtype])
    size = int(np.prod(shape, dtype=np.int64))
    if content is not None:
        if len(content) != size * np_dtype.itemsize:
            raise _Malformed(f"tensor_content of {len(content)} bytes for shape {list(shape)}")
        return np.frombuffer(content, np_dtype).reshape(shape).copy()
    field_of = {DType.FLOAT: 5, DType.DOUBLE: 6, DType.INT64: 10, DType.BOOL: 11}
    values = vals.get(field_of.get(dtype, 13 if dtype == DType.HALF else 7), [])
    if dtype == DType.HALF:
        values = np.array(values, np.uint16).view(np.float16)
    array = np.asarray(values, np_dtype)
    if len(array) == size:
        return array.reshape(shape)
    if len(array) > size:
        raise _Malformed(f"{len(array)} values for shape {list(shape)}")
    # TensorFlow repeats the last value (zeros when there is none).
    fill = array[-1] if len(array) else np.zeros((), np_dtype)
    return np.concatenate([array, np.full(size - len(array), fill, np_dtype)]).reshape(shape)


def _attr_list(buf) -> AttrList:
    parts: dict[str, list] = {k: [] for k in ("s", "i", "f", "b", "type", "shape", "tensor")}
    for number, wire, value in _fields(buf):
        if number == 2:
            parts["s"].append(bytes(value))
        elif number == 3:
            parts["i"].extend(_ints(wire, value))
        elif number == 4:
            parts["f"].extend(_floats(wire, value))
        elif number == 5:
            parts["b"].extend(bool(v) for v in _ints(wire, value))
        elif number == 6:
            parts["type"].extend(_ints(wire, value))
        elif number == 7:
            parts["shape"].append(_shape(value))
        elif number == 8:
            parts["tensor"].append(_tensor(value))
    return AttrList(**{k: tuple(v) for k, v in parts.items()})


def _attr(buf) -> Attr | None:
    for number, wire, value in _fields(buf):
        if number == 1:
            return Attr(AttrKind.LIST, _attr_list(value))
        if number == 2:
            return Attr(AttrKind.S, bytes(value))
        if number == 3:
            return Attr(AttrKind.I, _signed(value))
        if number == 4:
            return Attr(AttrKind.F, _floats(wire, value)[0])
        if number == 5:
            return Attr(AttrKind.B, bool(value))
        if number == 6:
            return Attr(AttrKind.TYPE, value)
        if number == 7:
            return Attr(AttrKind.SHAPE, _shape(value))
        if number == 8:
            return Attr(AttrKind.TENSOR, _tensor(value))
    return None  # func / placeholder: no Inception op uses them


def _node(buf) -> Node:
    name = op = device = ""
    inputs: list[str] = []
    attr: dict[str, Attr] = {}
    for number, wire, value in _fields(buf):
        if wire != 2 and number in (1, 2, 3, 4, 5):
            raise _Malformed(f"NodeDef field {number} with wire type {wire}")
        if number == 1:
            name = bytes(value).decode()
        elif number == 2:
            op = bytes(value).decode()
        elif number == 3:
            inputs.append(bytes(value).decode())
        elif number == 4:
            device = bytes(value).decode()
        elif number == 5:
            key, entry = "", None
            for n, _, v in _fields(value):
                if n == 1:
                    key = bytes(v).decode()
                elif n == 2:
                    entry = _attr(v)
            if entry is not None:
                attr[key] = entry
    if not name or not op:
        raise _Malformed("a NodeDef without name or op")
    return Node(name, op, tuple(inputs), device, attr)


def _graph(buf) -> Graph:
    nodes, producer = [], 0
    for number, wire, value in _fields(buf):
        if number not in (1, 2, 3, 4):
            raise _Malformed(f"GraphDef has no field {number}")
        if number == 1:
            if wire != 2:
                raise _Malformed("GraphDef.node is not a message")
            nodes.append(_node(value))
        elif number == 4 and wire == 2:
            producer = next((v for n, w, v in _fields(value) if n == 1 and w == 0), 0)
    if not nodes:
        raise _Malformed("no nodes")
    return Graph(tuple(nodes), producer)


def parse_graph(data: bytes, source: str = "the graph") -> Graph:
    """Parse GraphDef bytes.

    Raises:
        InputError: not a GraphDef (says what is wrong), or truncated.
    """
    try:
        return _graph(memoryview(data))
    except _Truncated:
        raise InputError(f"{source} is truncated (a field runs past the end)", _HINT) from None
    except (_Malformed, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{source} is not a TensorFlow GraphDef ({exc})", _HINT) from None


def read_graph(path: str | Path) -> Graph:
    """Parse the GraphDef file at `path` (see `parse_graph`).

    Raises:
        InputError: unreadable, not a GraphDef, or truncated.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path} ({exc.strerror})", _HINT) from None
    return parse_graph(data, str(path))
