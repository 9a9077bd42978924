"""Measure this CPU's roofline in a few seconds: fp32 matmul GFLOP/s and copy GB/s.

A CPU has no datasheet figure the roofline could use (turbo, SMT, memory channels and other
tenants all move it), so ``fcdmbench roofline --gpu cpu`` measures both roofs here, with the
threads torch will use, and records what it measured next to the prediction:

- compute roof: the best of several blocks of ``torch.mm`` on two ``n x n`` fp32 matrices
  (``2 n^3`` FLOPs each), i.e. what the BLAS reaches on a large, friendly GEMM;
- memory roof: the best of several ``dst.copy_(src)`` of a buffer far larger than the caches,
  counting ``2 x size`` bytes (read + write) per copy.

Both are best-of figures, the roofline's "attainable peak". The load average before and after is
recorded: on a shared machine another process can take a core, and the figures say so.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fcdmbench.errors import InputError

__all__ = ["SCHEMA", "CpuCalibration", "calibrate_cpu", "load_calibration"]

SCHEMA = "fcdmbench.cpu-calibration/1"


@dataclass(frozen=True, slots=True)
class CpuCalibration:
    """What `calibrate_cpu` measured (GFLOP/s, GB/s = 1e9 bytes/s)."""

    cpu_name: str
    device_slug: str
    threads: int
    matmul_n: int
    matmul_gflops: float
    matmul_gflops_samples: tuple[float, ...]
    copy_mib: int
    copy_gbs: float
    copy_gbs_samples: tuple[float, ...]
    seconds: float
    loadavg_before: tuple[float, float, float]
    loadavg_after: tuple[float, float, float]
    torch: str
    created: str

    def to_record(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **dataclasses.asdict(self)}


def _best_rate(work, amount: float, blocks: int, min_block_s: float) -> list[float]:
    """Run `work` in `blocks` timed blocks of at least `min_block_s`; `amount` per call."""
    work()  # warm-up (allocations, BLAS thread start)
    rates = []
    for _ in range(blocks):
        calls = 0
        start = time.perf_counter()
        while True:
            work()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_block_s:
                break
        rates.append(calls * amount / elapsed)
    return rates


def calibrate_cpu(
    matmul_n: int = 1024, copy_mib: int = 128, blocks: int = 5, min_block_s: float = 0.2
) -> CpuCalibration:
    """Measure the fp32 matmul and copy roofs of this CPU (about 2 s with the defaults)."""
    import torch

    from fcdmbench.env import _cpu_name, device_slug

    before = os.getloadavg()
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(matmul_n, matmul_n, generator=gen)
    b = torch.randn(matmul_n, matmul_n, generator=gen)
    out = torch.empty(matmul_n, matmul_n)
    mm_rates = _best_rate(lambda: torch.mm(a, b, out=out), 2.0 * matmul_n**3, blocks, min_block_s)
    elements = copy_mib * 2**20 // 4
    src = torch.ones(elements)
    dst = torch.empty(elements)
    copy_rates = _best_rate(lambda: dst.copy_(src), 2.0 * elements * 4, blocks, min_block_s)
    name = _cpu_name()
    return CpuCalibration(
        cpu_name=name,
        device_slug="cpu-" + device_slug(name),
        threads=torch.get_num_threads(),
        matmul_n=matmul_n,
        matmul_gflops=max(mm_rates) / 1e9,
        matmul_gflops_samples=tuple(r / 1e9 for r in mm_rates),
        copy_mib=copy_mib,
        copy_gbs=max(copy_rates) / 1e9,
        copy_gbs_samples=tuple(r / 1e9 for r in copy_rates),
        seconds=time.perf_counter() - start,
        loadavg_before=tuple(before),
        loadavg_after=tuple(os.getloadavg()),
        torch=torch.__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def load_calibration(path: str | Path) -> CpuCalibration:
    """Read a calibration from a calibration record or from a roofline record that holds one.

    Raises:
        InputError: missing, unreadable, or no calibration in it.
    """
    import json

    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InputError(
            f"calibration file {path} not found",
            hint="write one with: fcdmbench roofline --gpu cpu --json PATH",
        ) from exc
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"calibration file {path} is not valid JSON: {exc}") from exc
    if isinstance(data, dict) and data.get("schema", "").startswith("fcdmbench.roofline/"):
        data = (data.get("device") or {}).get("calibration")
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith(SCHEMA):
        raise InputError(
            f"{path} holds no CPU calibration ({SCHEMA})",
            hint="pass a file written by: fcdmbench roofline --gpu cpu --json PATH",
        )
    fields = {f.name for f in dataclasses.fields(CpuCalibration)}
    try:
        values = {k: data[k] for k in fields}
    except KeyError as exc:
        raise InputError(f"{path}: calibration lacks field {exc}") from exc
    for key in ("matmul_gflops_samples", "copy_gbs_samples", "loadavg_before", "loadavg_after"):
        values[key] = tuple(values[key])
    return CpuCalibration(**values)
