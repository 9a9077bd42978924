"""The audit: every throughput figure the seed paper prints against its roofline bounds.

For each figure of Tables 2, 3, 4 and 11 (`fcdmbench.paper_tables`; Table 11's ablation widths
and depths built as config overrides of the FCDM model) the model is traced once on the meta
device per dtype (`fcdmbench.perfmodel.op_trace`, cached per process) and priced on every
device of the table under every setting (`fcdmbench.perfmodel.audit_readings`): its bound in
images/s at the paper's batch 64 and the fraction published / bound. Everything is a model, not
a measurement (`fcdmbench.perfmodel.roofline` lists what a bound assumes).

A figure is *feasible* on a device under a setting when it does not exceed the bound there;
*infeasible* when no modelled device and setting reaches it (its best bound is spelled out).

The *most plausible* device and setting of a table is the pair under which every modelled figure
of the table is feasible and the tightest compute-bound figure comes closest to its bound (among
pairs within `TIE_MARGIN` of that, the one whose compute-bound figures sit closest to their
bounds at the median): the
least hardware that explains every figure, with the best-tuned implementation near its roof.
Compute-bound (most of the bound's time in compute-bound kernels) because large GEMMs and
convolutions are what libraries run near peak, while a memory-bound bound counts every tensor
through DRAM and ignores L2 reuse (40-96 MB on these GPUs), so it can be missed or beaten for
reasons the model does not see. A pair where none of the table's figures is compute-bound is
scored by all its figures and ranks after every pair with compute-bound evidence. Pairs within
`TIE_MARGIN` of the best are reported as ties (the A100's 40 GB and 80 GB parts differ only in
bandwidth, for example).
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fcdmbench.errors import ConfigError
from fcdmbench.perfmodel.audit_readings import SETTINGS, audit_setting, reading
from fcdmbench.records.audit import (
    AuditBound,
    AuditFigure,
    AuditRatio,
    AuditRecord,
    Inconsistency,
    Plausible,
)

__all__ = [
    "TABLES",
    "TIE_MARGIN",
    "AuditConfig",
    "bounds_of",
    "check_names",
    "figure_bounds",
    "run_audit",
]

#: The seed paper's tables that print throughput (Table 10's U-Net ablations change the number
#: of stages, which fcdmbench's FCDM cannot build; they are not audited).
TABLES = ("table2", "table3", "table4", "table11")
#: Pairs whose tightest fraction is within this share of the best are ties.
TIE_MARGIN = 0.05
#: The paper's headline ratio: (claim, (numerator model, resolution), (denominator, resolution)).
#: The 256 -> 512 px drop of every model printed in both Table 2 and Table 4 follows it (the
#: paper: "when resolution doubles, throughput of DiT drops by 4x, while FCDM drops by only 2x").
RATIOS = (("FCDM-XL / DiT-XL/2, 256 px (Table 2)", ("fcdm-xl", 256), ("dit-xl-2", 256)),)
_RATIO_TABLES = {256: "table2", 512: "table4"}


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """One audit: which tables, devices (() = every GPU with a bandwidth figure), settings."""

    tables: tuple[str, ...] = TABLES
    devices: tuple[str, ...] = ()
    settings: tuple[str, ...] = SETTINGS
    batch: int = 64

    def __post_init__(self) -> None:
        check_names("table", self.tables, TABLES)
        check_names("setting", self.settings, SETTINGS)
        if self.batch < 1:
            raise ConfigError(f"batch must be >= 1, got {self.batch}")


def check_names(what: str, names: tuple[str, ...], valid: tuple[str, ...]) -> None:
    """Raise `ConfigError` unless `names` is a non-empty selection of `valid`."""
    bad = [n for n in names if n not in valid]
    if bad or not names:
        shown = ", ".join(v.removeprefix("table") for v in valid)
        raise ConfigError(
            f"unknown {what}(s) {bad}" if bad else f"no {what} to audit",
            hint=f"{what}s: {shown}",
        )


@dataclass(frozen=True, slots=True)
class _Spec:
    """A printed figure before pricing."""

    table: str
    label: str
    model: str
    family: str
    resolution: int
    published: float
    row_setting: str
    overrides: tuple[tuple[str, Any], ...] = ()
    modelled: bool = True


def _variant(row: Any) -> tuple[str, tuple] | None:
    """(base model, overrides) of an FCDM ablation row (``FCDM-S constant``), or None."""
    scale = row.model.split()[0].lower() if row.model.startswith("FCDM-") else ""
    width, depths = row.extra_value("hidden_channels"), row.extra_value("depths")
    if not scale or width is None or not isinstance(depths, str):
        return None
    stages = tuple(int(d) for d in depths.strip("[]").split(","))
    return (scale, (("width", int(width)), ("depths", stages))) if len(stages) == 5 else None


def published_figures(tables: tuple[str, ...]) -> list[_Spec]:
    """Every distinct throughput figure printed in `tables` (repeated rows counted once)."""
    from fcdmbench.errors import UnknownModelError
    from fcdmbench.paper_tables import ROWS
    from fcdmbench.registry import resolve

    specs: dict[tuple, _Spec] = {}
    for row in ROWS:
        if row.table not in tables or row.throughput_it_s is None:
            continue
        key = (row.table, row.model, row.resolution, row.throughput_it_s)
        if key in specs:
            continue
        variant = _variant(row)
        name, overrides = variant if variant else (row.model, ())
        label = row.model if variant else row.label  # "FCDM-S constant", not "Constant"
        try:
            family, modelled = resolve(name)[0].family, True
        except UnknownModelError:
            family, modelled = "", False
        specs[key] = _Spec(row.table, label, name, family, row.resolution,
                           row.throughput_it_s, row.setting, overrides, modelled)  # fmt: skip
    return list(specs.values())


def _devices(keys: tuple[str, ...]) -> list:
    from fcdmbench.devices import load_devices
    from fcdmbench.perfmodel.roofline import roofline_device

    if keys:
        return [roofline_device(k) for k in keys]
    table = [d for d in load_devices() if not d.is_calibrated and d.bandwidth_gbs is not None]
    return [roofline_device(d.key) for d in table]


def _autocast(read: Any) -> str | None:
    """The autocast dtype a setting's reading traces with (None: fp32)."""
    return {"bf16": "bfloat16", "fp16": "float16"}.get(read.precision.value)


