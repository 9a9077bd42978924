"""Fixtures shared by the evaluation tests."""

from __future__ import annotations

import pytest
from sqrtm_memo import SqrtmMemo


@pytest.fixture()
def adm_sqrtm_once(monkeypatch) -> SqrtmMemo:
    """Every ADM square root of this test through one `SqrtmMemo` (sqrtm_memo.py): a pair of
    bit-identical covariances is square-rooted once."""
    from fcdmbench.evaluation import metrics

    memo = SqrtmMemo(metrics._trace_sqrt_product_adm)
    monkeypatch.setattr(metrics, "_trace_sqrt_product_adm", memo)
    return memo
