"""Read records for the report and answer "what was measured for this cell, and is it comparable?".

Records are read only through `fcdmbench.records` (typed, validated, older schemas refused). A
path the user names that is missing, unreadable or not a record is an `InputError` (exit 3): a
report silently built without the numbers asked for would be wrong. Inside a folder, JSON files
that are not fcdmbench records (e.g. a sampling run's shard fingerprint) and earlier reports'
manifests are skipped with a warning; a file that claims an fcdmbench schema but fails
validation is an error.

Honest comparison (`Measured.comparable`): a measured value gets a delta against a published one
only when device class and convention match the paper's: throughput on a GPU at the paper's batch
(64), inference, no CFG, same resolution; FID & co. on 50,000 samples, ADM-exact, against an ADM
reference batch, from trained weights. Otherwise it is shown beside the published value, labelled
with its device, precision and batch (or sample count), and no delta.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcdmbench.errors import InputError, UnknownModelError
from fcdmbench.records.evaluation import EvalRecord
from fcdmbench.records.flops import FlopsRecord
from fcdmbench.records.io import read_json, record_from_json
from fcdmbench.records.memory import MemoryRecord
from fcdmbench.records.report import ReportManifest
from fcdmbench.records.roofline import RooflineRecord, TrainRooflineRecord
from fcdmbench.records.sampling import SampleRecord, SpectralRecord
from fcdmbench.records.throughput import BaselineRecord, ThroughputPoint, ThroughputRecord
from fcdmbench.registry import normalize_name, resolve
from fcdmbench.reporting.measure import is_registered

__all__ = [
    "EvalPoint",
    "FlopsPoint",
    "Measured",
    "Measurements",
    "PAPER_THROUGHPUT_BATCH",
    "PRECISION_ORDER",
    "RecordSet",
    "ThroughputPoint",
    "load_records",
    "throughput_comparable",
]

#: Which precision a table shows when several were measured (the chart shows all).
PRECISION_ORDER = ("paper-default", "tf32", "fp32-strict", "fp32", "bf16", "fp16")
#: The seed paper's throughput batch (App. C: "the sampling configurations of DiT with a batch
#: size of 64"); its GPU is not stated per row, so any GPU is the same device class.
PAPER_THROUGHPUT_BATCH = 64


@dataclass(frozen=True, slots=True)
class Measured:
    """One measured value, where it came from, and whether a delta against the paper is honest.

    Args:
        value: the number.
        on: provenance printed beside it ("meta", "h100-80gb-hbm3 bf16 bs64", "eval cpu-x n=8").
        comparable: same device class and convention as the published value (delta shown).
        why: when not comparable, the reason (for notes and tooltips).
    """

    value: float
    on: str
    comparable: bool = True
    why: str = ""


@dataclass(frozen=True, slots=True)
class FlopsPoint:
    """GMACs per image of one model from a flops record (never divided by the batch again)."""

    model: str
    resolution: int
    gmacs: float
    params: int | None
    counter: str
    source: str


@dataclass(frozen=True, slots=True)
class EvalPoint:
    """The metrics of one eval record, placed by model, resolution, training steps, guidance."""

    model: str
    resolution: int
    fid: float | None
    sfid: float | None
    inception_score: float | None
    precision: float | None
    recall: float | None
    cfg_scale: float | None
    training_steps: int | None
    sampling_steps: int | None
    num_samples: int
    is_paper_protocol: bool
    on: str
    source: str
    fd_dinov2: float | None = None  # measured only: the FCDM paper prints no FD-DINOv2


@dataclass
class RecordSet:
    """Everything read from the record paths, plus the warnings reading produced."""

    flops: list[FlopsPoint] = field(default_factory=list)
    throughput: list[ThroughputPoint] = field(default_factory=list)
    evals: list[EvalPoint] = field(default_factory=list)
    samples: list[tuple[str, SampleRecord]] = field(default_factory=list)
    spectral: list[tuple[str, SpectralRecord]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _record_paths(entries: Sequence[str | Path]) -> list[tuple[Path, bool]]:
    """(path, named explicitly) for every file to read; a missing entry is an error."""
    paths: list[tuple[Path, bool]] = []
    for entry in map(Path, entries):
        if entry.is_file():
            paths.append((entry, True))
        elif entry.is_dir():
            paths.extend((p, False) for p in sorted(entry.rglob("*.json")) if p.is_file())
        elif entry.exists():
            raise InputError(f"--records {entry} is neither a file nor a folder")
        else:
            raise InputError(
                f"--records {entry} does not exist",
                hint="name record files (.json) or folders holding them",
            )
    return paths


def _is_fcdmbench_json(obj: Any) -> bool:
    return isinstance(obj, dict) and str(obj.get("schema", "")).startswith("fcdmbench.")


def load_records(
    entries: Sequence[str | Path], warn: Callable[[str], None] | None = None
) -> RecordSet:
    """Read every record named by `entries` (files, or folders searched for ``*.json``).

    Args:
        entries: record files or folders.
        warn: called with each warning line (also kept in ``RecordSet.warnings``).

    Raises:
        InputError: a named path is missing, unreadable or not a record; a file in a folder
            claims an fcdmbench schema but fails validation (the message names file and field).
    """
    found = RecordSet()

    def note(message: str) -> None:
        found.warnings.append(message)
        if warn is not None:
            warn(message)

    for path, explicit in _record_paths(entries):
        if explicit:
            obj = read_json(path)
        else:
            try:
                obj = json.loads(path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                obj = None
            if not _is_fcdmbench_json(obj):
                note(f"{path}: not an fcdmbench record; skipped")
                continue
        record = record_from_json(obj, source=path)
        if isinstance(record, ReportManifest):
            note(f"{path}: a report manifest (an output, not a measurement); skipped")
            continue
        if isinstance(record, (RooflineRecord, TrainRooflineRecord, MemoryRecord)):
            note(
                f"{path}: a {record.kind()} record (a model, not a measurement; the claims "
                "section computes its own); skipped"
            )
            continue
        found.files.append(path)
        _add(record, str(path), found, note)
    return found


def _canonical(name: str) -> str:

    try:
        return resolve(name)[0].name
    except UnknownModelError:
        return normalize_name(name)[0]


def _add(record: Any, source: str, found: RecordSet, note: Callable[[str], None]) -> None:
    if isinstance(record, FlopsRecord):
        for r in record.results:
            if r.overrides:  # an ablation configuration is not the registered model
                continue
            found.flops.append(
                FlopsPoint(_canonical(r.model), r.resolution, r.gmacs, r.params, r.counter, source)
            )
    elif isinstance(record, (ThroughputRecord, BaselineRecord)):
        if isinstance(record, BaselineRecord):
            record = record.record
        if (mode := record.config.mode.value) != "infer":
            note(f"{source}: mode {mode!r} is not inference throughput; not shown")
            return
        for point in record.points(source=source):
            found.throughput.append(_with_model(point, _canonical(point.model)))
    elif isinstance(record, EvalRecord):
        _add_eval(record, source, found, note)
    elif isinstance(record, SampleRecord):
        found.samples.append((source, record))
    elif isinstance(record, SpectralRecord):
        found.spectral.append((source, record))


def _with_model(point: ThroughputPoint, model: str) -> ThroughputPoint:

    return point if point.model == model else dataclasses.replace(point, model=model)


def _add_eval(record: EvalRecord, source: str, found: RecordSet, note) -> None:
    if record.model is None:
        note(
            f"{source}: the eval record names no model (no sampling record beside the npz, no "
            "--model); it cannot be placed in a table row"
        )
        return
    smoke = record.sampler is not None and bool(record.sampler.smoke)
    on = f"eval {record.env.device_slug} n={record.num_samples}" + (" smoke" if smoke else "")
    found.evals.append(
        EvalPoint(
            model=_canonical(record.model),
            resolution=record.resolution,
            fid=record.fid,
            sfid=record.sfid,
            inception_score=record.inception_score,
            precision=record.precision,
            recall=record.recall,
            cfg_scale=record.cfg_scale,
            training_steps=record.training_steps,
            sampling_steps=None if record.sampler is None else record.sampler.steps,
            num_samples=record.num_samples,
            is_paper_protocol=record.is_paper_protocol,
            on=on,
            source=source,
            fd_dinov2=None if record.fd_dinov2 is None else record.fd_dinov2.value,
        )
    )


def throughput_comparable(point: ThroughputPoint, resolution: int) -> tuple[bool, str]:
    """Whether `point` measures what the paper's throughput column measures (and why not)."""
    if not point.is_gpu:
        return False, f"measured on {point.device_type.upper()}, the paper on a GPU"
    if point.batch != PAPER_THROUGHPUT_BATCH:
        return False, f"batch {point.batch}, the paper {PAPER_THROUGHPUT_BATCH}"
    if point.cfg or point.mode != "infer":
        return False, "not one plain network evaluation"
    if point.resolution != resolution:
        return False, f"{point.resolution} px, the paper {resolution} px"
    return True, ""