def _trace_args(spec: _Spec, batch: int, autocast: str | None) -> tuple:
    """`cached_trace`'s arguments for `spec` under `autocast`."""
    return spec.model, spec.resolution, batch, autocast, spec.overrides


def _traces_of(spec: _Spec, settings: tuple[str, ...], batch: int) -> list[tuple]:
    """`cached_trace`'s arguments of every trace `_figure` prices `spec` with."""
    if not spec.modelled:
        return []
    autocasts = [None, *(_autocast(reading(s, spec.family)) for s in settings)]
    return [_trace_args(spec, batch, a) for a in dict.fromkeys(autocasts)]


def figure_bounds(spec: _Spec, devices: list, settings: tuple[str, ...], batch: int) -> list:
    """`AuditBound` of `spec` on every device under every setting."""
    from fcdmbench.perfmodel.roofline import bound_time, kernel_items
    from fcdmbench.perfmodel.trace_cache import cached_trace

    bounds = []
    for setting in settings:
        read = reading(setting, spec.family)
        trace = cached_trace(*_trace_args(spec, batch, _autocast(read)))
        by_units: dict[frozenset, Any] = {}
        for device in devices:
            units = frozenset(device.units_tflops)
            if units not in by_units:
                try:
                    by_units[units] = kernel_items(trace, read.precision, read.kernels, units)
                except ConfigError as exc:
                    by_units[units] = exc
            items = by_units[units]
            if isinstance(items, ConfigError):
                bounds.append(AuditBound(device.key, setting, None, None, note=items.message))
                continue
            time_s, memory_s = bound_time(items, device)
            rate = batch / time_s
            bounds.append(AuditBound(device.key, setting, rate, spec.published / rate,
                                     time_s - memory_s, memory_s))  # fmt: skip
    return bounds


def bounds_of(
    model: str, resolution: int, devices: tuple[str, ...], settings: tuple[str, ...], batch: int
) -> list[AuditBound]:
    """The bound of registered `model` on each device (keys) under each setting, as the audit
    prices a figure (``fraction`` is relative to 1 img/s: ignore it)."""
    from fcdmbench.registry import resolve

    spec = _Spec("", model, model, resolve(model)[0].family, resolution, 1.0, "")
    return figure_bounds(spec, _devices(devices), settings, batch)


