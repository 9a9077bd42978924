"""The seed paper's tables rebuilt from published rows, with measured values beside them.

A `ReportTable` is plain data (columns + rows); `fcdmbench.reporting.render` turns it into
markdown, CSV, LaTeX or HTML. A "paired" column holds a `Cell`: the published value as printed
and, where one exists, the measured value with its provenance ("meta", "h100-80gb-hbm3 bf16
bs64"); renderers add the delta.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from fcdmbench.paper_tables import ROWS
from fcdmbench.published import PublishedResult
from fcdmbench.reporting.collect import Measured, Measurements

__all__ = [
    "ABLATION_CONFIGS",
    "Cell",
    "Column",
    "ReportTable",
    "TABLE_BUILDERS",
    "build_tables",
]

GMACS_NOTE = (
    "GMACs = multiply-accumulates per image, one forward, batch 1, no CFG (DiT "
    'convention; the paper\'s "FLOPs (G)"). GFLOPs = 2 x GMACs. Measured GMACs: '
    '"meta" = FlopCounterMode / 2 on a meta-device model; "record" = a flops record.'
)
TP_NOTE = (
    "Throughput = images/s through one network evaluation (it/s), batch 64 in the paper; "
    "the paper's GPU and precision are not stated per row. Measured values name device, "
    'precision and batch; a delta is given only for GPU runs at batch 64 ("not comparable" '
    "otherwise: a CPU or small-batch figure is not the paper's quantity)."
)
METRIC_NOTE = (
    "Measured FID/IS/precision/recall get a delta only for FID-50K from trained weights, "
    'ADM-exact, against an ADM reference batch; otherwise "not comparable" (n = samples).'
)

#: Ablation configurations expressible as overrides of a registered model (for measured GMACs and
#: params). Configurations absent here (ResNet block, isotropic, no GRN, 2/4-level U-Nets) are
#: architectures fcdmbench does not build: their measured cells stay "—".
ABLATION_CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "FCDM-L 5x5 DWConv": ("fcdm-l", {"kernel_size": 5}),
    "FCDM-L 3x3 DWConv": ("fcdm-l", {"kernel_size": 3}),
    "FCDM-L asym. U-Net": ("fcdm-l", {"depths": (2, 3, 8, 5, 2)}),
    "FCDM-XL asym. U-Net": ("fcdm-xl", {"depths": (3, 3, 12, 9, 3)}),
    "FCDM-S constant": ("fcdm-s", {"width": 144, "depths": (4, 4, 4, 4, 4)}),
    "FCDM-S linear": ("fcdm-s", {"width": 136, "depths": (2, 4, 6, 4, 2)}),
    "FCDM-B constant": ("fcdm-b", {"width": 296, "depths": (4, 4, 4, 4, 4)}),
    "FCDM-B linear": ("fcdm-b", {"width": 272, "depths": (2, 4, 6, 4, 2)}),
    "FCDM-L constant": ("fcdm-l", {"width": 600, "depths": (4, 4, 4, 4, 4)}),
    "FCDM-L linear": ("fcdm-l", {"width": 552, "depths": (2, 4, 6, 4, 2)}),
}

#: DiT counterpart of each FCDM scale, for the Table 1 ratio column.
DIT_OF_SCALE = {
    "fcdm-s": "dit-s-2",
    "fcdm-b": "dit-b-2",
    "fcdm-l": "dit-l-2",
    "fcdm-xl": "dit-xl-2",
}


@dataclass(frozen=True, slots=True)
class Column:
    """A table column.

    Args:
        key: CSV name (``gmacs``); paired columns expand to ``gmacs_paper``, ``gmacs_measured``,
            ``gmacs_delta`` and ``gmacs_measured_on``.
        header: display header (``GMACs``).
        paired: cells are `Cell` (published + measured).
        digits: decimals of measured values.
        delta: ``"pct"`` (relative) or ``"abs"`` (difference).
    """

    key: str
    header: str
    paired: bool = False
    digits: int = 2
    delta: str = "pct"


@dataclass(frozen=True, slots=True)
class Cell:
    published: float | int | str | None
    measured: Measured | None = None


@dataclass(frozen=True, slots=True)
class ReportTable:
    key: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    notes: tuple[str, ...] = ()
    muted: tuple[bool, ...] = ()  # per row: shown greyed out (HTML) where True

    @property
    def measured_count(self) -> int:
        return sum(
            1 for row in self.rows for v in row if isinstance(v, Cell) and v.measured is not None
        )


def _rows(table: str) -> list[PublishedResult]:
    return [row for row in ROWS if row.table == table]


def _steps(steps: int | None) -> str:
    if steps is None:
        return "—"
    if steps >= 1_000_000:
        return f"{steps / 1_000_000:g}M"
    return f"{steps // 1000}K"


def _target(row: PublishedResult) -> tuple[str, dict[str, Any]]:
    """Registry name and overrides that reproduce the row's architecture (or the bare model)."""
    return ABLATION_CONFIGS.get(row.model, (row.model, {}))


