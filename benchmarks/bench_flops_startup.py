"""`fcdmbench flops --models fcdm-xl dit-xl` against `python -c 'import torch'` (prints figures).

Usage: python benchmarks/bench_flops_startup.py [--rounds N]   (default 7)

Runs the two commands in interleaved rounds (the order alternates each round, so a change in the
machine's load falls on both) and prints each pair's wall times, the median of the per-round ratios
(the target is at most 1.5) and of the CPU-time ratios (user + system seconds of each command:
steadier than wall time on a shared machine), the load average beside each round, the fcdmbench
modules the command loaded (the target is at most 40) and, from one ``python -X importtime`` run of
the command, the modules imported while it ran (not while torch was imported) with the largest
cumulative times: what the command costs beyond ``import torch``, and the floor of any meta count
((torch + ``torch.fx.experimental.symbolic_shapes``) / torch: torch's Python meta kernels call
``torch._check``, whose first call imports that module and sympy). Whether ``torch._dynamo`` was
imported is printed; the count keeps it out (`fcdmbench.flops.skip_dynamo`). Last, the proof that
the floor is torch's: in one more run, with ``torch._check`` spied on, the path of the first import
of symbolic_shapes and the torch functions that call the check during the count (torch registers
Python meta kernels for ``mm``, convolution, layer norm and the elementwise operators over the C++
ones, and every one of them checks its arguments with it).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

FLOPS_ARGS = ["flops", "--models", "fcdm-xl", "dit-xl"]
#: Imported by ``torch._check``'s first call (torch's Python meta kernels), with sympy.
_CHECKS_MODULE = "torch.fx.experimental.symbolic_shapes"
#: Runs the CLI and prints, at exit, the fcdmbench modules it loaded and whether dynamo was.
_COUNT_MODULES = (
    "import atexit, runpy, sys\n"
    "def _report():\n"
    "    names = sorted(m for m in sys.modules if m.split('.')[0] == 'fcdmbench')\n"
    "    sys.stderr.write('MODULES ' + ' '.join(names) + '\\n')\n"
    "    sys.stderr.write('DYNAMO ' + str('torch._dynamo' in sys.modules) + '\\n')\n"
    "atexit.register(_report)\n"
    f"sys.argv = ['fcdmbench', *{FLOPS_ARGS!r}]\n"
    "runpy.run_module('fcdmbench', run_name='__main__')\n"
)


#: Runs the count with `torch._check_with` (behind every `torch._check`) spied on: prints the
#: first importer of symbolic_shapes and the torch functions that call the check, counted.
_CHECK_CALLERS = (
    "import collections, sys, traceback\n"
    "import torch\n"
    "callers, first, real = collections.Counter(), [], torch._check_with\n"
    "def _where(stack):\n"
    "    inner = [f for f in stack if '/torch/' in f.filename\n"
    "             and not f.filename.endswith('torch/__init__.py')]\n"
    "    return [f\"{f.filename.split('/torch/')[-1]}:{f.name}\" for f in inner[-3:]]\n"
    "def _spy(*args, **kwargs):\n"
    "    callers[_where(traceback.extract_stack()[:-1])[-1]] += 1\n"
    "    return real(*args, **kwargs)\n"
    "class _First:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    f"        if name == {_CHECKS_MODULE!r} and not first:\n"
    "            first.append(' <- '.join(reversed(_where(traceback.extract_stack()))))\n"
    "sys.meta_path.insert(0, _First())\n"
    "torch._check_with = _spy\n"
    "from fcdmbench.flops.counter import count_flops\n"
    f"for name in {FLOPS_ARGS[2:]!r}:\n"
    "    count_flops(name)\n"
    "print('FIRST', *first)\n"
    "for name, calls in callers.most_common():\n"
    "    print('CALLER', calls, name)\n"
)


#: The command in one process, timed by phase (wrappers around its library calls, no profiler).
_PHASES = (
    "import os, sys, time\n"
    "spent = {}\n"
    "def timed(key, fn, *args, **kwargs):\n"
    "    start = time.perf_counter()\n"
    "    try:\n"
    "        return fn(*args, **kwargs)\n"
    "    finally:\n"
    "        spent[key] = spent.get(key, 0.0) + time.perf_counter() - start\n"
    "def wrap(module, name, key):\n"
    "    fn = getattr(module, name)\n"
    "    setattr(module, name, lambda *a, **k: timed(key, fn, *a, **k))\n"
    "timed('import torch', __import__, 'torch')\n"
    "def cli():\n"
    "    import fcdmbench.cli.flops, fcdmbench.cli.main, fcdmbench.cli.output\n"
    "    import fcdmbench.flops.counter, fcdmbench.flops.op_table, fcdmbench.flops.run\n"
    "timed('import fcdmbench (CLI, flops, rich, typer)', cli)\n"
    "import gc\n"
    "gc.disable()  # the command imports it during the count, with the collector paused\n"
    f"timed('import symbolic_shapes + sympy', __import__, {_CHECKS_MODULE!r})\n"
    "gc.enable()\n"
    "from fcdmbench.flops import counter, run\n"
    "wrap(counter, 'build_for_counting', 'build both models on meta')\n"
    "wrap(counter, 'count_with_flop_counter', 'count both (dispatch, replay)')\n"
    "wrap(run, 'collect_env', 'collect the environment')\n"
    f"sys.argv = ['fcdmbench', *{FLOPS_ARGS!r}]\n"
    "sys.stdout = open(os.devnull, 'w')\n"
    "from fcdmbench.cli.main import run as main\n"
    "try:\n"
    "    timed('the command (parse, count, render)', main)\n"
    "except SystemExit:\n"
    "    pass\n"
    "for key, seconds in spent.items():\n"
    "    print(f'{seconds:7.3f} s  {key}', file=sys.stderr)\n"
)


def _wall(args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the child and what it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def _rounds(count: int) -> tuple[list[float], list[float]]:
    """Per round, the wall-time ratio (the target's) and the CPU-time ratio: on a shared machine
    the wall times swing with the other processes (a round's ratio from 1.1 to 1.9 at load 4),
    while the CPU seconds each command spent move much less."""
    torch_cmd = [sys.executable, "-c", "import torch"]
    flops_cmd = [sys.executable, "-m", "fcdmbench", *FLOPS_ARGS]
    ratios, cpu_ratios = [], []
    for index in range(count):
        load = os.getloadavg()[0]
        if index % 2:
            flops = _wall(flops_cmd)
            torch = _wall(torch_cmd)
        else:
            torch = _wall(torch_cmd)
            flops = _wall(flops_cmd)
        ratios.append(flops[0] / torch[0])
        cpu_ratios.append(flops[1] / torch[1])
        print(
            f"round {index + 1}: import torch {torch[0]:.2f} s (CPU {torch[1]:.2f} s), "
            f"flops {flops[0]:.2f} s (CPU {flops[1]:.2f} s), ratio {ratios[-1]:.2f} "
            f"(CPU {cpu_ratios[-1]:.2f}) (load {load:.2f})"
        )
    return ratios, cpu_ratios


def _modules() -> None:
    run = subprocess.run(
        [sys.executable, "-c", _COUNT_MODULES], capture_output=True, text=True, check=True
    )
    lines = dict(line.split(" ", 1) for line in run.stderr.splitlines() if " " in line)
    names = lines.get("MODULES", "").split()
    print(f"fcdmbench modules loaded: {len(names)} (target: at most 40)")
    print("  " + " ".join(n.removeprefix("fcdmbench.") for n in names))
    print(f"torch._dynamo imported: {lines.get('DYNAMO', '?')}")


def _import_profile(top: int = 12) -> None:
    """The modules imported after torch, largest cumulative time first (top-level ones only)."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "fcdmbench", *FLOPS_ARGS],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if cumulative.strip().isdigit() and not name.startswith("   "):  # top level only
            rows.append((int(cumulative) / 1e6, name.strip()))
    torch_s = next((s for s, n in rows if n == "torch"), 0.0)
    print(f"-X importtime: torch {torch_s:.2f} s; beyond it, top-level imports:")
    for seconds, name in sorted((r for r in rows if r[1] != "torch"), reverse=True)[:top]:
        print(f"  {seconds:6.3f} s  {name}")
    # torch's meta kernels written in Python check their arguments with torch._check, whose
    # first call imports symbolic_shapes (and sympy): the floor of any meta count.
    checks_s = next((s for s, n in rows if n == _CHECKS_MODULE), 0.0)
    if torch_s:
        print(
            f"floor of a meta count, before counting: (torch + {_CHECKS_MODULE}) / torch = "
            f"{(torch_s + checks_s) / torch_s:.2f}"
        )


def _check_callers(top: int = 12) -> None:
    """Why a meta count cannot skip symbolic_shapes: what imports it first, and how many of
    torch's meta kernels (C++ has no meta kernel for them) check their arguments with it."""
    run = subprocess.run(
        [sys.executable, "-c", _CHECK_CALLERS], capture_output=True, text=True, check=True
    )
    first = [line for line in run.stdout.splitlines() if line.startswith("FIRST")]
    callers = [
        line.split(" ", 2)[1:] for line in run.stdout.splitlines() if line.startswith("CALLER")
    ]
    print(f"first import of {_CHECKS_MODULE}: {first[0][6:] if first else '?'}")
    print(
        f"torch functions calling torch._check in the count: {len(callers)} distinct, "
        f"{sum(int(c) for c, _ in callers)} calls; the most frequent:"
    )
    for calls, name in callers[:top]:
        print(f"  {int(calls):5d}  {name}")


def _phases() -> None:
    """Where the command's time goes, phase by phase (one process; the command's line
    includes the build and count lines below it)."""
    load = os.getloadavg()[0]
    run = subprocess.run([sys.executable, "-c", _PHASES], capture_output=True, text=True)
    print(f"phases of one run (load {load:.2f}):")
    print("\n".join("  " + line for line in run.stderr.splitlines()[-8:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {sys.executable}")
    _wall([sys.executable, "-c", "import torch"])  # warm the file cache, not counted
    ratios, cpu_ratios = _rounds(args.rounds)
    print(f"median ratio flops / import torch: {statistics.median(ratios):.2f} (target <= 1.5)")
    print(f"median CPU-time ratio: {statistics.median(cpu_ratios):.2f}")
    _modules()
    _import_profile()
    _phases()
    _check_callers()


if __name__ == "__main__":
    main()
