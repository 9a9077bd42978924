"""`fcdmbench report`: rebuild the seed paper's tables and figures from published rows, records
and instant meta-device FLOP counts; write markdown, CSV, LaTeX and one self-contained HTML page.

Nothing heavy runs here: no GPU, no network, no sampling. Records are read through
`fcdmbench.records` (`fcdmbench.reporting.collect`); the only computation is `measure.meta_gmacs`.

Example:
    >>> from fcdmbench.reporting.report import ReportConfig, build_report
    >>> result = build_report(ReportConfig(out=Path("reports/demo")))  # doctest: +SKIP
"""

from __future__ import annotations

import enum
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from fcdmbench.env import _cpu_name, device_slug
from fcdmbench.env import torch_tag as torch_version_tag
from fcdmbench.errors import ConfigError, InputError
from fcdmbench.files import current_umask, prepare_output, write_text_atomic
from fcdmbench.records._base import RunInfo
from fcdmbench.records.io import write_record
from fcdmbench.records.report import ReportManifest
from fcdmbench.reporting import render
from fcdmbench.reporting.claims import claim_tables, published_bounds, report_audit
from fcdmbench.reporting.collect import Measurements, load_records
from fcdmbench.reporting.figures.plots import build_figures
from fcdmbench.reporting.measure import meta_gmacs
from fcdmbench.reporting.tables import build_tables

__all__ = ["ReportConfig", "ReportFormat", "ReportResult", "build_report", "report_dir_name"]


class ReportFormat(enum.Enum):
    MD = "md"
    CSV = "csv"
    TEX = "tex"
    HTML = "html"


ALL_FORMATS = tuple(ReportFormat)


@dataclass(frozen=True, slots=True)
class ReportConfig:
    """What to read and where to write.

    Args:
        records: folders or files holding ``fcdmbench.*`` JSON records (may be empty).
        out: output folder; None names one under `root` by environment.
        formats: output formats; figures are always written (PNG + SVG).
        root: parent of the environment-named folder.
        use_meta: count GMACs/params of registered models on the meta device (needs torch).
        date: ``YYYY-MM-DD`` for the folder name (default: today).
    """

    records: tuple[Path, ...] = ()
    out: Path | None = None
    formats: tuple[ReportFormat, ...] = ALL_FORMATS
    root: Path = Path("reports")
    use_meta: bool = True
    date: str | None = None

    def __post_init__(self) -> None:
        if not self.formats:
            raise ConfigError("formats is empty", hint="use --format md,csv,tex,html")
        bad = [f for f in self.formats if not isinstance(f, ReportFormat)]
        if bad:
            raise ConfigError(
                f"unknown report format(s) {bad}",
                hint=f"choose from {', '.join(f.value for f in ReportFormat)}",
            )
        if self.date is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", self.date):
            raise ConfigError(f"date must be YYYY-MM-DD, got {self.date!r}")


@dataclass(frozen=True, slots=True)
class ReportResult:
    out_dir: Path
    files: tuple[Path, ...]
    tables: tuple[str, ...]
    figures: tuple[str, ...]
    measured_cells: int
    records_read: int
    warnings: tuple[str, ...] = field(default=())

    def to_record(self) -> dict:
        return {
            "out_dir": str(self.out_dir),
            "files": [str(f) for f in self.files],
            "tables": list(self.tables),
            "figures": list(self.figures),
            "measured_cells": self.measured_cells,
            "records_read": self.records_read,
            "warnings": list(self.warnings),
        }


def _short_cpu_slug(slug: str) -> str:
    """'cpu-intel-xeon-platinum-8375c' -> 'cpu-xeon'."""
    noise = {"cpu", "intel", "amd", "r", "tm", "genuine", "authentic"}
    tokens = [t for t in slug.split("-") if t and t not in noise]
    return "cpu-" + (tokens[0] if tokens else "unknown")


