"""`smallest_per_row` returns exactly `np.partition`'s m smallest values, ties and tails too."""

from __future__ import annotations

import numpy as np
import pytest

from fcdmbench.evaluation.selection import CHUNK_COLS, merge_smallest, smallest_per_row


def _reference(block, m):
    return np.sort(np.partition(block, m - 1, axis=1)[:, :m], axis=1)


@pytest.mark.parametrize("cols", [1, 3, CHUNK_COLS * 4, CHUNK_COLS * 5 + 1, 1000, 2 * 10_000 // 7])
@pytest.mark.parametrize("m", [1, 4, 7])
def test_smallest_per_row_equals_partition(cols, m):
    rng = np.random.default_rng(cols * 10 + m)
    block = rng.random((1100, cols), dtype=np.float32)  # > one thread task of rows
    got = np.sort(smallest_per_row(block, m), axis=1)
    np.testing.assert_array_equal(got, _reference(block, min(m, cols)))


def test_ties_and_clustered_minima():
    rng = np.random.default_rng(0)
    # Few distinct values: many ties; small values packed into one chunk or the short tail.
    block = rng.integers(0, 6, (600, CHUNK_COLS * 9 + 5)).astype(np.float32)
    block[:200, :CHUNK_COLS] = -1.0
    block[200:400, -5:] = -2.0
    block[400:, ::CHUNK_COLS] = -3.0
    for m in (1, 4, 10):
        got = np.sort(smallest_per_row(block, m), axis=1)
        np.testing.assert_array_equal(got, _reference(block, m))


def test_nan_rows_fall_back_to_partition_order():
    rng = np.random.default_rng(1)
    block = rng.random((50, 700), dtype=np.float32)
    block[3, 10] = np.nan
    block[7, :] = np.nan
    got = np.sort(smallest_per_row(block, 4), axis=1)
    np.testing.assert_array_equal(got, _reference(block, 4))


def test_merge_over_column_blocks_equals_whole_row():
    rng = np.random.default_rng(2)
    block = rng.random((300, 2500), dtype=np.float32)
    parts = [smallest_per_row(block[:, s : s + 700], 4) for s in range(0, 2500, 700)]
    np.testing.assert_array_equal(np.sort(merge_smallest(parts, 4), axis=1), _reference(block, 4))