def _arithmetic(spec: _Spec, bounds: list, batch: int) -> str:
    """Why an infeasible figure cannot be reached: its best bound, spelled out."""
    best = max((b for b in bounds if b.img_per_s), key=lambda b: b.img_per_s, default=None)
    if best is None:
        return "no modelled device runs any audited setting"
    need = batch / spec.published * 1e3
    return (
        f"{spec.published:g} it/s needs a batch of {batch} in {need:.1f} ms; the fastest bound, "
        f"{best.device} under {best.setting}, takes {(best.compute_s + best.memory_s) * 1e3:.1f} "
        f"ms ({best.compute_s * 1e3:.1f} ms compute-bound + {best.memory_s * 1e3:.1f} ms "
        f"memory-bound kernels) = {best.img_per_s:.1f} img/s"
    )


def _figure(spec: _Spec, devices: list, settings: tuple[str, ...], batch: int) -> AuditFigure:
    overrides = tuple(f"{k}={v}" for k, v in spec.overrides)
    if not spec.modelled:
        return AuditFigure(spec.table, spec.label, spec.model, spec.family, spec.resolution,
                           spec.published, spec.row_setting, False)  # fmt: skip
    from fcdmbench.perfmodel.trace_cache import cached_trace

    bounds = figure_bounds(spec, devices, settings, batch)
    gmacs = cached_trace(*_trace_args(spec, batch, None)).gmacs_per_image
    figure = AuditFigure(
        spec.table, spec.label, spec.model, spec.family, spec.resolution, spec.published,
        spec.row_setting, True, gmacs, spec.published * 2 * gmacs / 1e3, overrides, tuple(bounds),
    )  # fmt: skip
    if figure.infeasible:
        return dataclasses.replace(figure, arithmetic=_arithmetic(spec, bounds, batch))
    return figure


def _family_ranges(figures: list[AuditFigure], device: str, setting: str) -> str:
    names = {"dit": "DiT", "dic": "DiC", "dico": "DiCo", "dig": "DiG", "fcdm": "FCDM"}
    by_family: dict[str, list[float]] = defaultdict(list)
    for f in figures:
        b = f.bound(device, setting)
        if b is not None and b.fraction is not None:
            by_family[f.family].append(b.fraction)
    parts = []
    for family, values in by_family.items():
        lo, hi = min(values), max(values)
        span = f"{lo:.0%}" if round(lo, 2) == round(hi, 2) else f"{lo:.0%}-{hi:.0%}"
        parts.append(f"{names.get(family, family)} {span}")
    return ", ".join(parts) + " of bound"


def _score(bounds: list[AuditBound]) -> tuple[bool, float, float]:
    """(any compute-bound figure, largest and median fraction of the compute-bound figures, or
    of all figures when none is)."""

    compute = [b.fraction for b in bounds if b.compute_s >= b.memory_s]
    fractions = compute or [b.fraction for b in bounds]
    return bool(compute), max(fractions), statistics.median(fractions)


def _plausible(table: str, figures: list[AuditFigure], pairs: list[tuple[str, str]]) -> Plausible:
    """The table's most plausible (device, setting) (module docstring): among the pairs that
    explain every figure, the largest tightest fraction; within `TIE_MARGIN` of it, the largest
    median (the tightest fit over all compute-bound figures); the rest of those are ties."""
    scored = []
    for device, setting in pairs:
        bounds = [f.bound(device, setting) for f in figures]
        if all(b.fraction is not None for b in bounds):
            infeasible = sum(b.fraction > 1.0 for b in bounds)
            scored.append((infeasible, _score(bounds), device, setting))
    feasible = [s for s in scored if s[0] == 0]
    if feasible:
        evidence, best, _ = max(s[1] for s in feasible)
        near = [s for s in feasible if s[1][0] == evidence and s[1][1] >= best * (1 - TIE_MARGIN)]
        _, (_, best, _), device, setting = max(near, key=lambda s: s[1][2])
        ties = tuple(f"{d}/{t}" for _, _, d, t in near if (d, t) != (device, setting))
    else:  # nothing explains every figure: the pair with the fewest figures above their bounds
        _, (_, best, _), device, setting = min(scored, key=lambda s: (s[0], -s[1][1]))
        ties = ()
    evidence_text = f"{device}, {setting}: " + _family_ranges(figures, device, setting)
    return Plausible(table, device, setting, best, bool(feasible), evidence_text, ties)


