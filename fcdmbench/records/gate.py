"""The throughput regression gate's verdict, as `fcdmbench.throughput.gate.compare` returns
it and as a throughput record stores it under ``check`` (the rules are in that module)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fcdmbench.records._base import dump

__all__ = ["GateThresholds", "ModelStatus", "ModelVerdict", "Status", "Verdict"]


class Status(enum.Enum):
    """The gate's answer for a whole record."""

    PASS = "pass"
    RERUN = "grey zone: re-run"
    REGRESSION = "regression"
    INSUFFICIENT_DATA = "insufficient data"
    NO_BASELINE = "no baseline"
    INCOMPARABLE = "incomparable"


class ModelStatus(enum.Enum):
    """One model's comparison with its baseline row."""

    OK = "ok"
    WARN = "warn"  # slower than the warning level, within the bound
    REGRESSION = "regression"
    GAIN = "gain"  # faster beyond the bound: the baseline is stale
    FAILED = "failed"  # did not run, or no timed block
    NEW = "new"  # no baseline row yet
    MISSING = "missing"  # in the baseline, not run
    INCOMPARABLE = "incomparable"  # ran at another batch


@dataclass(frozen=True, slots=True)
class GateThresholds:
    """Gate thresholds (fractions); the defaults are the gate's rules."""

    floor: float = 0.05
    sigma_k: float = 3.0
    warn: float = 0.02
    noise_limit: float = 0.10
    absolute_warn: float = 0.10
    min_blocks: int = 5


@dataclass(frozen=True, slots=True)
class ModelVerdict:
    """One model's comparison: ratios to the canary now and in the baseline, and the bound."""

    key: str
    status: ModelStatus
    ratio_now: float | None = None
    ratio_baseline: float | None = None
    change: float | None = None
    bound: float | None = None
    sigma: float | None = None
    absolute_change: float | None = None
    message: str = ""

    @property
    def is_regressed(self) -> bool:
        """What fails the gate: a regression, or a model that did not run."""
        return self.status in (ModelStatus.REGRESSION, ModelStatus.FAILED)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The gate's answer for one record (after an optional re-run); `baseline`: the file."""

    DERIVED: ClassVar[tuple[str, ...]] = ("summary", "exit_code")

    status: Status
    models: tuple[ModelVerdict, ...] = ()
    messages: tuple[str, ...] = ()
    canary_dispersion: float | None = None
    strict: bool = False
    is_rerun: bool = False
    thresholds: GateThresholds = field(default_factory=GateThresholds)
    baseline: str | None = None

    @property
    def exit_code(self) -> int:
        if self.status in (Status.REGRESSION, Status.RERUN):
            return 5
        if self.status is Status.INSUFFICIENT_DATA:
            return 5 if self.strict else 0
        if self.status in (Status.NO_BASELINE, Status.INCOMPARABLE):
            return 3
        return 0

    @property
    def regressed_keys(self) -> tuple[str, ...]:
        return tuple(m.key for m in self.models if m.is_regressed)

    @property
    def summary(self) -> str:
        """One line: the verdict and why."""
        keys = ", ".join(self.regressed_keys)
        confirmed = "confirmed by a re-run" if self.is_rerun else "not confirmed: no re-run"
        return {
            Status.PASS: "pass: no regression beyond the threshold",
            Status.RERUN: f"grey zone: {keys} below the threshold once; re-run to confirm",
            Status.REGRESSION: f"regression: {keys} ({confirmed})",
            Status.INSUFFICIENT_DATA: "insufficient data: the run is too noisy to judge",
            Status.NO_BASELINE: "no baseline for this device and configuration",
            Status.INCOMPARABLE: "the baseline was measured under another configuration",
        }[self.status]

    def to_json(self) -> dict[str, Any]:
        """The verdict as plain JSON (what ``check`` holds, with `summary` and `exit_code`)."""
        return dump(self)
