"""Measure this CPU's roofline in a few seconds: fp32 matmul GFLOP/s and copy GB/s.

A CPU has no datasheet figure the roofline could use (turbo, SMT, memory channels and other
tenants all move it), so ``fcdmbench roofline --gpu cpu`` measures both roofs here, with the
threads torch will use, and records what it measured in the roofline record beside the
prediction (`fcdmbench.records.CpuCalibration`, at ``device.calibration``):

- compute roof: the best of several blocks of ``torch.mm`` on two ``n x n`` fp32 matrices
  (``2 n^3`` FLOPs each), i.e. what the BLAS reaches on a large, friendly GEMM;
- memory roof: the best of several ``dst.copy_(src)`` of a buffer far larger than the caches,
  counting ``2 x size`` bytes (read + write) per copy.

Both are best-of figures, the roofline's "attainable peak". The load average before and after is
recorded: on a shared machine another process can take a core, and the figures say so.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from fcdmbench.errors import InputError
from fcdmbench.records._base import now_iso
from fcdmbench.records.roofline import CpuCalibration

__all__ = ["CpuCalibration", "calibrate_cpu", "load_calibration"]


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
        created=now_iso(),
    )


def load_calibration(path: str | Path) -> CpuCalibration:
    """The CPU calibration in the roofline record at `path` (one ``--gpu cpu --json`` wrote).

    Raises:
        InputError: missing or unreadable, not a roofline record (the message names the file
            and the field that fails), or a roofline record of a GPU (no calibration in it).
    """
    from fcdmbench.records.io import read_record
    from fcdmbench.records.roofline import RooflineRecord

    hint = "pass a file written by: fcdmbench roofline --gpu cpu --json PATH"
    path = Path(path)
    if not path.exists():
        raise InputError(f"calibration file {path} not found", hint=hint)
    try:
        record = read_record(path, kind=RooflineRecord)
    except InputError as exc:
        raise InputError(exc.message, hint=hint) from None
    if record.device.calibration is None:
        raise InputError(
            f"{path} is a roofline record for {record.device.name}: it holds no CPU calibration",
            hint=hint,
        )
    return record.device.calibration