def _gmacs(m: Measurements, row: PublishedResult) -> Cell:
    name, overrides = _target(row)
    return Cell(row.gmacs, m.gmacs(name, row.resolution, **overrides))


def _params(m: Measurements, row: PublishedResult) -> Cell:
    name, overrides = _target(row)
    return Cell(row.params_m, m.params_m(name, **overrides))


def _metric_cells(
    m: Measurements,
    row: PublishedResult,
    guided: bool,
    fields=("fid", "inception_score", "precision", "recall"),
) -> list[Cell]:
    point = m.evaluation(row.model, row.resolution, row.training_steps, guided)
    cells = []
    for name in fields:
        value = None if point is None else getattr(point, name)
        measured = None
        if value is not None:
            why = "" if point.is_paper_protocol else f"{point.num_samples} samples or not ADM-exact"
            measured = Measured(value, point.on, point.is_paper_protocol, why)
        cells.append(Cell(getattr(row, name, None), measured))  # no published FD-DINOv2
    return cells


FD_DINOV2_COLUMN = Column("fd_dinov2", "FD-DINOv2", True, 2, "abs")
FD_DINOV2_NOTE = (
    "FD-DINOv2 (Stein et al. 2023, as NVlabs/edm2 computes it) is measured only: the FCDM paper "
    "prints none, so its published cells stay empty."
)


def _fd_dinov2_parts(m: Measurements) -> tuple[tuple[str, ...], tuple[Column, ...], tuple]:
    """(extra metric fields, extra columns, extra notes): FD-DINOv2 where records have it."""
    if not m.has_fd_dinov2:
        return (), (), ()
    return ("fd_dinov2",), (FD_DINOV2_COLUMN,), (FD_DINOV2_NOTE,)


_METRIC_COLUMNS = (
    Column("fid", "FID", True, 2, "abs"),
    Column("inception_score", "IS", True, 2, "abs"),
    Column("precision", "Prec.", True, 2, "abs"),
    Column("recall", "Rec.", True, 2, "abs"),
)


def build_table1(m: Measurements) -> ReportTable:
    rows = []
    for row in _rows("table1"):
        gmacs = m.gmacs(row.model, 256)
        dit = m.gmacs(DIT_OF_SCALE[row.model], 256)
        ratio = (
            None
            if gmacs is None or dit is None
            else Measured(100 * gmacs.value / dit.value, "meta")
        )
        rows.append(
            (
                row.label,
                row.extra_value("blocks_l"),
                row.extra_value("hidden_channels"),
                _params(m, row),
                Cell(row.gmacs, gmacs),
                Cell(row.extra_value("flops_ratio_to_dit_pct"), ratio),
            )
        )
    return ReportTable(
        "table1",
        "Table 1: FCDM scales (ImageNet 256x256)",
        (
            Column("model", "Model"),
            Column("blocks_l", "Blocks L"),
            Column("hidden_channels", "Hidden C"),
            Column("params_m", "Params (M)", True, 1),
            Column("gmacs", "GMACs", True, 2),
            Column("ratio_pct", "FLOPs FCDM/DiT (%)", True, 1),
        ),
        tuple(rows),
        (
            GMACS_NOTE,
            "Measured ratio = measured FCDM GMACs / measured GMACs of DiT-*/2 at the "
            'same scale; "—" until that DiT model is registered.',
        ),
    )


