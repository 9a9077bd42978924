"""Training-step roofline: its speed for two XL models, and measured CPU training steps beside
the CPU bound (prints figures; not a test).

Usage: python benchmarks/bench_train_roofline.py [--runs N] [--batch B] [--threads T] [--skip-cpu]

1. Speed (target: under 10 s on the 2-core CPU machine, cold): ``fcdmbench train-roofline
   train`` for FCDM-XL and DiT-XL/2 in a fresh process, as a user runs it, on 4 x RTX 4090 at
   batch 256 with gradient checkpointing (the paper's setup) and on 4 x H100 at 512 px in bf16;
   each cold run with an empty trace cache, then one warm run that reads the traces back; wall
   and CPU seconds and the load average before each run (`bench_roofline_memory.py` times the
   same way).
2. Measured beside predicted on this CPU: ``fcdmbench throughput --device cpu --mode train`` times
   real steps (forward, backward, AdamW) of FCDM-S and DiT-S/2, then ``fcdmbench train-roofline
   train --gpu cpu --no-ema --records`` prices the same step with this CPU's calibrated roofs and
   sets the measurement beside it. Last, FCDM-S's first depthwise convolution timed forward and
   backward on its own: the kernel that explains FCDM-S's ratio on a CPU. ``--threads T`` runs
   all three with T torch threads (``OMP_NUM_THREADS``; the calibration records the count): on a
   machine other jobs share, one thread per process keeps the figures steadier.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_roofline_memory import TARGET_S, _run

SPEED = {
    "train 4x rtx-4090 ckpt tf32": [
        "train-roofline", "--models", "fcdm-xl", "dit-xl-2", "--gpu", "rtx-4090",
        "--gpus", "4", "--batch", "256", "--grad-checkpointing", "--precision", "tf32",
    ],
    "train 4x h100 512 px bf16": [
        "train-roofline", "--models", "fcdm-xl", "dit-xl-2", "--gpu", "h100-sxm",
        "--gpus", "4", "--batch", "256", "--resolution", "512", "--grad-checkpointing",
        "--precision", "bf16",
    ],
}  # fmt: skip
CPU_MODELS = ("fcdm-s", "dit-s-2")


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _timed(label: str, args: list[str], cache: str) -> None:
    load = _load()
    wall, cpu = _run(args, cache)
    verdict = "ok" if wall < TARGET_S else "OVER"
    print(f"{label}: {wall:.1f} s wall, {cpu:.1f} s CPU (load {load}) {verdict}")


def _speed(runs: int) -> None:
    print(f"{os.cpu_count()} CPUs; target: each command under {TARGET_S:.0f} s, cold")
    for name, args in SPEED.items():
        for run in range(1, runs + 1):
            with tempfile.TemporaryDirectory() as cache:  # empty: a cold run
                _timed(f"{name}: cold run {run}", args, cache)
                if run == runs:
                    _timed(f"{name}: warm", args, cache)


def _fcdm(*args: str) -> None:
    exe = Path(sys.executable).with_name("fcdmbench")
    subprocess.run([str(exe), *args], check=True, stdout=subprocess.DEVNULL)  # env: os.environ


def _cpu(batch: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        throughput, roofline = Path(tmp, "tp.json"), Path(tmp, "rf.json")
        print(f"\nCPU training steps, batch {batch}, 256 px (load before: {_load()})")
        _fcdm(
            "throughput", "--device", "cpu", "--mode", "train", "--models", *CPU_MODELS,
            "--batch", str(batch), "--blocks", "5", "--min-block-s", "1", "--warmup-s", "1",
            "--warmup-calls", "2", "--out", str(throughput),
        )  # fmt: skip
        load = _load()
        _fcdm(
            "train-roofline", "--models", *CPU_MODELS, "--gpu", "cpu",
            "--precision", "fp32-strict", "--batch", str(batch), "--no-ema",
            "--records", str(throughput), "--json", str(roofline),
        )  # fmt: skip
        record = json.loads(roofline.read_text())
    cal = record["device"]["calibration"]
    print(
        f"calibration: fp32 matmul {cal['matmul_gflops']:.1f} GFLOP/s, copy {cal['copy_gbs']:.2f}"
        f" GB/s, {cal['threads']} threads, {cal['cpu_name']}, torch {cal['torch']}; load after "
        f"timing {load}"
    )
    for r in record["results"]:
        measured = r["measured"]
        iqr = measured["iqr"] / measured["img_per_s"] if measured["iqr"] else float("nan")
        print(
            f"{r['display_name']}: measured {r['measured_steps_per_s']:.3f} steps/s (IQR "
            f"{iqr:.1%}), bound {r['steps_per_s']:.3f} steps/s, measured / bound "
            f"{r['measured_over_predicted']:.2f}"
        )


def _depthwise(batch: int) -> None:
    import torch

    from fcdmbench.registry import create_model

    model = create_model("fcdm-s", resolution=256)
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1)
    side = 256 // 8
    x = torch.randn(batch, conv.in_channels, side, side, requires_grad=True)
    y = conv(x)
    grad = torch.randn_like(y)

    def best(fn, n=5):
        times = []
        for _ in range(n):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times) * 1e3

    forward = best(lambda: conv(x))
    backward = best(lambda: torch.autograd.grad(y, (x, conv.weight), grad, retain_graph=True))
    print(
        f"FCDM-S depthwise {conv.kernel_size[0]}x{conv.kernel_size[1]} conv, {conv.in_channels} "
        f"channels, {batch}x{side}x{side}: forward {forward:.2f} ms, backward {backward:.2f} ms "
        f"({backward / forward:.0f}x; the FLOP count says 2x), best of 5, load {_load()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-cpu", action="store_true")
    args = parser.parse_args()
    _speed(args.runs)
    if args.threads is not None:
        import torch

        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the fcdmbench processes
        torch.set_num_threads(args.threads)  # the depthwise timing here
    if not args.skip_cpu:
        _cpu(args.batch)
        _depthwise(args.batch)


if __name__ == "__main__":
    main()
