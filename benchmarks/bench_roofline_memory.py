"""Time `fcdmbench roofline` and `fcdmbench memory` for two XL models (prints figures; not a test).

Usage: python benchmarks/bench_roofline_memory.py [--runs N]

Target (issue #18): each command under 10 s on the 2-core CPU machine. Each command runs in a
fresh process, as a user runs it (torch import included): the required roofline line on an A100
(tf32) and a bf16 H100 line, the training-memory line with gradient checkpointing on 4 x RTX
4090, and the sampling-memory line. Wall time depends on the load of a shared machine, so the
load average is printed before each run and CPU seconds (user + sys of the child) beside wall.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "roofline tf32 a100": [
        "roofline", "--models", "fcdm-xl", "dit-xl-2", "--gpu", "a100-80gb-sxm",
        "--precision", "tf32",
    ],
    "roofline bf16 h100": [
        "roofline", "--models", "fcdm-xl", "dit-xl-2", "--gpu", "h100-sxm", "--precision", "bf16",
    ],
    "memory train ckpt": [
        "memory", "--models", "fcdm-xl", "dit-xl-2", "--mode", "train", "--batch", "256",
        "--gpus", "4", "--grad-checkpointing", "--card", "rtx-4090",
    ],
    "memory infer cfg": [
        "memory", "--models", "fcdm-xl", "dit-xl-2", "--mode", "infer", "--batch", "64", "--cfg",
    ],
}  # fmt: skip
TARGET_S = 10.0


def _run(args: list[str], cache: str | None = None) -> tuple[float, float]:
    """(wall, CPU seconds) of ``fcdmbench *args`` in a fresh process; with `cache`, its meta
    traces are kept in that folder (``FCDMBENCH_TRACE_CACHE``: a new folder runs cold)."""
    exe = Path(sys.executable).with_name("fcdmbench")
    env = {**os.environ, "FCDMBENCH_TRACE_CACHE": cache} if cache else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [str(exe), *args], check=True, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    print(f"{os.cpu_count()} CPUs; target: each command under {TARGET_S:.0f} s")
    for name, args in COMMANDS.items():
        walls, cpus = [], []
        for run in range(runs):
            load = os.getloadavg()[0]
            wall, cpu = _run(args)
            walls.append(wall)
            cpus.append(cpu)
            print(
                f"{name} run {run + 1}: wall {wall:.2f} s, cpu {cpu:.2f} s "
                f"(load average {load:.2f})"
            )
        best = min(walls)
        verdict = "under" if best < TARGET_S else "OVER"
        print(
            f"{name}: best wall {best:.2f} s ({verdict} {TARGET_S:.0f} s), "
            f"median cpu {sorted(cpus)[len(cpus) // 2]:.2f} s  [fcdmbench {' '.join(args)}]"
        )


if __name__ == "__main__":
    main()