def report_dir_name(records, local_slug: str, torch_tag: str, use_meta: bool, day: str) -> str:
    """``2026-11-22-cpu-xeon-published+meta-pt2.13`` or ``...-h100-80gb-hbm3-bf16+tf32-pt2.13``."""
    points = records.throughput
    if not points:
        mode = "published+meta" if use_meta else "published"
        return f"{day}-{_short_cpu_slug(local_slug)}-{mode}-{torch_tag}"
    slugs = "+".join(sorted({p.device_slug for p in points}))
    precisions = "+".join(sorted({p.precision for p in points}))
    versions = sorted({p.torch for p in points if p.torch})
    tag = torch_version_tag(versions[0]) if versions else torch_tag
    return re.sub(r"[^A-Za-z0-9.+_-]", "-", f"{day}-{slugs}-{precisions}-{tag}")


def _local_env(use_meta: bool) -> tuple[str, str]:
    """(device slug, torch tag) of this machine; torch is imported only when counting."""
    torch_tag = "pt-none"
    if use_meta:
        import torch

        torch_tag = torch_version_tag(torch.__version__)
    return "cpu-" + device_slug(_cpu_name("cpu")), torch_tag


def _stderr_warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _staging_dir(out_dir: Path) -> Path:
    """An empty temporary folder beside `out_dir` (same filesystem: the final rename is atomic)."""

    parent = out_dir.parent
    if not out_dir.is_dir():
        prepare_output(out_dir)  # the output-path rule: a missing parent only under the cwd
    if out_dir.is_file():
        raise InputError(f"--out {out_dir} is a file, not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "manifest.json").is_file():
        raise InputError(
            f"--out {out_dir} exists and is not an fcdmbench report (no manifest.json)",
            hint="choose another --out; a report replaces only an earlier report",
        )
    return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=parent))


def _move_into_place(staging: Path, out_dir: Path) -> None:
    """Replace `out_dir` (absent, empty or an earlier report) by `staging`."""

    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
        os.replace(out_dir, old / out_dir.name)
    try:
        os.replace(staging, out_dir)
    except BaseException:
        if old is not None:
            os.replace(old / out_dir.name, out_dir)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    os.chmod(out_dir, 0o777 & ~current_umask())


def build_report(
    config: ReportConfig, warn: Callable[[str], None] | None = None, count: Callable | None = None
) -> ReportResult:
    """Read records, build every table and figure, write the requested formats.

    The report is built in a temporary folder beside the output folder and renamed into place
    only when complete: an interrupted or failing build leaves nothing behind, and an earlier
    report in the same folder stays until the new one is whole.

    Args:
        config: the report configuration.
        warn: receives warning lines (default: print to stderr).
        count: meta counter override (tests); default `measure.meta_gmacs` when
            ``config.use_meta``.

    Returns:
        A `ReportResult` listing what was written.

    Raises:
        InputError: a records path is missing, unreadable or not a record (exit 3); the output
            folder exists and is not a report.
    """

    run = RunInfo.current()
    warnings: list[str] = []

    def note(message: str) -> None:
        warnings.append(message)
        (warn or _stderr_warn)(message)

    records = load_records(config.records, warn=note)
    if count is None and config.use_meta:
        count = meta_gmacs
    measurements = Measurements(records, count=count if config.use_meta else None, warn=note)
    local_slug, torch_tag = _local_env(config.use_meta)
    day = config.date or date.today().isoformat()
    out_dir = config.out or config.root / report_dir_name(
        records, local_slug, torch_tag, config.use_meta, day
    )
    staging = _staging_dir(out_dir)
    try:
        tables = build_tables(measurements)
        tables += claim_tables(config.use_meta)  # efficiency claims vs the models (claims.py)
        bounds = published_bounds(report_audit(config.use_meta))  # published bars' bounds
        figures = build_figures(staging / "figures", measurements, bounds)
        files: list[Path] = [p for f in figures for p in (f.png, f.svg)]
        title = f"fcdmbench report: {out_dir.name}"
        preamble = _preamble(records, config, local_slug, torch_tag)
        files += _write_formats(staging, config.formats, title, preamble, tables, figures, records)
        relative = tuple(str(f.relative_to(staging)) for f in files)
        manifest = ReportManifest(
            run=run,
            files=relative,
            tables=tuple(t.key for t in tables),
            figures=tuple(f.key for f in figures),
            measured_cells=sum(t.measured_count for t in tables),
            inputs=tuple(str(p) for p in records.files),
            warnings=tuple(warnings),
            local_device=local_slug,
            torch=torch_tag,
        )
        write_record(staging / "manifest.json", manifest)
        _move_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ReportResult(
        out_dir=out_dir,
        files=tuple(out_dir / f for f in relative),
        tables=manifest.tables,
        figures=manifest.figures,
        measured_cells=manifest.measured_cells,
        records_read=len(records.files),
        warnings=tuple(warnings),
    )


