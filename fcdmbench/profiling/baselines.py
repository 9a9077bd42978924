"""Per-device throughput baselines: where they live and how they are (explicitly) written.

Layout (benchmarks/README.md)::

    benchmarks/baselines/<device-slug>/<precision>-bs<B>-<res>[-<tags>]-pt<X.Y>[-cu<X.Y>].json

``<tags>`` appear only for non-default settings (``train``, ``cfg``, ``cl`` for channels-last,
``compile-<mode>``), so the default inference baseline is exactly
``bf16-bs64-256-pt2.13-cu12.8.json``. A baseline file is a throughput record plus a ``baseline``
section; only `write_baseline` (``fcdmbench baseline update`` / ``throughput --update-baseline``)
creates one.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fcdmbench.errors import CheckFailedError, InputError
from fcdmbench.profiling.regression import validate_record
from fcdmbench.profiling.stats import relative_dispersion, summarize

__all__ = ["baseline_relpath", "default_baselines_dir", "load_baseline", "write_baseline"]

#: Noise above which a record is refused as a baseline (canary IQR / median), unless forced.
MAX_BASELINE_NOISE = 0.10


def default_baselines_dir() -> Path:
    """``$FCDMBENCH_BASELINES``, else ``benchmarks/baselines`` of this checkout."""
    env = os.environ.get("FCDMBENCH_BASELINES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "benchmarks" / "baselines"


def _torch_tag(env: dict[str, Any]) -> str:
    version = str(env.get("torch", "")).split("+")[0]
    tag = "pt" + ".".join(version.split(".")[:2])
    if env.get("cuda_runtime"):
        tag += f"-cu{env['cuda_runtime']}"
    return tag


def baseline_relpath(record: dict[str, Any]) -> Path:
    """``<device-slug>/<precision>-bs<B>-<res>[-tags]-pt<X.Y>[-cu<X.Y>].json`` for a record."""
    cfg, env = record["config"], record["env"]
    parts = [cfg["precision"], f"bs{cfg['batch']}", str(cfg["resolution"])]
    if cfg.get("mode", "infer") != "infer":
        parts.append(cfg["mode"])
    if cfg.get("cfg"):
        parts.append("cfg")
    if cfg.get("channels_last"):
        parts.append("cl")
    if cfg.get("compile"):
        parts.append(f"compile-{cfg['compile']}")
    parts.append(_torch_tag(env))
    return Path(env["device_slug"]) / ("-".join(parts) + ".json")


def load_baseline(path: Path) -> dict[str, Any] | None:
    """The baseline record at `path`, or None when there is none. Corrupt files raise InputError."""
    from fcdmbench.reporting.records import read_record

    if not path.exists():
        return None
    record = read_record(path, expect="fcdmbench.throughput")
    problems = validate_record(record)
    if problems:
        raise InputError(
            f"baseline {path} is malformed: {'; '.join(problems)}",
            hint="re-create it with `fcdmbench baseline update`",
        )
    return record


def write_baseline(record: dict[str, Any], root: Path, source: str, force: bool = False) -> Path:
    """Store `record` as the baseline for its device and configuration; return the path.

    Raises:
        InputError: the record is malformed.
        CheckFailedError: a model failed, or the canary is too noisy (unless `force`).
    """
    from fcdmbench.files import write_json_atomic

    problems = validate_record(record)
    if problems:
        raise InputError(f"not a usable throughput record: {'; '.join(problems)}")
    failed = [row["key"] for row in record["results"] if row.get("status", "ok") != "ok"]
    canary = record["canary"]
    rates = [canary["calls_per_block"] / s for s in canary.get("block_s", []) if s > 0]
    noise = relative_dispersion(summarize(rates))
    if not force and (failed or noise > MAX_BASELINE_NOISE):
        why = f"failed: {', '.join(failed)}" if failed else f"canary IQR/median {noise:.1%}"
        raise CheckFailedError(
            f"refusing to store this run as a baseline ({why})",
            hint="re-measure on a quiet machine, or pass --force",
        )
    path = Path(root) / baseline_relpath(record)
    body = {k: v for k, v in record.items() if k != "check"}
    body["baseline"] = {
        "source": source,
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
        "canary_dispersion": noise,
        "forced": bool(force and (failed or noise > MAX_BASELINE_NOISE)),
    }
    return write_json_atomic(path, body, make_parents=True)
