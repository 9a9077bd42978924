"""`run_throughput`: measure, write the record, and optionally gate or store a baseline.

The orchestration behind ``fcdmbench throughput [--check] [--update-baseline]``: the baseline is
looked up before anything is measured (no baseline: `InputError`, exit 3, nothing timed); a first
regression triggers exactly one re-measurement (the grey zone); both records are written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fcdmbench.env import collect_env
from fcdmbench.errors import InputError
from fcdmbench.records.io import write_record
from fcdmbench.records.throughput import ThroughputRecord
from fcdmbench.throughput.baseline_files import (
    baseline_name,
    default_baselines_dir,
    load_baseline,
    write_baseline,
)
from fcdmbench.throughput.gate import Status, Verdict, compare
from fcdmbench.throughput.measure import DEFAULT_PROTOCOL, measure_throughput, resolve_device
from fcdmbench.throughput.record_builder import default_record_path

__all__ = ["expected_baseline_path", "run_throughput"]


def expected_baseline_path(config: Any, root: Path) -> Path:
    """The baseline file a run of `config` on this machine would be compared with."""

    env = collect_env(str(resolve_device(config.device)))
    return root / baseline_name(
        env,
        config.precision.value,
        config.batch,
        config.resolution,
        config.mode.value,
        config.cfg,
        config.channels_last,
        config.compile,
    )


def _measure(config: Any, protocol: Any, out: Path | None, log: Callable[[str], None]):

    record = measure_throughput(config, protocol, log=log)
    return record, out or default_record_path(record.env, config)


def run_throughput(
    config: Any,
    protocol: Any = DEFAULT_PROTOCOL,
    out: Path | None = None,
    check: bool = False,
    update_baseline: bool = False,
    baselines_dir: Path | None = None,
    strict: bool = False,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> tuple[ThroughputRecord, Verdict | None]:
    """Measure `config` under `protocol`, write its record (atomically), return (record, verdict).

    Args:
        log: receives progress lines (the CLI prints them on stderr); default: silent.

    Raises:
        InputError: `check` and no baseline exists for this device and configuration (exit 3).
        DeviceError: CUDA requested but absent (exit 4).
    """

    log = log or (lambda message: None)
    root = default_baselines_dir(baselines_dir) if check or update_baseline else None
    baseline = None
    if check:
        path = expected_baseline_path(config, root)
        baseline = load_baseline(path)
        if baseline is None:
            raise InputError(
                f"no baseline for this device and configuration: {path} does not exist",
                hint="measure on a quiet machine and store it explicitly with "
                "`fcdmbench throughput ... --update-baseline` (then review it in a PR)",
            )
    record, path = _measure(config, protocol, out, log)
    verdict = None
    if baseline is not None:
        verdict = compare(record, baseline, strict=strict)
        if verdict.status is Status.RERUN:
            first_path = path.with_name(path.stem + ".run1.json")
            write_record(first_path, record.with_check(verdict))
            log(
                f"grey zone ({', '.join(verdict.regressed_keys)}): re-measuring once; "
                f"first run kept at {first_path}"
            )
            record, path = _measure(config, protocol, out, log)
            verdict = compare(record, baseline, previous=verdict, strict=strict)
        verdict = dataclasses.replace(verdict, baseline=str(expected_baseline_path(config, root)))
        record = record.with_check(verdict)
    write_record(path, record)
    log(f"record written: {path}")
    if update_baseline:
        stored = write_baseline(record, root, str(path), force=force)
        log(f"baseline written: {stored}")
    return record, verdict
