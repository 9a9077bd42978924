"""Fixtures shared by the evaluation tests.

`adm_sqrtm_once`: ADM's square root of a 2048-d covariance product takes a minute or more on a
2-core CPU, and a test that compares two runs on the same statistics (the streamed metrics against
``sample`` then ``eval``) would pay for it twice. The fixture keys each square root by the bytes
of both covariances: a bit-identical pair is computed once and its trace returned again; any pair
that differs in one bit is computed afresh, so a comparison between two runs stays a comparison
of what each run computed.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest


class SqrtmMemo:
    """ADM's trace of ``sqrtm(sigma1 @ sigma2)``, computed once per distinct pair of inputs."""

    def __init__(self, compute):
        self._compute = compute
        self._traces: dict[str, float] = {}
        self.computed = 0
        self.reused = 0

    def __call__(self, sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
        digest = hashlib.sha256()
        for part in (sigma1, sigma2, np.float64(eps)):
            digest.update(repr((part.dtype, part.shape)).encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        key = digest.hexdigest()
        if key in self._traces:
            self.reused += 1
        else:
            self.computed += 1
            self._traces[key] = self._compute(sigma1, sigma2, eps)
        return self._traces[key]


@pytest.fixture()
def adm_sqrtm_once(monkeypatch) -> SqrtmMemo:
    """Every ADM square root of this test through one `SqrtmMemo` (see the module docstring)."""
    from fcdmbench.evaluation import metrics

    memo = SqrtmMemo(metrics._trace_sqrt_product_adm)
    monkeypatch.setattr(metrics, "_trace_sqrt_product_adm", memo)
    return memo
