"""``fcdmbench.flops/2``: what `fcdmbench flops` (and `run_flops`) counted.

Every GMACs figure is per image, one forward, no CFG doubling (`CONVENTION`): a reader never
divides by the batch. ``macs`` and ``dense_macs`` are totals over the ``rows`` the counter ran
(``batch``, or ``2 * batch`` with CFG); the per-image figures are derived from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from fcdmbench.env import EnvInfo
from fcdmbench.records._base import Record, RunInfo, dump

__all__ = [
    "CFG_FACTOR",
    "CONVENTION",
    "CounterComparison",
    "FlopsRecord",
    "FlopsResult",
    "ModuleCount",
    "OpCount",
    "TRAIN_FACTOR",
]

#: Label printed beside every MAC figure.
CONVENTION = "GMACs (DiT/paper convention): multiply-adds per image, one forward, no CFG"
#: Classifier-free guidance runs the conditional and unconditional rows: 2 forwards per image.
CFG_FACTOR = 2
#: Training cost per image, forward + backward ~ 3 x forward (the FCDM paper's Figure 6 assumption).
TRAIN_FACTOR = 3
#: Counters disagreeing by more than this (percent of the canonical count) are flagged.
DISAGREEMENT_PCT = 1.0


@dataclass(frozen=True, slots=True)
class OpCount:
    """MACs of one operator type over one forward.

    Args:
        op: operator name, e.g. ``aten.convolution``.
        kind: ``dense``, ``elementwise``, ``zero`` (computes, counted as 0), ``view`` (no compute)
            or ``skipped`` (a counter had no handler for it; see the counter's warnings).
    """

    op: str
    calls: int
    macs: float
    kind: str


@dataclass(frozen=True, slots=True)
class ModuleCount:
    """MACs inside one submodule (``enc1.0.dwconv``); the root module is ``""``.

    ``dense_macs`` is None where the counter does not split them out per module (fvcore).
    """

    module: str
    macs: float
    dense_macs: float | None


@dataclass(frozen=True, slots=True)
class FlopsResult:
    """MACs of one model at one resolution and batch, by one counter.

    ``macs`` is the total over every row the counter ran (``rows = batch``, or ``2 * batch`` with
    CFG); per-image figures (`gmacs`, the paper column) divide by the rows. ``ratio_to_ref`` is
    filled by `run_flops`.
    """

    DERIVED: ClassVar[tuple[str, ...]] = (
        "rows",
        "params_m",
        "gmacs",
        "gflops",
        "dense_gmacs",
        "cfg_gmacs_per_image",
        "train_gmacs_per_image",
        "delta_pct",
    )

    model: str
    display_name: str
    family: str
    resolution: int
    batch: int
    cfg: bool
    counter: str
    device: str
    params: int
    macs: float
    dense_macs: float
    ops: tuple[OpCount, ...] = ()
    modules: tuple[ModuleCount, ...] = ()
    published_gmacs: float | None = None
    ref_model: str | None = None
    ratio_to_ref: float | None = None
    notes: tuple[str, ...] = field(default=())
    overrides: dict[str, Any] = field(default_factory=dict)  # config fields replaced (ablations)

    @property
    def rows(self) -> int:
        return self.batch * (CFG_FACTOR if self.cfg else 1)

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def gmacs(self) -> float:
        """GMACs per image, one forward (the paper column)."""
        return self.macs / self.rows / 1e9

    @property
    def gflops(self) -> float:
        return 2 * self.gmacs

    @property
    def dense_gmacs(self) -> float:
        """GMACs per image in matmuls, convolutions and attention only."""
        return self.dense_macs / self.rows / 1e9

    @property
    def cfg_gmacs_per_image(self) -> float:
        """GMACs per generated image per sampling step with CFG (2 rows per image)."""
        return CFG_FACTOR * self.gmacs

    @property
    def train_gmacs_per_image(self) -> float:
        """Approximate training GMACs per image: forward + backward ~ 3 x forward."""
        return TRAIN_FACTOR * self.gmacs

    @property
    def delta_pct(self) -> float | None:
        """Counted minus published, in percent of published."""
        if not self.published_gmacs:
            return None
        return 100.0 * (self.gmacs - self.published_gmacs) / self.published_gmacs

    @property
    def zero_ops(self) -> tuple[OpCount, ...]:
        """Operators that ran but count zero MACs (compute ops first, then views)."""
        return tuple(o for o in self.ops if o.kind in ("zero", "view", "skipped"))

    def to_record(self) -> dict:
        """Plain JSON-ready dict (every derived figure included; no ``schema``)."""

        return {**dump(self), "convention": CONVENTION}


@dataclass(frozen=True, slots=True)
class CounterComparison:
    """One model counted by every counter; ``gmacs`` maps counter name to GMACs per image."""

    DERIVED: ClassVar[tuple[str, ...]] = ("is_flagged",)

    model: str
    gmacs: dict[str, float]
    skipped_ops: dict[str, dict[str, int]]
    max_disagreement_pct: float

    @property
    def is_flagged(self) -> bool:
        return self.max_disagreement_pct > DISAGREEMENT_PCT


@dataclass(frozen=True, slots=True)
class FlopsRecord(Record):
    """One `fcdmbench flops` run: settings, environment and one `FlopsResult` per model.

    Example:
        >>> record = run_flops(FlopsConfig(models=("fcdm-s",), batch=4))  # doctest: +SKIP
        >>> round(record.result("fcdm-s").gmacs, 2)  # per image, whatever the batch
        3.08
    """

    SCHEMA: ClassVar[str] = "fcdmbench.flops/2"

    run: RunInfo
    env: EnvInfo
    models: tuple[str, ...]
    resolution: int
    batch: int
    cfg: bool
    counter: str
    results: tuple[FlopsResult, ...]
    ref: str | None = None
    comparisons: tuple[CounterComparison, ...] = ()
    notes: tuple[str, ...] = ()
    convention: str = CONVENTION

    def result(self, model: str) -> FlopsResult | None:
        """The result for registry name `model`, or None."""
        return next((r for r in self.results if r.model == model), None)
