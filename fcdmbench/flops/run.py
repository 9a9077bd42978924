"""`fcdmbench flops` as a library call: several models, a reference model, optional cross-checks.

`run_flops(FlopsConfig(...))` counts every model with the canonical counter, divides by the
reference model (DiT-XL/2 by default), and with ``counter="all"`` also runs fvcore and torchprofile
on CPU and flags any disagreement above `fcdmbench.records.flops.DISAGREEMENT_PCT`, naming the
operators each skipped. It returns the complete `fcdmbench.records.flops.FlopsRecord`
(environment and run metadata included), the object ``fcdmbench flops --json`` writes.

Example:
    >>> record = run_flops(FlopsConfig(models=("fcdm-xl",), ref=None))
    >>> record.results[0].model
    'fcdm-xl'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fcdmbench.env import collect_env
from fcdmbench.errors import ConfigError, UnknownModelError
from fcdmbench.flops.counter import Counter, count_flops
from fcdmbench.records._base import RunInfo
from fcdmbench.records.flops import CounterComparison, FlopsRecord, FlopsResult
from fcdmbench.registry import DEFAULT_REF, resolve

__all__ = ["FlopsConfig", "run_flops"]


@dataclass(frozen=True, slots=True)
class FlopsConfig:
    """What to count.

    Args:
        models: canonical registry names, in display order.
        ref: reference model for ``ratio_to_ref``; None for no ratio.
        is_ref_explicit: the user named `ref`; an unknown one is then an error, while the default
            reference is dropped with a note when it is not registered.

    The batch is checked by `count_flops`, once, before the first model is built.
    """

    models: tuple[str, ...] = ()
    resolution: int = 256
    batch: int = 1
    cfg: bool = False
    counter: Counter = Counter.FLOP_COUNTER
    ref: str | None = DEFAULT_REF
    is_ref_explicit: bool = False

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError("no model selected", hint="name one, e.g. --models fcdm-xl dit-xl")
        if not isinstance(self.resolution, int) or self.resolution <= 0:
            raise ConfigError(f"resolution must be a positive integer, got {self.resolution!r}")
        object.__setattr__(self, "counter", Counter(self.counter))
        object.__setattr__(self, "models", tuple(self.models))


def _reference(
    config: FlopsConfig, counter: Counter, counted: dict[str, FlopsResult], notes: list[str]
):

    if config.ref is None:
        return None
    try:
        spec, _ = resolve(config.ref)
    except UnknownModelError:
        if config.is_ref_explicit:
            raise
        notes.append(f"reference {config.ref!r} is not registered; ratio to reference omitted")
        return None
    if spec.name in counted:
        return counted[spec.name]
    try:
        return count_flops(spec, config.resolution, config.batch, config.cfg, counter=counter)
    except ConfigError as exc:
        if config.is_ref_explicit:
            raise
        notes.append(f"reference {spec.name} not counted ({exc.message}); ratio omitted")
        return None


def _compare(name: str, config: FlopsConfig, canonical: FlopsResult) -> CounterComparison:
    gmacs = {Counter.FLOP_COUNTER.value: canonical.gmacs}
    skipped: dict[str, dict[str, int]] = {}
    for counter in (Counter.FVCORE, Counter.TORCHPROFILE):
        report = count_flops(name, config.resolution, config.batch, config.cfg, counter=counter)
        gmacs[counter.value] = report.gmacs
        skipped[counter.value] = {o.op: o.calls for o in report.ops if o.kind == "skipped"}
    base = canonical.gmacs
    worst = max(abs(v - base) / base * 100 for v in gmacs.values()) if base else 0.0
    return CounterComparison(
        model=name, gmacs=gmacs, skipped_ops=skipped, max_disagreement_pct=worst
    )


def run_flops(config: FlopsConfig, progress: Any = None) -> FlopsRecord:
    """Count every model in `config`, add the reference ratio and counter comparisons.

    Args:
        progress: optional callable ``progress(message)`` for long runs (the CLI's stderr).

    Returns:
        The complete record (settings, environment, run metadata, one result per model).

    Raises:
        ConfigError, UnknownModelError: bad resolution, batch or reference.
    """
    counter = Counter.FLOP_COUNTER if config.counter is Counter.ALL else config.counter

    run = RunInfo.current()
    notes: list[str] = []
    counted: dict[str, FlopsResult] = {}
    for name in config.models:
        if progress:
            progress(f"counting {name} ({counter.value})")
        counted[name] = count_flops(
            name, config.resolution, config.batch, config.cfg, counter=counter
        )
    ref = _reference(config, counter, counted, notes)
    reports = []
    for name in config.models:
        report = counted[name]
        if ref is not None and ref.gmacs:
            report = dataclasses.replace(
                report, ref_model=ref.model, ratio_to_ref=report.gmacs / ref.gmacs
            )
        reports.append(report)
    comparisons = []
    if config.counter is Counter.ALL:
        for name in config.models:
            if progress:
                progress(f"cross-checking {name} with fvcore and torchprofile (CPU)")
            comparisons.append(_compare(name, config, counted[name]))
    return FlopsRecord(
        run=run,
        env=collect_env("cpu"),  # the meta device computes nothing; the host ran the count
        models=config.models,
        resolution=config.resolution,
        batch=config.batch,
        cfg=config.cfg,
        counter=config.counter.value,
        ref=config.ref,
        results=tuple(reports),
        comparisons=tuple(comparisons),
        notes=tuple(notes),
    )
