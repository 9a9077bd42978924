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

from fcdmbench.errors import InputError
from fcdmbench.profiling.regression import Status, Verdict, compare

__all__ = ["expected_baseline_path", "run_throughput"]


def expected_baseline_path(config: Any, root: Path) -> Path:
    """The baseline file a run of `config` on this machine would be compared with."""
    from fcdmbench.env import collect_env
    from fcdmbench.profiling.baselines import baseline_relpath
    from fcdmbench.profiling.throughput import resolve_device

    env = collect_env(str(resolve_device(config.device)))
    stub = {
        "env": dataclasses.asdict(env),
        "config": {
            "precision": config.precision.value,
            "batch": config.batch,
            "resolution": config.resolution,
            "mode": config.mode.value,
            "cfg": config.cfg,
            "channels_last": config.channels_last,
            "compile": config.compile_mode,
        },
    }
    return root / baseline_relpath(stub)


def _measure_and_write(config: Any, out: Path | None, log: Callable[[str], None]):
    from fcdmbench.profiling.throughput import measure_throughput
    from fcdmbench.profiling.throughput_record import SCHEMA, default_record_path
    from fcdmbench.reporting.records import write_record

    report = measure_throughput(config, log=log)
    body = report.to_record()
    path = out or default_record_path(report.env, config)
    return body, path, SCHEMA, write_record


def run_throughput(
    config: Any,
    out: Path | None = None,
    check: bool = False,
    update_baseline: bool = False,
    baselines_dir: Path | None = None,
    strict: bool = False,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], Verdict | None]:
    """Measure `config`, write its record (atomically) and return (record, verdict or None).

    Raises:
        InputError: `check` and no baseline exists for this device and configuration (exit 3).
        DeviceError: CUDA requested but absent (exit 4).
    """
    from rich.markup import escape

    from fcdmbench.cli.output import stderr
    from fcdmbench.profiling.baselines import default_baselines_dir, load_baseline, write_baseline

    log = log or (lambda message: stderr.print(f"[dim]{escape(message)}[/]"))
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
    body, path, schema, write_record = _measure_and_write(config, out, log)
    verdict = None
    if baseline is not None:
        verdict = compare({"schema": schema, **body}, baseline, strict=strict)
        if verdict.status is Status.RERUN:
            first_path = path.with_name(path.stem + ".run1.json")
            write_record(first_path, schema, {**body, "check": verdict.to_record()})
            log(
                f"grey zone ({', '.join(verdict.regressed_keys)}): re-measuring once; "
                f"first run kept at {first_path}"
            )
            body, path, schema, write_record = _measure_and_write(config, out, log)
            verdict = compare({"schema": schema, **body}, baseline, previous=verdict, strict=strict)
        body["check"] = {
            "baseline": str(expected_baseline_path(config, root)),
            **verdict.to_record(),
        }
    write_record(path, schema, body)
    log(f"record written: {path}")
    if update_baseline:
        stored = write_baseline({"schema": schema, **body}, root, str(path), force=force)
        log(f"baseline written: {stored}")
    return {"schema": schema, **body}, verdict
