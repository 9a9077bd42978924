"""What the report figures draw: published rows looked up by table, and measured points read
from `Measurements`, grouped so that records of different device, precision, batch or torch never
merge (each is its own series, named in its legend entry).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from fcdmbench.paper_tables import ROWS
from fcdmbench.published import PublishedResult
from fcdmbench.reporting.collect import EvalPoint, FlopsPoint, Measurements, ThroughputPoint

__all__ = [
    "PUBLISHED_THROUGHPUT",
    "ThroughputSeries",
    "eval_label",
    "eval_records",
    "flops_records",
    "off_protocol_note",
    "published_row",
    "published_throughput",
    "series_labels",
    "throughput_series",
]

#: Published throughput per resolution: the seed paper's table for it (batch 64, GPU not stated).
PUBLISHED_THROUGHPUT = {256: "table2", 512: "table4"}


def published_row(table: str, model: str) -> PublishedResult | None:
    """The first row of `table` for `model` at 400K training iterations."""
    for row in ROWS:
        if row.table == table and row.model == model and row.training_steps == 400_000:
            return row
    return None


def published_throughput(resolution: int) -> dict[str, PublishedResult]:
    """model -> first published row with throughput at `resolution` (Table 2 or 4)."""
    table = PUBLISHED_THROUGHPUT.get(resolution)
    out: dict[str, PublishedResult] = {}
    for r in ROWS:
        if r.table == table and r.resolution == resolution and r.throughput_it_s:
            out.setdefault(r.model, r)
    return out


@dataclass(frozen=True, slots=True)
class ThroughputSeries:
    """Throughput records that share device, precision, batch, resolution and torch: one series.

    `points` maps model -> the point shown; `superseded` counts points of a model this series
    already had, replaced by a later record (file order) and named in the caption.
    """

    device_slug: str
    device_name: str
    precision: str
    batch: int | None
    resolution: int
    torch: str
    cfg: bool
    points: dict[str, ThroughputPoint]
    superseded: int
    sources: tuple[str, ...]

    def label(self, with_torch: bool = False) -> str:
        batch = f"batch {self.batch}" if self.batch else "batch not recorded"
        precision = self.precision or "precision not recorded"
        base = f"measured ({self.device_slug}, {precision}, {batch})"
        if self.cfg:  # per guided image (2 rows per call): not one plain network evaluation
            base = f"{base[:-1]}, with cfg)"
        return f"{base[:-1]}, torch {self.torch})" if with_torch and self.torch else base


def throughput_series(m: Measurements) -> list[ThroughputSeries]:
    """Group throughput points into series; never merges two batches, precisions or devices."""
    groups: dict[tuple, list[ThroughputPoint]] = defaultdict(list)
    for p in m.records.throughput:
        groups[(p.resolution, p.device_slug, p.precision, p.batch or 0, p.torch, p.cfg)].append(p)
    out = []
    for (resolution, slug, precision, batch, torch, cfg), points in sorted(groups.items()):
        chosen: dict[str, ThroughputPoint] = {}
        for p in points:
            chosen[p.model] = p
        out.append(
            ThroughputSeries(
                device_slug=slug,
                device_name=points[0].device_name,
                precision=precision,
                batch=batch or None,
                resolution=resolution,
                torch=torch,
                cfg=cfg,
                points=chosen,
                superseded=len(points) - len(chosen),
                sources=tuple(dict.fromkeys(p.source for p in points)),
            )
        )
    return out


def series_labels(series: Sequence[ThroughputSeries]) -> list[str]:
    """Series labels; torch is added where two series would otherwise read the same."""
    base = [s.label() for s in series]
    return [s.label(with_torch=base.count(b) > 1) for s, b in zip(series, base, strict=True)]


def flops_records(m: Measurements) -> dict[str, FlopsPoint]:
    """GMACs at 256 px from flops records (not the report's own meta counts), last file wins."""
    return {p.model: p for p in m.records.flops if p.resolution == 256}


def eval_records(
    m: Measurements, guided: bool, training_steps: int | None = None
) -> list[EvalPoint]:
    """Evals at 256 px with a FID at the paper's protocol (50K samples, ADM-exact: FID-50K axes
    take no other; the tables show them), guided (cfg > 1) or not, of `training_steps` if set."""
    out = []
    for e in m.records.evals:
        if e.fid is None or e.resolution != 256 or not e.is_paper_protocol:
            continue
        if (e.cfg_scale is not None and e.cfg_scale > 1.0) != guided:
            continue
        if training_steps is not None and e.training_steps != training_steps:
            continue
        out.append(e)
    return out


def off_protocol_note(m: Measurements) -> str:
    """The caption sentence naming the eval records left off the FID-50K axes ('' if none)."""
    n = sum(1 for e in m.records.evals if e.fid is not None and not e.is_paper_protocol)
    if not n:
        return ""
    return (
        f" Not drawn: {n} eval record(s) not at the paper's protocol (50K samples, ADM-exact "
        "evaluator), whose FID is not FID-50K; the tables list them."
    )


def eval_label(e: EvalPoint) -> str:
    steps = f", {e.sampling_steps} sampling steps" if e.sampling_steps else ""
    cfg = f", cfg {e.cfg_scale:g}" if e.cfg_scale is not None and e.cfg_scale > 1.0 else ""
    return f"measured FID ({e.on}{steps}{cfg})"
