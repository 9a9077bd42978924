"""``fcdmbench.audit/2``: every published throughput figure against its roofline bounds.

Layout: ``run``, ``env``, ``label`` (the bounds are a model, never a measurement), ``batch``,
``tables`` (the seed paper's tables audited), ``devices`` (device table keys), ``settings`` (one
`AuditSetting` per mode: flags, kernels and the evidence for reading a figure that way),
``figures`` (one `AuditFigure` per printed figure: its bound on every device under every
setting), ``plausible`` (per table, the device and setting that explain every figure most
tightly, `Plausible`), ``ratios`` (the paper's ratios beside the bounds' under every setting on
that device), ``inconsistencies`` (one model, two printed figures), ``assumptions``, ``notes``.

A bound is images/s through one network evaluation at ``batch`` (the roofline model's
``batch / time``); ``fraction`` is published / bound: at most 1 where the figure can be true.
Version 2 like every typed record (there was never a version 1 of this kind).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from fcdmbench.env import EnvInfo
from fcdmbench.records._base import Record, RunInfo

__all__ = [
    "AUDIT_LABEL",
    "AuditBound",
    "AuditFigure",
    "AuditRatio",
    "AuditRecord",
    "AuditSetting",
    "Inconsistency",
    "Plausible",
]

#: Printed beside every audit figure.
AUDIT_LABEL = "published figures against predicted upper bounds (roofline model, not a measurement)"


@dataclass(frozen=True, slots=True)
class AuditSetting:
    """One way a figure may have been measured: precision flags and kernels, per model family
    where they differ (``per_family``: family -> "precision; kernels"), with the evidence."""

    key: str
    title: str
    precision: str  # a Precision value, or "per family"
    kernels: str
    evidence: str
    per_family: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class AuditBound:
    """One figure's bound on one device under one setting (``img_per_s`` None: the device
    cannot run that setting, ``note`` says why)."""

    device: str
    setting: str
    img_per_s: float | None
    fraction: float | None
    compute_s: float | None = None  # the compute-bound part of one forward, seconds
    memory_s: float | None = None  # the memory-bound part
    note: str = ""

    @property
    def feasible(self) -> bool:
        return self.fraction is not None and self.fraction <= 1.0


@dataclass(frozen=True, slots=True)
class AuditFigure:
    """One printed throughput figure and its bounds.

    ``model`` is the registry name (``fcdm-s``; an ablation configuration keeps its base model
    and lists its config ``overrides``), or the paper's name when fcdmbench does not implement
    it (``modelled`` False, no bounds). ``gmacs`` is fcdmbench's count per image; ``implied_tflops``
    = published it/s x 2 x GMACs / 1000 (the FLOP rate the figure claims).
    """

    DERIVED: ClassVar[tuple[str, ...]] = ("feasible_on", "infeasible")

    table: str
    label: str
    model: str
    family: str
    resolution: int
    published_it_s: float
    row_setting: str
    modelled: bool
    gmacs: float | None = None
    implied_tflops: float | None = None
    overrides: tuple[str, ...] = ()
    bounds: tuple[AuditBound, ...] = ()
    arithmetic: str = ""  # an infeasible figure's best bound, spelled out

    @property
    def feasible_on(self) -> tuple[str, ...]:
        """``device/setting`` pairs whose bound the figure does not exceed."""
        return tuple(f"{b.device}/{b.setting}" for b in self.bounds if b.feasible)

    @property
    def infeasible(self) -> bool:
        return self.modelled and not self.feasible_on

    def bound(self, device: str, setting: str) -> AuditBound | None:
        return next((b for b in self.bounds if (b.device, b.setting) == (device, setting)), None)


@dataclass(frozen=True, slots=True)
class Plausible:
    """A table's most plausible device and setting: every modelled figure at or below its bound
    there, and the tightest figure closest to it (``max_fraction``); ``ties`` are the pairs
    within the tie margin of it; ``evidence`` the fraction ranges per family."""

    table: str
    device: str
    setting: str
    max_fraction: float
    all_feasible: bool
    evidence: str
    ties: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditRatio:
    """One of the paper's ratios (``published``) beside the bounds' ratio on ``device`` under
    ``setting``."""

    claim: str
    published: float
    device: str
    setting: str
    bound_ratio: float | None


@dataclass(frozen=True, slots=True)
class Inconsistency:
    """One model at one resolution printed with different throughput in different tables."""

    model: str
    resolution: int
    figures: tuple[str, ...]  # "table2: 208.5"
    text: str


@dataclass(frozen=True, slots=True)
class AuditRecord(Record):
    """One `fcdmbench audit` run."""

    SCHEMA: ClassVar[str] = "fcdmbench.audit/2"

    run: RunInfo
    env: EnvInfo
    batch: int
    tables: tuple[str, ...]
    devices: tuple[str, ...]
    settings: tuple[AuditSetting, ...]
    figures: tuple[AuditFigure, ...]
    plausible: tuple[Plausible, ...]
    ratios: tuple[AuditRatio, ...]
    inconsistencies: tuple[Inconsistency, ...]
    assumptions: tuple[str, ...] = ()
    label: str = AUDIT_LABEL
    notes: tuple[str, ...] = ()

    def plausible_for(self, table: str) -> Plausible | None:
        return next((p for p in self.plausible if p.table == table), None)
