"""The throughput regression gate: ``compare(record, baseline) -> Verdict``. Pure: no torch, no IO.

Design (docs/throughput.md): each model's throughput is divided by the canary's, measured
in the same process, and that ratio is compared with the baseline's ratio. Clock, thermal,
power-cap and neighbour effects move model and canary alike and cancel.

Per model, with ``change = ratio_now / ratio_baseline - 1`` and
``bound = max(5 %, 3 sigma)`` (sigma: IQR / 1.349 / median of model and canary, now and in the
baseline, in quadrature):

- ``change < -bound``: regression. The first time, the verdict is `Status.RERUN` (the grey zone):
  the caller re-measures once and passes the first verdict as `previous`; only a model that
  regresses in both runs fails the gate.
- ``-bound <= change < -2 %``: a warning, the gate passes.
- ``change > +bound``: a gain; the gate passes and says the baseline is stale.
- Absolute images/s moving more than 10 % only warns (driver, clocks and neighbours move it).
- Canary IQR / median above 10 % (torch.utils.benchmark's warning level), in the run or the
  baseline, or a model's above 10 % in the run, or fewer than 5 timed blocks (the
  protocol's minimum): `Status.INSUFFICIENT_DATA`, too noisy or too short to judge
  (`insufficient_data`, the same rule `write_baseline` applies before storing a run).

Exit codes (`Verdict.exit_code`): pass 0; regression 5 (also an unconfirmed one when no re-run is
possible); insufficient data 0, or 5 with ``strict``; no baseline or an incomparable baseline 3.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

from fcdmbench.records.gate import GateThresholds, ModelStatus, ModelVerdict, Status, Verdict
from fcdmbench.records.throughput import BaselineRecord, Summary, ThroughputRecord, ThroughputResult

__all__ = [
    "GateThresholds",
    "ModelStatus",
    "ModelVerdict",
    "Status",
    "Verdict",
    "compare",
    "insufficient_data",
    "no_baseline",
    "validate_record",
]

#: Config fields that must be equal for a record and a baseline to be compared.
COMPARABLE_FIELDS = ("mode", "precision", "batch", "resolution", "cfg", "channels_last", "compile")
DEFAULT_THRESHOLDS = GateThresholds()
#: IQR of a normal distribution is 1.349 sigma.
IQR_PER_SIGMA = 1.349


def validate_record(record: Any) -> list[str]:
    """Problems that make `record` unusable for the gate (empty list: fine).

    Structure and types are checked when a record is read (`fcdmbench.records.io.read_record`);
    this checks what the gate needs beyond that: a throughput record with a timed canary.
    """
    if isinstance(record, BaselineRecord):
        record = record.record
    if not isinstance(record, ThroughputRecord):
        return [f"not a throughput record: {type(record).__name__}"]
    problems = []
    if not record.results:
        problems.append("no results")
    if record.canary.status == "ok" and not record.canary.block_s:
        problems.append("the canary has no timed block")
    return problems


def insufficient_data(
    record: ThroughputRecord | BaselineRecord,
    thresholds: GateThresholds = DEFAULT_THRESHOLDS,
    which: str = "run",
) -> str | None:
    """Why the gate would call `record` too noisy or too short to judge (None: it would not).

    The one rule for "insufficient data", used by `compare` for a run and its baseline and by
    `write_baseline` before a run becomes a baseline: fewer than `min_blocks` timed blocks for
    the canary or a model that ran (the protocol's minimum), a canary without a timed block, a
    canary IQR/median above `noise_limit`, or (for a run) a model's above it.
    """
    if isinstance(record, BaselineRecord):
        record = record.record
    t = thresholds
    ran = [row for row in record.results if row.status == "ok"]
    counts = [("canary", len(record.canary.block_s)), *((r.key, len(r.block_s)) for r in ran)]
    short = [key for key, count in counts if count < t.min_blocks]
    if short:
        return (
            f"fewer than {t.min_blocks} timed blocks in the {which} ({', '.join(short)}): "
            f"too few to estimate the spread; re-run with --blocks {t.min_blocks} or more"
        )
    summary = _canary_summary(record)
    noise = summary.relative_dispersion
    if noise > t.noise_limit or not summary.median:
        return (
            f"canary IQR/median {noise:.1%} in the {which} exceeds {t.noise_limit:.0%}: "
            "too noisy to judge; quiet the machine (or fix its clocks) and re-run"
        )
    if which != "run":
        return None
    noisy = [row.key for row in ran if _row_summary(row).relative_dispersion > t.noise_limit]
    if noisy:
        return (
            f"IQR/median above {t.noise_limit:.0%} for {', '.join(noisy)}: a bound of 3 sigma "
            "would hide any regression; re-run with longer blocks or on a quieter machine"
        )
    return None


def no_baseline(message: str) -> Verdict:
    """The verdict when no baseline file exists for the device and configuration."""
    return Verdict(Status.NO_BASELINE, messages=(message,))


def _canary_summary(record: ThroughputRecord) -> Summary:
    return Summary.of(record.canary.rates())


def _row_summary(row: ThroughputResult) -> Summary:
    return Summary.of(row.rates())


def _plain(value: Any) -> Any:
    """An enum setting as its value (as the record stores it)."""
    return value.value if isinstance(value, enum.Enum) else value


def _incomparable(record: ThroughputRecord, baseline: ThroughputRecord) -> list[str]:
    diffs = []
    for name in COMPARABLE_FIELDS:
        now, base = (_plain(getattr(r.config, name)) for r in (record, baseline))
        if now != base:
            diffs.append(f"{name}: run {now!r} vs baseline {base!r}")
    slug_now, slug_base = record.env.device_slug, baseline.env.device_slug
    if slug_now != slug_base:
        diffs.append(f"device: run {slug_now!r} vs baseline {slug_base!r}")
    if record.canary.name != baseline.canary.name or record.canary.spec != baseline.canary.spec:
        diffs.append(f"canary: run {record.canary.name!r} vs baseline {baseline.canary.name!r}")
    return diffs


def _compare_model(
    key: str,
    now_row: ThroughputResult | None,
    base_row: ThroughputResult,
    canary_now: Summary,
    canary_base: Summary,
    t: GateThresholds,
) -> ModelVerdict:
    if now_row is None:
        return ModelVerdict(
            key, ModelStatus.MISSING, message=f"{key} is in the baseline but was not run"
        )
    if now_row.status != "ok":
        return ModelVerdict(key, ModelStatus.FAILED, message=f"{key} failed: {now_row.error}")
    if now_row.batch != base_row.batch:
        return ModelVerdict(
            key,
            ModelStatus.INCOMPARABLE,
            message=(
                f"{key} ran at batch {now_row.batch} (out of memory?) but the baseline at "
                f"{base_row.batch}: not compared"
            ),
        )
    model_now, model_base = _row_summary(now_row), _row_summary(base_row)
    if not model_now.median or not model_base.median:
        return ModelVerdict(key, ModelStatus.FAILED, message=f"{key} has no timed block")
    ratio_now = model_now.median / canary_now.median
    ratio_base = model_base.median / canary_base.median
    change = ratio_now / ratio_base - 1.0
    sigma = math.sqrt(
        sum(
            (s.relative_dispersion / IQR_PER_SIGMA) ** 2
            for s in (model_now, canary_now, model_base, canary_base)
        )
    )
    bound = max(t.floor, t.sigma_k * sigma)
    absolute = model_now.median / model_base.median - 1.0
    ratio = f"{key}: ratio to canary {change:+.1%}"
    if change < -bound:
        status, text = ModelStatus.REGRESSION, f"{ratio} (bound -{bound:.1%})"
    elif change < -t.warn:
        status, text = ModelStatus.WARN, f"{ratio}, within the bound {bound:.1%}"
    elif change > bound:
        stale = "baseline stale, refresh it with `fcdmbench baseline update`"
        status, text = ModelStatus.GAIN, f"{ratio} beyond +{bound:.1%}: {stale}"
    else:
        status, text = ModelStatus.OK, ""
    return ModelVerdict(key, status, ratio_now, ratio_base, change, bound, sigma, absolute, text)


def compare(
    record: ThroughputRecord,
    baseline: ThroughputRecord | BaselineRecord,
    thresholds: GateThresholds = DEFAULT_THRESHOLDS,
    previous: Verdict | None = None,
    strict: bool = False,
) -> Verdict:
    """Compare a throughput record with its baseline.

    Args:
        record: the new run.
        baseline: the stored baseline (or a throughput record) for the same device and
            configuration.
        thresholds: gate thresholds.
        previous: the first run's verdict when `record` is the automatic re-run.
        strict: make "insufficient data" fail (exit 5).

    Returns:
        A `Verdict`; `Verdict.exit_code` is what the CLI exits with.

    Example:
        >>> verdict = compare(new_record, baseline_record)
        >>> verdict.status, verdict.exit_code
        (<Status.PASS: 'pass'>, 0)
    """
    if isinstance(baseline, BaselineRecord):
        baseline = baseline.record
    t = thresholds
    common = {"strict": strict, "is_rerun": previous is not None, "thresholds": t}
    problems = validate_record(record) + [f"baseline: {p}" for p in validate_record(baseline)]
    if problems:
        return Verdict(Status.INCOMPARABLE, messages=tuple(problems), **common)
    diffs = _incomparable(record, baseline)
    if diffs:
        return Verdict(Status.INCOMPARABLE, messages=tuple(diffs), **common)
    canary_now = _canary_summary(record)
    noise_now = canary_now.relative_dispersion
    for which, rec in (("run", record), ("baseline", baseline)):
        problem = insufficient_data(rec, t, which=which)
        if problem is not None:
            return Verdict(
                Status.INSUFFICIENT_DATA,
                canary_dispersion=noise_now,
                messages=(problem,),
                **common,
            )
    models, messages = _model_verdicts(record, baseline, canary_now, t)
    regressed = {m.key for m in models if m.is_regressed}
    if not regressed:
        if previous is not None and previous.regressed_keys:
            messages.append(
                f"first-run regression of {', '.join(previous.regressed_keys)} "
                "not reproduced on the re-run; passing"
            )
        return Verdict(Status.PASS, tuple(models), tuple(messages), noise_now, **common)
    if previous is None:
        return Verdict(Status.RERUN, tuple(models), tuple(messages), noise_now, **common)
    confirmed = regressed & set(previous.regressed_keys)
    if confirmed:
        return Verdict(Status.REGRESSION, tuple(models), tuple(messages), noise_now, **common)
    messages.append(f"not reproduced in both runs: {', '.join(sorted(regressed))}; passing")
    models = [
        dataclasses.replace(m, status=ModelStatus.WARN) if m.key in regressed else m for m in models
    ]
    return Verdict(Status.PASS, tuple(models), tuple(messages), noise_now, **common)


def _model_verdicts(
    record: ThroughputRecord,
    baseline: ThroughputRecord,
    canary_now: Summary,
    t: GateThresholds,
) -> tuple[list[ModelVerdict], list[str]]:
    """Each model's verdict against its baseline row (new models included), and the messages:
    the models' own, then a warning per absolute change beyond `t.absolute_warn`."""
    canary_base = _canary_summary(baseline)
    now_rows = {row.key: row for row in record.results}
    base_rows = {row.key: row for row in baseline.results if row.status == "ok"}
    models = [
        _compare_model(k, now_rows.get(k), base_rows[k], canary_now, canary_base, t)
        for k in base_rows
    ]
    models += [
        ModelVerdict(k, ModelStatus.NEW, message=f"{k} has no baseline yet")
        for k in now_rows
        if k not in base_rows
    ]
    messages = [m.message for m in models if m.message]
    for m in models:
        if m.absolute_change is not None and abs(m.absolute_change) > t.absolute_warn:
            messages.append(
                f"{m.key}: absolute images/s {m.absolute_change:+.1%} vs baseline "
                f"(warning only{_env_note(record, baseline)})"
            )
    return models, messages


def _env_note(record: ThroughputRecord, baseline: ThroughputRecord) -> str:
    fields = ("driver", "torch", "cuda_runtime", "clocks_max_sm_mhz")
    differ = [f for f in fields if getattr(record.env, f) != getattr(baseline.env, f)]
    return f"; differs: {', '.join(differ)}" if differ else "; driver, torch, CUDA, clocks match"
