"""Time `fcdmbench audit --tables 2` cold and warm (prints figures; not a test).

Usage: python benchmarks/bench_audit.py [--cold N] [--warm N] [--tables 2 ...] [--workers N]

Target (issue #22): the audit over all of Table 2 (20 models, 8 GPUs, 5 settings) under 10 s on
the 2-core CPU machine, as a user first runs it: cold. Each run is a fresh process (torch import
included); a *cold* run gets an empty trace cache folder and traces every model on the meta
device (one fp32 and one bf16 trace each); the *warm* runs read the last cold run's traces back
(`fcdmbench.perfmodel.trace_cache`: keyed by the source of every module a trace depends on, so an
edit to a model traces afresh). A cold run traces on every CPU (`trace_cache.prefetch`);
``--workers 1`` times it in one process (``FCDMBENCH_TRACE_WORKERS``). Wall time depends on the
load of a shared machine, so the load average is printed before each run and CPU seconds (user +
sys of the child and its workers) beside wall.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from bench_roofline_memory import TARGET_S, _run


def _report(kind: str, run: int, args: list[str], cache: str) -> None:
    load = os.getloadavg()[0]
    wall, cpu = _run(args, cache)
    verdict = "under" if wall < TARGET_S else "OVER"
    print(
        f"{kind} run {run}: wall {wall:.2f} s ({verdict} {TARGET_S:.0f} s), cpu {cpu:.2f} s "
        f"(load average {load:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=3, help="runs, each with an empty cache")
    parser.add_argument("--warm", type=int, default=1, help="runs on the last cold run's cache")
    parser.add_argument("--tables", nargs="+", default=["2"])
    parser.add_argument("--workers", type=int, help="tracing processes (default: the audit's)")
    options = parser.parse_args()
    if options.workers is not None:
        os.environ["FCDMBENCH_TRACE_WORKERS"] = str(options.workers)
    args = ["audit", "--tables", *options.tables]
    workers = os.environ.get("FCDMBENCH_TRACE_WORKERS", "default")
    print(
        f"{os.cpu_count()} CPUs, tracing workers: {workers}; target: under {TARGET_S:.0f} s  "
        f"[fcdmbench {' '.join(args)}]"
    )
    for run in range(1, options.cold + 1):
        with tempfile.TemporaryDirectory() as cache:
            _report("cold", run, args, cache)
            if run == options.cold:
                for warm in range(1, options.warm + 1):
                    _report("warm", warm, args, cache)


if __name__ == "__main__":
    main()
