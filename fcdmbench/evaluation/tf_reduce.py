"""TensorFlow's CPU ``reduce_sum(square(x), 1)`` reproduced in torch, bit for bit.

ADM's float16 distance block needs the squared norms of float16 rows as TensorFlow computes them.
TensorFlow's CPU ``Sum`` over the last axis is Eigen's inner-most-dimension reducer, and its order
of additions decides the float16 result. Found by probing TensorFlow-CPU 2.21 (x86-64 wheel, whose
Eigen is built for AVX: 8-lane packets) and checked against it in tests/evaluation/test_tf_reduce.py
(shapes, distributions and ``ATEN_CPU_CAPABILITY`` settings in docs/evaluation.md):

- each square is one rounded float16 (or float32) multiply;
- a row of ``n`` values whose flat index starts at ``first`` (``row * D`` within the tensor) is
  split in two while ``n`` exceeds the leaf (1,600 values for float16, 8,192 for float32), at the
  first multiple of 8 flat indices at or past ``first + ceil(n / 2)``; the halves' sums are added;
- a leaf keeps four 8-lane accumulators fed 32 values at a time, then one 8-lane accumulator for
  the remaining whole packets (the four are first added into it in order 0, 1, 2, 3), and a
  scalar accumulator for the last ``n mod 8`` values, in order; every one of those additions is
  one rounding to the element type;
- the result is ``scalar + sum_of_lanes``, where the 8 lanes are added in float32 as
  ``((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7))`` and rounded once to the element type.

Every addition here is a torch element-wise op on the element type, which rounds the float32 sum
once per element as Eigen does. Differences would show first as a few ulp in a norm; the tests
compare with TensorFlow's own op and fail on any bit.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LEAF_SIZE", "PACKET", "tf_square_norms"]

#: Eigen's packet width for float16/float32 in TensorFlow's x86-64 build (AVX).
PACKET = 8
#: Eigen's tree-reduction leaf, in values: longer rows are split in two, recursively (Eigen's
#: ``LeafSize`` times the packet width: 200 packets for float16, 1024 for float32).
LEAF_SIZE = {"float16": 200 * 8, "float32": 1024 * 8}
_UNROLL = 4


def tf_square_norms(x: Any) -> Any:
    """``tf.reduce_sum(tf.square(x), 1)`` of a 2-D float16 or float32 torch tensor, bit for bit.

    Rows whose flat start differs modulo 8 split differently (only when ``D`` is not a multiple
    of 8), so they are computed in up to 8 groups of strided rows.
    """
    import torch

    rows, dim = x.shape
    squares = x * x
    out = torch.empty(rows, dtype=x.dtype, device=x.device)
    leaf = LEAF_SIZE[str(x.dtype).removeprefix("torch.")]
    groups = 1 if dim % PACKET == 0 else min(PACKET, rows)
    for offset in range(groups):
        part = squares[offset::groups]
        out[offset::groups] = _tree(part, 0, dim, (offset * dim) % PACKET, leaf)
    return out


def _tree(squares: Any, first: int, count: int, base: int, leaf: int) -> Any:
    """Sum of ``squares[:, first:first + count]`` in Eigen's tree order (flat offset `base`)."""
    if count <= leaf:
        return _leaf(squares[:, first : first + count])
    start = base + first
    split = PACKET * -(-(start + -(-count // 2)) // PACKET)
    left = min(split - start, count)
    total = _tree(squares, first, left, base, leaf)
    if left < count:
        total = total + _tree(squares, first + left, count - left, base, leaf)
    return total


def _leaf(values: Any) -> Any:
    """One leaf: four then one 8-lane accumulators, scalar tail, float32 horizontal sum."""
    import torch

    rows, count = values.shape
    whole = count // PACKET * PACKET
    unrolled = count // (_UNROLL * PACKET) * (_UNROLL * PACKET)
    if unrolled:
        # Chunk-major copy: each sequential accumulation step is one contiguous (rows, 32) add.
        chunks = values[:, :unrolled].reshape(rows, -1, _UNROLL * PACKET).transpose(0, 1)
        chunks = chunks.contiguous()
        acc = chunks[0].clone()
        for chunk in chunks[1:]:
            acc += chunk
        acc = acc.view(rows, _UNROLL, PACKET)
        lanes = acc[:, 0].clone()
        for i in range(1, _UNROLL):
            lanes += acc[:, i]
    else:
        lanes = torch.zeros(rows, PACKET, dtype=values.dtype, device=values.device)
    for j in range(unrolled, whole, PACKET):
        lanes += values[:, j : j + PACKET]
    tail = torch.zeros(rows, dtype=values.dtype, device=values.device)
    for j in range(whole, count):
        tail += values[:, j]
    wide = lanes.float()
    wide = wide[:, :4] + wide[:, 4:]
    wide = wide[:, :2] + wide[:, 2:]
    return tail + (wide[:, 0] + wide[:, 1]).to(values.dtype)
