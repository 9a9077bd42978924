"""Read measurement records leniently and answer "what was measured for this cell?".

Records come from other commands (``fcdmbench.flops/1``, ``fcdmbench.throughput/1``,
``fcdmbench.eval/1``); their schemas grow over time, so every field is optional here: a missing
field becomes None (printed "—") and one warning line, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "EvalPoint",
    "FlopsPoint",
    "Measured",
    "Measurements",
    "PRECISION_ORDER",
    "RecordSet",
    "ThroughputPoint",
    "load_records",
]

#: Which precision a table shows when several were measured (the chart shows all).
PRECISION_ORDER = ("paper-default", "tf32", "fp32-strict", "fp32", "bf16", "fp16")


@dataclass(frozen=True, slots=True)
class Measured:
    """One measured value and where it came from ("meta", "h100-80gb-hbm3 bf16 bs64")."""

    value: float
    on: str


@dataclass(frozen=True, slots=True)
class FlopsPoint:
    model: str
    resolution: int
    gmacs: float
    params: int | None
    source: str


@dataclass(frozen=True, slots=True)
class ThroughputPoint:
    model: str
    resolution: int
    batch: int | None
    precision: str
    device_name: str
    device_slug: str
    torch: str
    img_per_s: float
    iqr: float | None
    ms_per_forward: float | None
    peak_mem_gb: float | None
    source: str

    @property
    def on(self) -> str:
        batch = f" bs{self.batch}" if self.batch else ""
        return f"{self.device_slug} {self.precision}{batch}"


@dataclass(frozen=True, slots=True)
class EvalPoint:
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
    on: str
    source: str


@dataclass
class RecordSet:
    """Everything read from the record folders, plus the warnings reading produced."""

    flops: list[FlopsPoint] = field(default_factory=list)
    throughput: list[ThroughputPoint] = field(default_factory=list)
    evals: list[EvalPoint] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _canonical(name: Any) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return None
    from fcdmbench.errors import UnknownModelError
    from fcdmbench.registry import normalize_name, resolve

    try:
        return resolve(name)[0].name
    except UnknownModelError:
        return normalize_name(name)[0]


def _dig(obj: Any, *paths: str) -> Any:
    """First non-None value among dotted `paths` ("config.precision") in nested dicts."""
    for path in paths:
        value = obj
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("median", value.get("value"))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def load_records(
    dirs: Sequence[str | Path], warn: Callable[[str], None] | None = None
) -> RecordSet:
    """Read every ``*.json`` record under `dirs` (recursively); unreadable files are warnings.

    Args:
        dirs: folders or single files.
        warn: called with each warning line (they are also kept in ``RecordSet.warnings``).
    """
    found = RecordSet()

    def note(message: str) -> None:
        found.warnings.append(message)
        if warn is not None:
            warn(message)

    paths: list[Path] = []
    for entry in map(Path, dirs):
        if entry.is_file():
            paths.append(entry)
        elif entry.is_dir():
            paths.extend(sorted(entry.rglob("*.json")))
        else:
            note(f"records path {entry} does not exist; skipped")
    for path in paths:
        try:
            record = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            note(f"{path}: not readable JSON ({exc.__class__.__name__}); skipped")
            continue
        schema = str(record.get("schema", "")) if isinstance(record, dict) else ""
        kind = schema.split("/")[0]
        reader = _READERS.get(kind)
        if reader is None:
            note(f"{path}: schema {schema or 'missing'!r} is not one the report reads; skipped")
            continue
        found.files.append(path)
        reader(record, str(path), found, note)
    return found


def _read_flops(record: dict, source: str, found: RecordSet, note) -> None:
    for i, item in enumerate(_results(record, source, note)):
        model = _canonical(item.get("model"))
        gmacs = _number(item.get("gmacs"))
        if gmacs is None and _number(item.get("gflops")) is not None:
            gmacs = _number(item.get("gflops")) / 2
        batch = _int(item.get("batch")) or 1
        if model is None or gmacs is None:
            note(f"{source}: results[{i}] lacks model or gmacs/gflops; skipped")
            continue
        resolution = _int(item.get("resolution")) or _int(_dig(record, "config.resolution")) or 256
        found.flops.append(
            FlopsPoint(model, resolution, gmacs / batch, _int(item.get("params")), source)
        )


def _read_throughput(record: dict, source: str, found: RecordSet, note) -> None:
    precision = _dig(record, "config.precision") or "unknown"
    device_slug = _dig(record, "env.device_slug") or "unknown-device"
    if precision == "unknown" or device_slug == "unknown-device":
        note(f"{source}: precision or env.device_slug missing; shown as unknown")
    mode = _dig(record, "config.mode") or "infer"
    if mode != "infer":  # training throughput is a different quantity from the papers' it/s
        note(f"{source}: mode {mode!r} is not inference throughput; not shown in it/s columns")
        return
    for i, item in enumerate(_results(record, source, note)):
        if item.get("variant"):  # [ckpt-always], [cuda-graphs] rows: not the plain model
            continue
        model = _canonical(item.get("model"))
        img_per_s = _number(item.get("img_per_s_per_nfe")) or _number(item.get("img_per_s"))
        if model is None or img_per_s is None:
            note(f"{source}: results[{i}] lacks model or img_per_s_per_nfe.median; skipped")
            continue
        iqr = item.get("img_per_s_per_nfe")
        found.throughput.append(
            ThroughputPoint(
                model=model,
                resolution=_int(item.get("resolution"))
                or _int(_dig(record, "config.resolution"))
                or 256,
                batch=_int(item.get("batch")) or _int(_dig(record, "config.batch")),
                precision=str(item.get("precision") or precision),
                device_name=str(_dig(record, "env.device_name") or device_slug),
                device_slug=str(device_slug),
                torch=str(_dig(record, "env.torch") or ""),
                img_per_s=img_per_s,
                iqr=_number(iqr.get("iqr")) if isinstance(iqr, dict) else None,
                ms_per_forward=_number(item.get("ms_per_forward")),
                peak_mem_gb=_number(item.get("peak_mem_gb") or item.get("peak_mem_gib")),
                source=source,
            )
        )


def _read_eval(record: dict, source: str, found: RecordSet, note) -> None:
    model = _canonical(_dig(record, "model", "meta.model", "config.model"))
    if model is None:
        note(f"{source}: eval record names no model; it cannot be matched to a table row")
        return
    metrics = {
        k: _number(_dig(record, k, f"metrics.{k}", f"results.{k}"))
        for k in ("fid", "sfid", "inception_score", "precision", "recall")
    }
    if all(v is None for v in metrics.values()):
        note(f"{source}: eval record has no metrics; skipped")
        return
    device = _dig(record, "env.device_slug") or "unknown-device"
    found.evals.append(
        EvalPoint(
            model=model,
            resolution=_int(_dig(record, "resolution", "meta.resolution", "config.resolution"))
            or 256,
            cfg_scale=_number(_dig(record, "meta.cfg_scale", "cfg_scale", "config.cfg_scale")),
            training_steps=_int(
                _dig(record, "training_steps", "meta.training_steps", "config.training_steps")
            ),
            sampling_steps=_int(_dig(record, "meta.steps", "steps", "config.steps")),
            on=f"eval {device}",
            source=source,
            **metrics,
        )
    )


def _results(record: dict, source: str, note) -> Iterable[dict]:
    results = record.get("results")
    if not isinstance(results, list):
        note(f"{source}: no results[] list; skipped")
        return []
    return [item for item in results if isinstance(item, dict)]


_READERS = {
    "fcdmbench.flops": _read_flops,
    "fcdmbench.throughput": _read_throughput,
    "fcdmbench.eval": _read_eval,
}


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
        from fcdmbench.reporting.measure import is_registered

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
        """GMACs from a flops record (no overrides) or the meta-device count."""
        if not overrides:
            for point in self.records.flops:
                if point.model == name and point.resolution == resolution:
                    return Measured(point.gmacs, "record")
        count = self._meta(name, resolution, overrides)
        return None if count is None else Measured(count.gmacs, "meta")

    def params_m(self, name: str, **overrides: Any) -> Measured | None:
        """Exact parameters (millions), counted on the meta-device model."""
        count = self._meta(name, 256, overrides)
        return None if count is None else Measured(count.params / 1e6, "meta")

    def throughput(self, name: str, resolution: int = 256) -> Measured | None:
        """Headline measured images/s per network evaluation: first device, preferred precision."""
        points = [
            p for p in self.records.throughput if p.model == name and p.resolution == resolution
        ]
        if not points:
            return None
        rank = {p: i for i, p in enumerate(PRECISION_ORDER)}
        best = min(points, key=lambda p: (p.device_slug, rank.get(p.precision, 99), p.source))
        return Measured(best.img_per_s, best.on)

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
