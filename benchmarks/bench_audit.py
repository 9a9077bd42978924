"""Time `fcdmbench audit --tables 2` (prints figures; not a test).

Usage: python benchmarks/bench_audit.py [--runs N] [--tables 2 ...]

Target (issue #22): the audit over all of Table 2 (20 models, 8 GPUs, 5 settings) under 10 s on
the 2-core CPU machine. Each run is a fresh process, as a user runs it (torch import included),
with its own trace cache folder: a *cold* run traces every model on the meta device (one fp32
and one bf16 trace each) and fills the cache; the *warm* runs after it read the traces back
(`fcdmbench.profiling.trace_cache`: keyed by the source of every module a trace depends on, so
an edit to a model traces afresh). Wall time depends on the load of a shared machine, so the load
average is printed before each run and CPU seconds (user + sys of the child) beside wall.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 10.0


def _run(args: list[str], cache: str) -> tuple[float, float]:
    exe = Path(sys.executable).with_name("fcdmbench")
    env = {**os.environ, "FCDMBENCH_TRACE_CACHE": cache}
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
    parser.add_argument("--runs", type=int, default=3, help="warm runs after the cold one")
    parser.add_argument("--tables", nargs="+", default=["2"])
    options = parser.parse_args()
    args = ["audit", "--tables", *options.tables]
    print(f"{os.cpu_count()} CPUs; target: under {TARGET_S:.0f} s  [fcdmbench {' '.join(args)}]")
    with tempfile.TemporaryDirectory() as cache:
        for run in range(options.runs + 1):
            kind = "cold" if run == 0 else "warm"
            load = os.getloadavg()[0]
            wall, cpu = _run(args, cache)
            verdict = "under" if wall < TARGET_S else "OVER"
            print(
                f"{kind} run {run + 1}: wall {wall:.2f} s ({verdict} {TARGET_S:.0f} s), "
                f"cpu {cpu:.2f} s (load average {load:.2f})"
            )


if __name__ == "__main__":
    main()