def _write_formats(staging, formats, title, preamble, tables, figures, records) -> list[Path]:
    """Write the requested formats of the report into `staging`: markdown, one CSV per table
    (plus every record's numbers in ``records.csv``), LaTeX, HTML; the files written."""
    files = []
    if ReportFormat.MD in formats:
        md = [f"# {title}", "", *[f"{p}\n" for p in preamble]]
        md += [render.table_to_markdown(t) for t in tables]
        md += [f"![{f.caption}](figures/{f.png.name})\n\n*{f.caption}*\n" for f in figures]
        files.append(_write(staging / "report.md", "\n".join(md)))
    if ReportFormat.CSV in formats:
        files += [
            _write(staging / "tables" / f"{t.key}.csv", render.table_to_csv(t)) for t in tables
        ]
        if records.files:  # every number the records hold, in one tidy table
            files.append(_write(staging / "records.csv", render.records_to_csv(records.files)))
    if ReportFormat.TEX in formats:
        tex = [
            "% fcdmbench report; needs \\usepackage{booktabs}",
            *map(render.table_to_latex, tables),
        ]
        files.append(_write(staging / "report.tex", "\n".join(tex)))
    if ReportFormat.HTML in formats:
        page = render.tables_to_html(title, preamble, tables, [(f.caption, f.png) for f in figures])
        files.append(_write(staging / "report.html", page))
    return files


def _preamble(records, config: ReportConfig, local_slug: str, torch_tag: str) -> list[str]:
    measured = []
    if config.use_meta:
        measured.append(
            f"GMACs and params of registered models counted on the meta device "
            f"(FlopCounterMode / 2, {torch_tag}, host {local_slug})"
        )
    if records.throughput:
        envs = sorted({f"{p.device_name} [{p.precision}]" for p in records.throughput})
        measured.append("throughput from records on " + ", ".join(envs))
    if records.evals:
        measured.append(f"{len(records.evals)} eval record(s)")
    if records.spectral:
        measured.append(f"{len(records.spectral)} spectral record(s) (Figure 7 data table)")
    if records.samples:
        measured.append(
            f"{len(records.samples)} sample record(s) (settings only: metrics come from "
            "`fcdmbench eval`)"
        )
    return [
        "Published values are shown exactly as the paper printed them (source: the seed paper, "
        "FCDM arXiv 2603.09408, unless noted); measured values sit beside them with their "
        "provenance and the delta (measured - published) where the two measure the same thing "
        '(same device class and convention; else "not comparable"). '
        '"—" = not printed / not measured.',
        "Units: GMACs = multiply-accumulates per image, batch 1, one forward, no CFG (DiT "
        'convention; the paper\'s "FLOPs (G)"); GFLOPs = 2 x GMACs. Throughput = images/s per '
        "network evaluation. Training cost assumes 1 iteration = 3 forward passes.",
        "Measured here: " + ("; ".join(measured) if measured else "nothing (published only)") + ".",
        f"Records read: {len(records.files)} file(s) from "
        f"{', '.join(map(str, config.records)) or 'none'}.",
    ]


def _write(path: Path, text: str) -> Path:

    return write_text_atomic(path, text, make_parents=True)