def _benchmark_table(key: str, title: str, guided: bool, m: Measurements) -> ReportTable:
    fd_fields, fd_columns, fd_notes = _fd_dinov2_parts(m)
    rows = []
    for row in _rows(key):
        when = (
            (f"{row.epochs:g} ep" if row.epochs is not None else "—")
            if key == "table3"
            else _steps(row.training_steps)
        )
        rows.append(
            (
                row.label,
                when,
                _gmacs(m, row),
                Cell(row.throughput_it_s, m.throughput(row.model, row.resolution)),
                *_metric_cells(
                    m, row, guided, ("fid", "inception_score", "precision", "recall", *fd_fields)
                ),
            )
        )
    when_col = Column("epochs", "Epochs") if key == "table3" else Column("iters", "Iters")
    notes = [GMACS_NOTE, TP_NOTE, METRIC_NOTE, *fd_notes]
    notes.append(
        "With guidance (scale not printed in the paper)."
        if guided
        else "50K samples without guidance."
    )
    return ReportTable(
        key,
        title,
        (
            Column("model", "Model"),
            when_col,
            Column("gmacs", "GMACs", True, 2),
            Column("throughput_it_s", "Throughput (it/s)", True, 1),
            *_METRIC_COLUMNS,
            *fd_columns,
        ),
        tuple(rows),
        tuple(notes),
    )


def build_table5(m: Measurements) -> ReportTable:
    rows = tuple(
        (
            row.label,
            _steps(row.training_steps),
            _gmacs(m, row),
            row.fid,
            row.inception_score,
            row.precision,
            row.recall,
        )
        for row in _rows("table5")
    )
    return ReportTable(
        "table5",
        "Table 5: ablations on FCDM-L (ImageNet 256x256, 200K iters)",
        (
            Column("model", "Configuration"),
            Column("iters", "Iters"),
            Column("gmacs", "GMACs", True, 2),
            Column("fid", "FID"),
            Column("inception_score", "IS"),
            Column("precision", "Prec."),
            Column("recall", "Rec."),
        ),
        rows,
        (
            GMACS_NOTE,
            "Measured GMACs of ablations are counted on the registered model with config "
            "overrides (kernel size); ResNet-block, isotropic and no-GRN variants are not built.",
        ),
    )


def _steps_table(key: str, title: str, objective: str, m: Measurements) -> ReportTable:
    fd_fields, fd_columns, fd_notes = _fd_dinov2_parts(m)
    fields = ("fid", "sfid", "inception_score", "precision", "recall", *fd_fields)
    rows = []
    for row in _rows(key):
        guided_cells = (
            _metric_cells(m, row, False, fields)
            if objective == "diffusion"
            else [Cell(getattr(row, f, None)) for f in fields]
        )
        rows.append((row.label, _steps(row.training_steps), _gmacs(m, row), *guided_cells))
    return ReportTable(
        key,
        title,
        (
            Column("model", "Model"),
            Column("steps", "Training steps"),
            Column("gmacs", "GMACs", True, 2),
            Column("fid", "FID", True, 2, "abs"),
            Column("sfid", "sFID", True, 2, "abs"),
            Column("inception_score", "IS", True, 2, "abs"),
            Column("precision", "Prec.", True, 4, "abs"),
            Column("recall", "Rec.", True, 4, "abs"),
            *fd_columns,
        ),
        tuple(rows),
        (
            GMACS_NOTE,
            METRIC_NOTE,
            f"{objective.capitalize()} objective; 50K samples without guidance.",
            *fd_notes,
        ),
    )


def build_table9(m: Measurements) -> ReportTable:
    rows = tuple(
        (row.label, row.extra_value("vae"), _steps(row.training_steps), _gmacs(m, row), row.fid)
        for row in _rows("table9")
    )
    return ReportTable(
        "table9",
        "Table 9: autoencoder ablation (256x256)",
        (
            Column("model", "Model"),
            Column("vae", "VAE"),
            Column("iters", "Iters"),
            Column("gmacs", "GMACs", True, 2),
            Column("fid", "FID"),
        ),
        rows,
        (GMACS_NOTE,),
    )


