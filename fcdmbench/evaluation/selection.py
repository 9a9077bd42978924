"""Exact k smallest values per row of a distance block, fast and thread-parallel (pure numpy).

The manifold estimator needs, per row, the k-th smallest of the distances to every vector of a
set. ADM partitions whole ``(10,000, N)`` row blocks with `np.partition` on a thread pool; this
module returns the same values (bit for bit: they are selected, never recomputed) with far
less memory traffic, so blocks of columns can be reduced as they arrive and merged later.

Method, per row: split the columns into chunks of `CHUNK_COLS`, take each chunk's minimum, keep
the ``m`` chunks with the smallest minima and select the ``m`` smallest values among their
entries. That is exact: a chunk holding one of the row's ``m`` smallest values has a minimum no
larger than the ``m``-th smallest value, every chunk not selected has a minimum at least as
large as the selected ones, and on ties a chunk whose minimum equals the ``m``-th smallest value
contributes an equal value. Rows containing NaN fall back to `np.partition` (NaN sorts last
there, as in ADM). `tests/evaluation/test_selection.py` checks equality with `np.partition`,
ties included.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

__all__ = ["CHUNK_COLS", "merge_smallest", "smallest_per_row"]

CHUNK_COLS = 64
_ROWS_PER_TASK = 512


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="fcdm-knn")


def smallest_per_row(block: np.ndarray, m: int) -> np.ndarray:
    """The ``m`` smallest values of each row of a 2-D float array, ``(rows, min(m, cols))``.

    Values come back in no particular order within a row (like `np.partition`'s first ``m``);
    numpy releases the GIL in these loops, so rows are split across a thread pool.

    Example:
        kth = np.sort(smallest_per_row(distances, 4), axis=1)[:, 3]
    """
    block = np.asarray(block)
    rows, cols = block.shape
    m = min(m, cols)
    if rows == 0 or m == 0:
        return np.empty((rows, m), dtype=block.dtype)
    if rows <= _ROWS_PER_TASK:
        return _smallest_rows(block, m)
    starts = range(0, rows, _ROWS_PER_TASK)
    parts = _pool().map(lambda s: _smallest_rows(block[s : s + _ROWS_PER_TASK], m), starts)
    return np.concatenate(list(parts))


def merge_smallest(parts: list[np.ndarray], m: int) -> np.ndarray:
    """Merge per-column-block results of `smallest_per_row` into the ``m`` smallest per row."""
    return smallest_per_row(np.concatenate(parts, axis=1), m)


def _smallest_rows(block: np.ndarray, m: int) -> np.ndarray:
    rows, cols = block.shape
    num_chunks = cols // CHUNK_COLS
    if num_chunks <= m:
        return np.partition(block, m - 1, axis=1)[:, :m]
    full = block[:, : num_chunks * CHUNK_COLS].reshape(rows, num_chunks, CHUNK_COLS)
    minima = full.min(axis=2)
    tail = block[:, num_chunks * CHUNK_COLS :]
    if tail.shape[1]:
        minima = np.concatenate([minima, tail.min(axis=1, keepdims=True)], axis=1)
    nan_rows = np.isnan(minima).any(axis=1)
    chosen = np.argpartition(minima, m - 1, axis=1)[:, :m]  # (rows, m) chunk indices
    in_full = np.minimum(chosen, num_chunks - 1)
    candidates = np.take_along_axis(full, in_full[:, :, None], axis=1).reshape(rows, -1)
    is_tail = chosen == num_chunks
    if is_tail.any():
        # The tail chunk is shorter: pad it with +inf so it can sit among full chunks.
        padded = np.full((rows, CHUNK_COLS), np.inf, dtype=block.dtype)
        padded[:, : tail.shape[1]] = tail
        cand = candidates.reshape(rows, m, CHUNK_COLS)
        tail_rows, tail_slot = np.nonzero(is_tail)
        cand[tail_rows, tail_slot] = padded[tail_rows]
    out = np.partition(candidates, m - 1, axis=1)[:, :m]
    if nan_rows.any():
        out[nan_rows] = np.partition(block[nan_rows], m - 1, axis=1)[:, :m]
    return out