class Measurements:
    """Measured values for table cells: records first, then instant meta-device counts.

    Args:
        records: what `load_records` found.
        count: ``(name, resolution, **overrides) -> MetaCount``; None disables meta counting.
        warn: receives one line per failed count.
    """

    def __init__(
        self,
        records: RecordSet | None = None,
        count: Callable | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.records = records or RecordSet()
        self._count = count
        self._warn = warn or (lambda message: None)
        self._failed: set[tuple] = set()

    def _meta(self, name: str, resolution: int, overrides: dict) -> Any:
        if self._count is None:
            return None

        if not is_registered(name):
            return None
        key = (name, resolution, tuple(sorted(overrides.items())))
        if key in self._failed:
            return None
        try:
            return self._count(name, resolution, **overrides)
        except Exception as exc:  # a model that cannot be built must not sink the report
            self._failed.add(key)
            self._warn(f"meta count of {name} @ {resolution} {overrides or ''} failed: {exc}")
            return None

    def gmacs(self, name: str, resolution: int = 256, **overrides: Any) -> Measured | None:
        """GMACs per image from a flops record (no overrides) or the meta-device count."""
        if not overrides:
            for point in reversed(self.records.flops):  # the latest record wins
                if point.model == name and point.resolution == resolution:
                    return Measured(point.gmacs, "record")
        count = self._meta(name, resolution, overrides)
        return None if count is None else Measured(count.gmacs, "meta")

    def params_m(self, name: str, **overrides: Any) -> Measured | None:
        """Exact parameters (millions), counted on the meta-device model."""
        count = self._meta(name, 256, overrides)
        return None if count is None else Measured(count.params / 1e6, "meta")

    def throughput(self, name: str, resolution: int = 256) -> Measured | None:
        """Headline measured images/s per network evaluation for a table cell.

        Comparable points (GPU, batch 64) come first; then the preferred precision
        (`PRECISION_ORDER`), device, the batch nearest the paper's, and source, so the choice is
        deterministic.
        """
        rank = {p: i for i, p in enumerate(PRECISION_ORDER)}
        candidates = []
        for p in self.records.throughput:
            if p.model != name or p.resolution != resolution or p.variant:
                continue
            ok, why = throughput_comparable(p, resolution)
            batch_gap = abs((p.batch or 0) - PAPER_THROUGHPUT_BATCH)
            key = (not ok, rank.get(p.precision, 99), p.device_slug, batch_gap, p.source)
            candidates.append((key, p, ok, why))
        if not candidates:
            return None
        _, best, ok, why = min(candidates, key=lambda c: c[0])
        return Measured(best.img_per_s, best.on, ok, why)

    @property
    def has_fd_dinov2(self) -> bool:
        """Whether any eval record carries FD-DINOv2 (the tables then show its column)."""
        return any(p.fd_dinov2 is not None for p in self.records.evals)

    def evaluation(
        self, name: str, resolution: int, training_steps: int | None, guided: bool
    ) -> EvalPoint | None:
        """Latest eval record for the model at `training_steps` (any when None), with or w/o CFG."""
        for point in reversed(self.records.evals):
            if point.model != name or point.resolution != resolution:
                continue
            is_guided = point.cfg_scale is not None and point.cfg_scale > 1.0
            if is_guided != guided:
                continue
            if training_steps is not None and point.training_steps not in (None, training_steps):
                continue
            if training_steps is not None and point.training_steps is None and not guided:
                continue
            return point
        return None
