"""`fcdmbench report` end to end, as a user runs it (CliRunner through the root group)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fcdmbench.cli.main import app

FIXTURES = Path(__file__).parent.parent / "reporting" / "fixtures"


def test_default_report_measures_flops_of_table1_and_table2(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in (
        "report.md",
        "report.html",
        "report.tex",
        "manifest.json",
        "tables/table1.csv",
        "tables/table11.csv",
        "figures/fig6_fid_vs_cost_and_throughput.svg",
        "figures/throughput_published.png",
    ):
        assert (out / name).stat().st_size > 0, name
    table1 = (out / "tables" / "table1.csv").read_text().splitlines()
    header, xl = table1[0].split(","), next(r for r in table1 if r.startswith("FCDM-XL"))
    row = dict(zip(header, xl.split(","), strict=True))
    assert row["gmacs_paper"] == "64.6" and row["gmacs_measured_on"] == "meta"
    # Same count as `fcdmbench flops` (paper convention; upstream torchprofile: 64.59 GMACs).
    assert abs(float(row["gmacs_measured"]) - 64.59) < 0.01
    table2 = (out / "tables" / "table2.csv").read_text()
    assert "FCDM-XL,400K,64.6,64.59" in table2
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5 and '<img src="figures' not in html
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema"] == "fcdmbench.report/1" and manifest["measured_cells"] > 20


def test_records_formats_and_json(tmp_path):
    out = tmp_path / "r"
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--records",
            str(FIXTURES / "records"),
            str(FIXTURES / "broken"),
            "--out",
            str(out),
            "--format",
            "md,csv",
            "--no-meta",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["records_read"] == 6 and summary["warnings"]
    assert not (out / "report.html").exists() and (out / "report.md").exists()
    assert "throughput_256px" in summary["figures"]  # one chart per resolution, bar per series
    assert "300.0 (synthetic-gpu bf16 bs64)" not in (out / "report.md").read_text()  # tf32 first
    assert "250.0 (synthetic-gpu tf32 bs64)" in (out / "report.md").read_text()


def test_bad_format_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path), "--format", "pdf"])
    assert result.exit_code == 2
    assert "unknown report format 'pdf'" in result.output


def test_folder_name_by_environment():
    from fcdmbench.reporting.collect import load_records
    from fcdmbench.reporting.report import report_dir_name

    empty = load_records([])
    assert (
        report_dir_name(empty, "cpu-intel-xeon", "pt2.13", True, "2026-11-22")
        == "2026-11-22-cpu-xeon-published+meta-pt2.13"
    )
    records = load_records([FIXTURES / "records"])
    assert (
        report_dir_name(records, "cpu-intel-xeon", "pt2.13", True, "2026-11-22")
        == "2026-11-22-synthetic-gpu-bf16+tf32-pt2.13"
    )