def _ratios(figures: list[AuditFigure], pairs: list[tuple[str, str]]) -> list[AuditRatio]:
    def find(model: str, resolution: int) -> AuditFigure | None:
        table = _RATIO_TABLES[resolution]
        return next((f for f in figures if (f.table, f.model, f.resolution, f.overrides)
                     == (table, model, resolution, ())), None)  # fmt: skip

    both = [f.model for f in figures if f.table == "table4" and find(f.model, 256) is not None]
    drops = [(f"{find(m, 256).label} 256 px / 512 px (Tables 2, 4)", (m, 256), (m, 512))
             for m in both]  # fmt: skip
    out = []
    for claim, top, bottom in (*RATIOS, *drops):
        a, b = find(*top), find(*bottom)
        if a is None or b is None:
            continue
        for device, setting in pairs:
            ba, bb = a.bound(device, setting), b.bound(device, setting)
            ratio = ba.img_per_s / bb.img_per_s if ba.img_per_s and bb.img_per_s else None
            out.append(AuditRatio(claim, a.published_it_s / b.published_it_s, device, setting,
                                  ratio))  # fmt: skip
    return out


def _inconsistencies(figures: list[AuditFigure]) -> list[Inconsistency]:
    groups: dict[tuple, list[AuditFigure]] = defaultdict(list)
    for f in figures:
        groups[(f.model, f.resolution, f.overrides)].append(f)
    out = []
    for (model, resolution, _), members in groups.items():
        values = sorted({f.published_it_s for f in members})
        if len(values) < 2:
            continue
        printed = tuple(f"{f.table}: {f.published_it_s:g}" for f in members)
        label = members[0].label
        text = (
            f"{label} at {resolution} px is printed as "
            + " and ".join(
                f"{f.published_it_s:g} it/s ({f.table.replace('table', 'Table ')})" for f in members
            )  # fmt: skip
            + f": {values[-1] / values[0]:.2f}x apart for one model, resolution and batch"
        )
        out.append(Inconsistency(model, resolution, printed, text))
    return out


def run_audit(
    config: AuditConfig, progress: Callable[[str], None] = lambda message: None
) -> AuditRecord:
    """Audit every printed figure of `config.tables` (module docstring); the complete record."""
    from fcdmbench.env import collect_env
    from fcdmbench.perfmodel.trace_cache import prefetch
    from fcdmbench.records._base import RunInfo
    from fcdmbench.records.roofline import ASSUMPTIONS

    run = RunInfo.current()
    devices = _devices(config.devices)
    specs = published_figures(config.tables)
    figures = []
    traces = [_traces_of(spec, config.settings, config.batch) for spec in specs]
    with contextlib.closing(prefetch(traces)) as ready:  # the traces, on every CPU
        for index, spec in enumerate(specs, 1):
            if spec.modelled:
                progress(
                    f"[{index}/{len(specs)}] {spec.label} ({spec.table}, {spec.resolution} px)"
                )
            next(ready)
            figures.append(_figure(spec, devices, config.settings, config.batch))
    pairs = [(d.key, s) for d in devices for s in config.settings]
    modelled = [f for f in figures if f.modelled]
    plausible = [
        _plausible(t, [f for f in modelled if f.table == t], pairs)
        for t in config.tables
        if any(f.table == t for f in modelled)
    ]
    return AuditRecord(
        run=run,
        env=collect_env("cpu"),  # the meta device computes nothing; the host ran the traces
        batch=config.batch,
        tables=config.tables,
        devices=tuple(d.key for d in devices),
        settings=tuple(audit_setting(s) for s in config.settings),
        figures=tuple(figures),
        plausible=tuple(plausible),
        ratios=tuple(_ratios(modelled, pairs)),
        inconsistencies=tuple(_inconsistencies(figures)),
        assumptions=ASSUMPTIONS
        + (
            f"every figure at batch {config.batch} (the paper's), one network evaluation, no CFG",
            "most plausible = every figure of the table at or below its bound, tightest figure "
            f"closest to it; ties within {TIE_MARGIN:.0%}",
        ),
    )
