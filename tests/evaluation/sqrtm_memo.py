"""ADM's 2048-d square root computed once per distinct pair of covariances (test helper).

ADM's square root of a 2048-d covariance product takes a minute or more on a 2-core CPU, and a
test that compares two runs on the same statistics (the streamed metrics against ``sample`` then
``eval``, two gloo ranks against one process) would pay for it twice. `SqrtmMemo` keys each
square root by the bytes of both covariances: a bit-identical pair is computed once and its trace
returned again; a pair that differs in one bit is computed afresh, so a comparison between two
runs stays a comparison of what each run computed. `computed` and `reused` count both cases, so a
test can also assert that its two runs reached the metric with bit-identical statistics.

In one process: the `adm_sqrtm_once` fixture (conftest.py). Across processes: run
``python -c MEMO_MAIN ARGS`` instead of ``python -m fcdmbench ARGS`` with ``SQRTM_MEMO`` naming a
folder; the traces and the counts are files there (`folder_counts`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

#: The environment variable that names a memo folder shared by processes.
ENV = "SQRTM_MEMO"

#: ``python -c MEMO_MAIN ARGS``: ``python -m fcdmbench ARGS`` with the memo of $SQRTM_MEMO.
MEMO_MAIN = (
    "import sys\n"
    f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
    "import sqrtm_memo\n"
    "sqrtm_memo.install_from_env()\n"
    "from fcdmbench.cli.main import run\n"
    "sys.argv = ['fcdmbench', *sys.argv[1:]]\n"
    "run()\n"
)


class SqrtmMemo:
    """ADM's trace of ``sqrtm(sigma1 @ sigma2)``, computed once per distinct pair of inputs."""

    def __init__(self, compute, folder: Path | None = None):
        self._compute = compute
        self._folder = folder
        self._traces: dict[str, float] = {}
        self.computed = 0
        self.reused = 0

    def __call__(self, sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
        key = _key(sigma1, sigma2, eps)
        stored = self._folder / f"{key}.trace" if self._folder else None
        if stored is not None and stored.exists():
            self._traces[key] = float(stored.read_text())
        if key in self._traces:
            self.reused += 1
            _touch(self._folder, f"{key}.reused.{os.getpid()}")
            return self._traces[key]
        self.computed += 1
        self._traces[key] = float(self._compute(sigma1, sigma2, eps))
        if stored is not None:
            stored.write_text(repr(self._traces[key]))  # repr: the float, every bit
        return self._traces[key]


def _key(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> str:
    digest = hashlib.sha256()
    for part in (sigma1, sigma2, np.float64(eps)):
        digest.update(repr((part.dtype, part.shape)).encode())
        digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


def _touch(folder: Path | None, name: str) -> None:
    if folder is not None:
        (folder / name).touch()


def folder_counts(folder: Path) -> tuple[int, int]:
    """(square roots computed, square roots reused) by the processes that shared `folder`."""
    return len(list(folder.glob("*.trace"))), len(list(folder.glob("*.reused.*")))


def install(folder: Path | None = None) -> SqrtmMemo:
    """Route `fcdmbench.evaluation.metrics`'s ADM square root through a new memo."""
    from fcdmbench.evaluation import metrics

    memo = SqrtmMemo(metrics._trace_sqrt_product_adm, folder)
    metrics._trace_sqrt_product_adm = memo
    return memo


def install_from_env() -> None:
    if os.environ.get(ENV):
        install(Path(os.environ[ENV]))
