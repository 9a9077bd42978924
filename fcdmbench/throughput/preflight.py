"""Preflights of `fcdmbench throughput` and `fcdmbench baseline update`: device, models, record
path, baselines folder and the gate's needs, all problems at once, before any model is built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fcdmbench.errors import ConfigError, InputError
from fcdmbench.preflight import Preflight, check_input_file, check_output
from fcdmbench.records.io import read_record
from fcdmbench.records.throughput import ThroughputRecord
from fcdmbench.registry import get_spec
from fcdmbench.throughput.baseline_files import default_baselines_dir, load_baseline
from fcdmbench.throughput.gate import GateThresholds
from fcdmbench.throughput.measure import resolve_device
from fcdmbench.throughput.run import expected_baseline_path

__all__ = ["RECORD_HINT", "preflight_baseline_update", "preflight_throughput"]

RECORD_HINT = "pass a record `fcdmbench throughput` wrote (reports/throughput/*.json)"


def preflight_throughput(
    config: Any,
    *,
    out: Path | None,
    check: bool,
    update_baseline: bool,
    baselines_dir: Path | None,
    force: bool,
    protocol: Any,
) -> Path | None:
    """Check a throughput run before any model is built; return the baselines folder (if used).

    Checks: the device (CUDA present for ``cuda``/``cuda:N``; ``--cuda-graphs`` only on CUDA),
    every model at ``--resolution``, the record path, the baselines folder for
    ``--check``/``--update-baseline`` (the current checkout's, never the installed source's),
    that an ``--update-baseline`` run has the blocks the gate needs to judge it, and that a
    ``--check`` run has a baseline to compare with.
    """

    pf = Preflight()
    device = pf.check(resolve_device, config.device)
    device_ok = device is not None
    if device is not None and config.cuda_graphs and device.type != "cuda":
        pf.add(ConfigError("--cuda-graphs needs a CUDA device", hint="drop --cuda-graphs on CPU"))
    for name in config.measured_models():
        spec = pf.check(get_spec, name)
        if spec is not None:
            pf.check(spec.input_shape, config.resolution)
    if out is not None:
        pf.check(check_output, out)
    root = None
    if check or update_baseline:
        root = pf.check(default_baselines_dir, baselines_dir)
    min_blocks = GateThresholds().min_blocks
    if update_baseline and not force and protocol.blocks < min_blocks:
        pf.add(
            ConfigError(
                f"--blocks {protocol.blocks} with --update-baseline: the gate needs at "
                f"least {min_blocks} timed blocks to judge a run, so it would refuse this one",
                hint=f"use --blocks {min_blocks} or more (default 7), or pass --force",
            )
        )
    if check and root is not None and device_ok:
        path = expected_baseline_path(config, root)
        if pf.check(load_baseline, path) is None and not path.exists():
            pf.add(
                InputError(
                    f"no baseline for this device and configuration: {path} does not exist",
                    hint="measure on a quiet machine and store it explicitly with "
                    "`fcdmbench throughput ... --update-baseline` (then review it in a PR)",
                )
            )
    pf.raise_all()
    return root


def preflight_baseline_update(record_path: Path, baselines_dir: Path | None) -> tuple[dict, Path]:
    """The record to store and the folder to store it in, both checked; all problems at once."""

    pf = Preflight()
    record = None
    if pf.check(check_input_file, record_path, "record", hint=RECORD_HINT) is not None:
        record = pf.check(read_record, record_path, kind=ThroughputRecord)
    root = pf.check(default_baselines_dir, baselines_dir)
    pf.raise_all()
    return record, root
