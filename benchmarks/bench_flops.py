"""Time `fcdmbench flops` end to end and per stage (prints figures; not a test).

Usage: python benchmarks/bench_flops.py [MODEL ...]   (default: fcdm-xl dit-xl, the required line)

Reports wall and CPU (user + sys) seconds of the CLI in a fresh process (what a user waits for,
torch import included), then, in this process, the cost of each stage: importing torch, the first
count (which also imports sympy, through torch's meta kernels' checks) and a warm count per
model. `bench_flops_startup.py` compares the command with `import torch`, interleaved. On a
shared machine wall time depends on the load; the load average is printed beside it.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def _cli_seconds(models: list[str]) -> tuple[float, float]:
    exe = Path(sys.executable).with_name("fcdmbench")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([str(exe), "flops", "--models", *models], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    models = sys.argv[1:] or ["fcdm-xl", "dit-xl"]
    from fcdmbench.registry import resolve

    missing = []
    for name in models:
        try:
            resolve(name)
        except KeyError:
            missing.append(name)
    if missing:
        print(f"not registered here, left out: {missing}")
        models = [m for m in models if m not in missing]
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for run in range(3):
        wall, cpu = _cli_seconds(models)
        print(
            f"cli run {run + 1}: fcdmbench flops --models {' '.join(models)}: "
            f"wall {wall:.2f} s, cpu {cpu:.2f} s"
        )

    start = time.perf_counter()
    import torch  # noqa: F401

    print(f"import torch: {time.perf_counter() - start:.2f} s")
    from fcdmbench.flops.counter import count_flops

    start = time.perf_counter()
    count_flops(models[0])
    print(f"first count ({models[0]}, incl. the sympy import): {time.perf_counter() - start:.2f} s")
    for name in models:
        start = time.perf_counter()
        report = count_flops(name)
        print(
            f"warm count {report.model}: {time.perf_counter() - start:.2f} s "
            f"({report.gmacs:.2f} GMACs)"
        )


if __name__ == "__main__":
    main()
