"""Per-device throughput baselines: where they live and how they are (explicitly) written.

Layout (benchmarks/README.md)::

    benchmarks/baselines/<device-slug>/<precision>-bs<B>-<res>[-<tags>]-pt<X.Y>[-cu<X.Y>].json

``<tags>`` appear only for non-default settings (``train``, ``cfg``, ``cl`` for channels-last,
``compile-<mode>``), so the default inference baseline is exactly
``bf16-bs64-256-pt2.13-cu12.8.json``. A baseline file is a `fcdmbench.records.BaselineRecord`
(``fcdmbench.baseline/2``: the throughput record plus where and when it was stored); only
`write_baseline` (``fcdmbench baseline update`` / ``throughput --update-baseline``) creates one.
"""

from __future__ import annotations

import os
from pathlib import Path

from fcdmbench.env import EnvInfo
from fcdmbench.errors import CheckFailedError, InputError
from fcdmbench.profiling.regression import validate_record
from fcdmbench.profiling.stats import relative_dispersion, summarize
from fcdmbench.records import BaselineRecord, ThroughputRecord, now_iso

__all__ = [
    "baseline_name",
    "baseline_relpath",
    "default_baselines_dir",
    "load_baseline",
    "write_baseline",
]

#: Noise above which a record is refused as a baseline (canary IQR / median), unless forced.
MAX_BASELINE_NOISE = 0.10


def default_baselines_dir() -> Path:
    """``$FCDMBENCH_BASELINES``, else ``benchmarks/baselines`` of this checkout."""
    env = os.environ.get("FCDMBENCH_BASELINES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "benchmarks" / "baselines"


def baseline_name(
    env: EnvInfo,
    precision: str,
    batch: int,
    resolution: int,
    mode: str = "infer",
    cfg: bool = False,
    channels_last: bool = False,
    compile_mode: str | None = None,
) -> Path:
    """``<device-slug>/<precision>-bs<B>-<res>[-tags]-pt<X.Y>[-cu<X.Y>].json``."""
    parts = [precision, f"bs{batch}", str(resolution)]
    if mode != "infer":
        parts.append(mode)
    if cfg:
        parts.append("cfg")
    if channels_last:
        parts.append("cl")
    if compile_mode:
        parts.append(f"compile-{compile_mode}")
    parts.append(env.torch_tag)
    return Path(env.device_slug) / ("-".join(parts) + ".json")


def baseline_relpath(record: ThroughputRecord | BaselineRecord) -> Path:
    """Where the baseline for `record`'s device and configuration lives, under the root."""
    if isinstance(record, BaselineRecord):
        record = record.record
    c = record.config
    return baseline_name(
        record.env, c.precision, c.batch, c.resolution, c.mode, c.cfg, c.channels_last, c.compile
    )


def load_baseline(path: Path) -> BaselineRecord | None:
    """The baseline at `path`, or None when there is none. Corrupt files raise InputError."""
    from fcdmbench.records import read_record

    if not path.exists():
        return None
    baseline = read_record(path, kind=BaselineRecord)
    problems = validate_record(baseline)
    if problems:
        raise InputError(
            f"baseline {path} is malformed: {'; '.join(problems)}",
            hint="re-create it with `fcdmbench baseline update`",
        )
    return baseline


def write_baseline(record: ThroughputRecord, root: Path, source: str, force: bool = False) -> Path:
    """Store `record` as the baseline for its device and configuration; return the path.

    Raises:
        InputError: the record is malformed.
        CheckFailedError: a model failed, or the canary is too noisy (unless `force`).
    """
    from fcdmbench.records import write_record

    problems = validate_record(record)
    if problems:
        raise InputError(f"not a usable throughput record: {'; '.join(problems)}")
    failed = [row.key for row in record.results if row.status != "ok"]
    noise = relative_dispersion(summarize(record.canary.rates()))
    if not force and (failed or noise > MAX_BASELINE_NOISE):
        why = f"failed: {', '.join(failed)}" if failed else f"canary IQR/median {noise:.1%}"
        raise CheckFailedError(
            f"refusing to store this run as a baseline ({why})",
            hint="re-measure on a quiet machine, or pass --force",
        )
    path = Path(root) / baseline_relpath(record)
    refused = bool(failed or noise > MAX_BASELINE_NOISE)
    why = f"failed: {', '.join(failed)}" if failed else f"canary IQR/median {noise:.1%}"
    baseline = BaselineRecord(
        record=record.with_check(None),
        source=source,
        updated=now_iso(),
        canary_dispersion=noise,
        forced=bool(force and refused),
        forced_reason=why if force and refused else None,
    )
    return write_record(path, baseline, make_parents=True)
