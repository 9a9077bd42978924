"""`fcdmbench report` end to end, as a user runs it (CliRunner through the root group)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fcdmbench.cli.main import app

RECORDED = Path(__file__).parents[1] / "fixtures" / "throughput" / "cpu-fcdm-s-bs2.json"


@pytest.mark.slow  # 15-30 s on 2 cores; `.ci/run`'s install step builds the same report
def test_default_report_measures_flops_of_table1_and_table2(cli_demo_report):
    result, out = cli_demo_report
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
    assert manifest["schema"] == "fcdmbench.report/2" and manifest["measured_cells"] > 20


def test_records_formats_and_json(tmp_path):
    out = tmp_path / "r"
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--records",
            str(RECORDED),
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
    assert summary["records_read"] == 1 and summary["warnings"] == []
    assert not (out / "report.html").exists() and (out / "report.md").exists()
    assert "throughput_256px" in summary["figures"]  # one chart per resolution, bar per series
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema"] == "fcdmbench.report/2" and manifest["inputs"] == [str(RECORDED)]
    assert "report.md" in manifest["files"] and "tables/table2.csv" in manifest["files"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no staging folder left


def test_records_path_missing_or_not_a_record_exits_3(tmp_path):
    for bad, expected in (
        (tmp_path / "missing", "does not exist"),
        (_write(tmp_path / "s.npz", b"PK\x03\x04\x00binary"), "not an fcdmbench record"),
    ):
        out = tmp_path / "out"
        result = CliRunner().invoke(
            app, ["report", "--records", str(bad), "--out", str(out), "--no-meta"]
        )
        assert result.exit_code == 3, result.output
        assert expected in result.output and not out.exists()


@pytest.mark.slow
def test_failing_report_leaves_nothing_and_keeps_an_earlier_one(tmp_path, monkeypatch):
    out = tmp_path / "rep"
    args = ["report", "--out", str(out), "--no-meta", "--format", "md"]
    assert CliRunner().invoke(app, args).exit_code == 0
    before = (out / "report.md").read_text()

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("fcdmbench.reporting.render.table_to_markdown", interrupted)
    CliRunner().invoke(app, args)
    assert (out / "report.md").read_text() == before  # the earlier report is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]  # no half-built folder
    fresh = tmp_path / "fresh"
    CliRunner().invoke(app, ["report", "--out", str(fresh), "--no-meta", "--format", "md"])
    assert not fresh.exists()
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep")
    monkeypatch.undo()
    refused = CliRunner().invoke(app, ["report", "--out", str(user), "--no-meta"])
    assert refused.exit_code == 3 and "not an fcdmbench report" in refused.output
    assert (user / "notes.txt").read_text() == "keep"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_bad_format_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path), "--format", "pdf"])
    assert result.exit_code == 2
    assert "unknown report format 'pdf'" in result.output
