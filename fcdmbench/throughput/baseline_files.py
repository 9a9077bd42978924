"""Per-device throughput baselines: where they live and how they are (explicitly) written.

Layout (benchmarks/README.md)::

    benchmarks/baselines/<device-slug>/<precision>-bs<B>-<res>[-<tags>]-pt<X.Y>[-cu<X.Y>].json

``<tags>`` appear only for non-default settings (``train``, ``cfg``, ``cl`` for channels-last,
``compile-<mode>``), so the default inference baseline is exactly
``bf16-bs64-256-pt2.13-cu12.8.json``. A baseline file is a `fcdmbench.records.BaselineRecord`
(``fcdmbench.baseline/2``: the throughput record plus where and when it was stored); only
`write_baseline` (``fcdmbench baseline update`` / ``throughput --update-baseline``) creates one,
and it refuses a run the gate itself would call "insufficient data"
(`fcdmbench.throughput.gate.insufficient_data`) or one in which a model failed, unless forced.

Where: ``--baselines-dir``, else ``$FCDMBENCH_BASELINES``, else ``benchmarks/baselines`` of the
checkout the current directory is in (the nearest ``benchmarks/baselines`` above it, or the git top
level's). Never the checkout fcdmbench happens to be installed from: a command run elsewhere that
finds no checkout says so (`find_baselines_dir`).
"""

from __future__ import annotations

import os
from pathlib import Path

from fcdmbench.env import EnvInfo
from fcdmbench.errors import CheckFailedError, InputError
from fcdmbench.records._base import now_iso
from fcdmbench.records.io import read_record, write_record
from fcdmbench.records.throughput import BaselineRecord, Summary, ThroughputRecord
from fcdmbench.throughput.gate import GateThresholds, insufficient_data, validate_record

__all__ = [
    "baseline_name",
    "baseline_relpath",
    "default_baselines_dir",
    "find_baselines_dir",
    "load_baseline",
    "write_baseline",
]

BASELINES_SUBDIR = Path("benchmarks") / "baselines"


def find_baselines_dir(start: Path | None = None) -> Path | None:
    """``benchmarks/baselines`` of the checkout holding `start` (default: the current directory).

    Walks up from `start`: the first folder that has ``benchmarks/baselines`` wins; else the git
    top level (a folder with ``.git``) gets ``<top>/benchmarks/baselines``. None outside a
    checkout.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / BASELINES_SUBDIR).is_dir():
            return folder / BASELINES_SUBDIR
        if (folder / ".git").exists():
            return folder / BASELINES_SUBDIR
    return None


def default_baselines_dir(explicit: Path | None = None) -> Path:
    """`explicit` (``--baselines-dir``), ``$FCDMBENCH_BASELINES``, or the current checkout's.

    Raises:
        InputError: none given and the current directory is in no checkout.
    """
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get("FCDMBENCH_BASELINES")
    if env:
        return Path(env).expanduser()
    found = find_baselines_dir()
    if found is None:
        raise InputError(
            f"no baselines folder: {Path.cwd()} is not inside a fcdmbench checkout",
            hint="run from your checkout (its benchmarks/baselines is used), or pass "
            "--baselines-dir DIR (or set FCDMBENCH_BASELINES)",
        )
    return found


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
        record.env,
        c.precision.value,
        c.batch,
        c.resolution,
        c.mode.value,
        c.cfg,
        c.channels_last,
        c.compile,
    )


def load_baseline(path: Path) -> BaselineRecord | None:
    """The baseline at `path`, or None when there is none. Corrupt files raise InputError."""

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
        CheckFailedError: a model failed, or the gate would call the run insufficient data (too
            few blocks, canary or a model too noisy), unless `force`.
    """

    problems = validate_record(record)
    if problems:
        raise InputError(
            f"not a usable throughput record: {'; '.join(problems)}",
            hint="pass a record written by `fcdmbench throughput`",
        )
    failed = [row.key for row in record.results if row.status != "ok"]
    refusal = insufficient_data(record, GateThresholds())
    if failed:
        refusal = "; ".join(filter(None, [f"failed: {', '.join(failed)}", refusal]))
    if refusal and not force:
        raise CheckFailedError(
            f"refusing to store this run as a baseline: {refusal} (the gate would not judge "
            "against it)",
            hint="re-measure on a quiet machine with the default protocol (7 blocks of >= 1 s), "
            "or pass --force to store it anyway (recorded as forced)",
        )
    path = Path(root) / baseline_relpath(record)
    baseline = BaselineRecord(
        record=record.with_check(None),
        source=source,
        updated=now_iso(),
        canary_dispersion=Summary.of(record.canary.rates()).relative_dispersion,
        forced=bool(force and refusal),
        forced_reason=refusal if force and refusal else None,
    )
    return write_record(path, baseline, make_parents=True)