def _architecture_table(key: str, title: str, note: str, m: Measurements) -> ReportTable:
    rows = []
    for row in _rows(key):
        name, _ = _target(row)
        registered_default = row.model == name  # throughput records exist only for real models
        tp = m.throughput(name, row.resolution) if registered_default else None
        rows.append(
            (
                row.label,
                row.extra_value("hidden_channels"),
                row.extra_value("depths"),
                _params(m, row),
                _gmacs(m, row),
                Cell(row.throughput_it_s, tp),
                row.fid,
            )
        )
    return ReportTable(
        key,
        title,
        (
            Column("model", "Configuration"),
            Column("hidden_channels", "Hidden C"),
            Column("depths", "Depths"),
            Column("params_m", "Params (M)", True, 1),
            Column("gmacs", "GMACs", True, 2),
            Column("throughput_it_s", "TP (it/s)", True, 1),
            Column("fid", "FID"),
        ),
        tuple(rows),
        (GMACS_NOTE, TP_NOTE, note),
    )


#: Tables 2-4, 7-8 and 10-11 share a layout each: the layout bound to a key, title and note.
build_table2 = partial(
    _benchmark_table, "table2", "Table 2: scalability on ImageNet 256x256 (w/o cfg)", False
)
build_table3 = partial(
    _benchmark_table, "table3", "Table 3: benchmark on ImageNet 256x256 (with guidance)", True
)
build_table4 = partial(
    _benchmark_table, "table4", "Table 4: benchmark on ImageNet 512x512 (w/o cfg)", False
)
build_table7 = partial(
    _steps_table, "table7", "Table 7: FCDM over training steps (diffusion, 256x256)", "diffusion"
)
build_table8 = partial(
    _steps_table,
    "table8",
    "Table 8: FCDM over training steps (flow matching, 256x256)",
    "flow matching",
)
build_table10 = partial(
    _architecture_table,
    "table10",
    "Table 10: U-Net ablations (256x256, 200K iters)",
    '2- and 4-level U-Nets are not built by fcdmbench: their measured cells stay "—".',
)
build_table11 = partial(
    _architecture_table,
    "table11",
    "Table 11: block-scaling strategies (256x256, 200K iters)",
    "Constant and linear variants are counted as FCDM configs with the printed width and depths.",
)

TABLE_BUILDERS: dict[str, Callable[[Measurements], ReportTable]] = {
    "table1": build_table1,
    "table2": build_table2,
    "table3": build_table3,
    "table4": build_table4,
    "table5": build_table5,
    "table7": build_table7,
    "table8": build_table8,
    "table9": build_table9,
    "table10": build_table10,
    "table11": build_table11,
}


def build_spectral_table(m: Measurements) -> ReportTable:
    """Figure 7's data (App. F) from spectral records: measured only, the paper prints a plot."""
    rows = []
    for source, record in m.records.spectral:
        for name in record.models:
            curve = record.curves[name].mean
            rows.append(
                (
                    name,
                    record.weights.get(name, ""),
                    record.resolution,
                    record.num_samples,
                    len(record.timesteps),
                    f"{curve[0]:.1f} (t={record.timesteps[0]})",
                    f"{curve[-1]:.1f} (t={record.timesteps[-1]})",
                    f"{min(curve):.1f}",
                    f"{max(curve):.1f}",
                    Path(source).name,
                )
            )
    return ReportTable(
        "fig7_spectral",
        "Figure 7 data: spectral energy of the predicted noise (measured; the paper prints a "
        "plot only)",
        (
            Column("model", "Model"),
            Column("weights", "Weights"),
            Column("resolution", "Res."),
            Column("num_samples", "Samples"),
            Column("timesteps", "Timesteps"),
            Column("first", "Energy at first t"),
            Column("last", "Energy at last t"),
            Column("min", "Min"),
            Column("max", "Max"),
            Column("record", "Record"),
        ),
        tuple(rows),
        (
            "Spectral energy = mean over samples of sum over channels and frequencies of "
            "log(1 + |FFT2(eps)|); the curves are in each record's CSV/PNG. Random-weight "
            "(smoke) runs test the pipeline, not a model.",
        ),
    )


def build_tables(m: Measurements, keys: tuple[str, ...] | None = None) -> list[ReportTable]:
    """Build the tables named by `keys` (default: all, in paper order; Figure 7's data table
    is added when spectral records were given)."""
    if keys is None:
        keys = tuple(TABLE_BUILDERS) + (("fig7_spectral",) if m.records.spectral else ())
    builders = {**TABLE_BUILDERS, "fig7_spectral": build_spectral_table}
    return [builders[key](m) for key in keys]
