"""The real output of each command fed into `fcdmbench report`, checking the exact cells.

flops -> report, throughput (CPU, tiny protocol) -> report, analyze spectral --smoke -> report.
(sample --smoke + eval -> report is in tests/evaluation/test_evaluate.py, beside the stand-in
Inception graph it needs.)
"""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch
from typer.testing import CliRunner

from fcdmbench.cli.main import app
from fcdmbench.records.flops import FlopsRecord
from fcdmbench.records.io import read_record
from fcdmbench.records.sampling import SpectralRecord
from fcdmbench.records.throughput import ThroughputRecord

runner = CliRunner()


def _report(tmp_path, *records) -> dict:
    out = tmp_path / "report"
    args = ["report", "--no-meta", "--format", "md,csv", "--out", str(out), "--json"]
    for record in records:
        args += ["--records", str(record)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return {"out": out, "summary": json.loads(result.stdout), "md": (out / "report.md").read_text()}


def _csv_row(out, table: str, label: str, iters: str = "400K") -> dict:
    rows = list(csv.DictReader(io.StringIO((out / "tables" / f"{table}.csv").read_text())))
    return next(r for r in rows if r["model"] == label and r.get("iters", iters) == iters)


def _md_row(md: str, title: str, label: str) -> list[str]:
    section = md[md.index(title) :]
    line = next(x for x in section.splitlines() if x.startswith(f"| {label} | 400K |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_flops_batch4_record_shows_per_image_gmacs(tmp_path):
    path = tmp_path / "r.json"
    result = runner.invoke(
        app, ["flops", "--models", "fcdm-s", "--batch", "4", "--json", str(path)]
    )
    assert result.exit_code == 0, result.output
    record = read_record(path, kind=FlopsRecord)
    assert record.batch == 4 and round(record.result("fcdm-s").gmacs, 3) == 3.084
    report = _report(tmp_path, path)
    row = _csv_row(report["out"], "table2", "FCDM-S")
    assert (row["gmacs_paper"], row["gmacs_measured_on"], row["gmacs_comparable"]) == (
        "3.1",
        "record",
        "yes",
    )
    assert float(row["gmacs_measured"]) == round(record.result("fcdm-s").gmacs, 4)
    assert row["gmacs_delta"] == "-0.5"
    cells = _md_row(report["md"], "Table 2:", "FCDM-S")
    assert cells[2:5] == ["3.1", "3.08 (record)", "-0.5%"]  # not 0.771: no second division


@pytest.fixture(scope="module")
def cpu_throughput(tmp_path_factory):
    path = tmp_path_factory.mktemp("tp") / "tp.json"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = runner.invoke(
            app,
            [
                "throughput",
                "--models",
                "fcdm-s",
                "--batch",
                "4",
                "--device",
                "cpu",
                "--fcdm-checkpointing",
                "off",
                "--warmup-calls",
                "1",
                "--warmup-s",
                "0",
                "--blocks",
                "3",
                "--min-block-s",
                "0",
                "--pause-s",
                "0",
                "--out",
                str(path),
            ],
        )
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    return path


def test_cpu_throughput_is_shown_beside_the_paper_without_delta(tmp_path, cpu_throughput):
    record = read_record(cpu_throughput, kind=ThroughputRecord)
    (point,) = record.points()
    report = _report(tmp_path, cpu_throughput)
    on = f"{record.env.device_slug} paper-default bs4"
    cells = _md_row(report["md"], "Table 2:", "FCDM-S")
    assert cells[3:6] == ["2687.2", f"{point.img_per_s:.1f} ({on})", "not comparable"]
    row = _csv_row(report["out"], "table2", "FCDM-S")
    assert row["throughput_it_s_delta"] == "" and row["throughput_it_s_comparable"] == "no"
    assert float(row["throughput_it_s_measured"]) == round(point.img_per_s, 4)
    assert "Δ −99" not in report["md"] and "-99." not in report["md"]
    assert "throughput_256px" in report["summary"]["figures"]


def test_spectral_smoke_record_lands_in_the_figure7_table(tmp_path):
    prefix = tmp_path / "fig7"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = runner.invoke(
            app,
            [
                "analyze",
                "spectral",
                "fcdm-s",
                "--smoke",
                "--synthetic",
                "--num",
                "2",
                "--every",
                "500",
                "--set",
                "width=16",
                "--set",
                "depths=1,1,1,1,1",
                "--out",
                str(prefix),
            ],
        )
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    path = tmp_path / "fig7.json"
    record = read_record(path, kind=SpectralRecord)
    assert record.timesteps == (0, 500) and record.run.fcdmbench
    report = _report(tmp_path, path)
    assert "fig7_spectral" in report["summary"]["tables"]
    curve = record.curves["fcdm-s"].mean
    rows = list(
        csv.DictReader(io.StringIO((report["out"] / "tables/fig7_spectral.csv").read_text()))
    )
    assert rows == [
        {
            "model": "fcdm-s",
            "weights": "random (smoke mode)",
            "resolution": "256",
            "num_samples": "2",
            "timesteps": "2",
            "first": f"{curve[0]:.1f} (t=0)",
            "last": f"{curve[1]:.1f} (t=500)",
            "min": f"{min(curve):.1f}",
            "max": f"{max(curve):.1f}",
            "record": "fig7.json",
        }
    ]
