"""`fcdmbench roofline` and `fcdmbench memory` as a user runs them: outputs feed the next
command, bad input ends with error/hint lines and the documented exit code."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fcdmbench.cli.main import app
from fcdmbench.errors import InputError
from fcdmbench.records import io as record_io
from fcdmbench.records.io import read_record
from fcdmbench.records.memory import MemoryRecord
from fcdmbench.records.roofline import RooflineRecord

runner = CliRunner()
SMALL = ["--models", "fcdm-s", "dit-s-2", "--batch", "4"]


@pytest.fixture
def written(monkeypatch):
    """The record objects the CLI hands to `write_record` (what it computed, in memory)."""
    seen = []
    real = record_io.write_record

    def keep(path, record, **kwargs):
        seen.append(record)
        return real(path, record, **kwargs)

    monkeypatch.setattr(record_io, "write_record", keep)
    return seen


def _corrupt(path, tmp_path, edit):
    obj = json.loads(path.read_text())
    edit(obj)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(obj))
    return bad


def test_roofline_json_plot_and_table(tmp_path, written):
    out, png = tmp_path / "roofline.json", tmp_path / "roofline.png"
    args = ["roofline", *SMALL, "--gpu", "a100-80gb-sxm", "--precision", "tf32"]
    result = runner.invoke(app, [*args, "--json", str(out), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    record = read_record(out)
    assert record == written[0] and type(record) is RooflineRecord  # the file is the record
    assert json.loads(out.read_text())["schema"] == "fcdmbench.roofline/2"
    assert record.label.startswith("predicted upper bound")
    assert [r.model for r in record.results] == ["fcdm-s", "dit-s-2"]
    assert record.device.units_tflops["tf32-tc"] == 156.0 and record.assumptions
    assert record.run.started and record.run.command and record.env.torch
    assert record.config.batch == 4 and record.config.precision.value == "tf32"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = runner.invoke(app, args)
    assert table.exit_code == 0
    assert "predicted upper bound" in table.stdout and "top operators" in table.stdout
    fcdm = record.results[0]
    assert f"{fcdm.img_per_s:,.1f}" in table.stdout  # the table renders the record's figures
    stdout = runner.invoke(app, [*args, "--json", "-"])
    assert stdout.exit_code == 0
    again = RooflineRecord.from_json(json.loads(stdout.stdout), source="stdout")
    assert again.results == record.results and again.device == record.device

    def edit(obj):
        obj["results"][1]["ops"][0]["flops"] = "many"

    with pytest.raises(
        InputError, match=r"bad.json: results\[1\].ops\[0\].flops: expected a number"
    ):
        read_record(_corrupt(out, tmp_path, edit))


def test_cpu_calibration_is_recorded_and_reused(tmp_path, written):
    first = tmp_path / "cpu.json"
    result = runner.invoke(
        app,
        ["roofline", "--models", "fcdm-s", "--gpu", "cpu", "--batch", "2", "--json", str(first)],
    )
    assert result.exit_code == 0, result.output
    record = read_record(first, kind=RooflineRecord)
    assert record == written[0]
    calibration = record.device.calibration
    assert calibration.matmul_gflops > 0 and calibration.loadavg_before
    assert record.device.units_tflops == {"cpu-fp32": calibration.matmul_gflops / 1000}
    again = runner.invoke(
        app,
        [
            "roofline",
            "--models",
            "fcdm-s",
            "--gpu",
            "cpu",
            "--batch",
            "2",
            "--calibration",
            str(first),
            "--json",
            "-",
        ],
    )
    assert again.exit_code == 0, again.output
    reused = RooflineRecord.from_json(json.loads(again.stdout)).device.calibration
    assert reused == calibration  # read back, not measured again
    assert json.loads(again.stdout)["config"]["calibration"] == str(first)

    def edit(obj):
        obj["device"]["calibration"]["threads"] = "two"

    bad = _corrupt(first, tmp_path, edit)
    args = ["roofline", "--models", "fcdm-s", "--gpu", "cpu", "--calibration", str(bad)]
    broken = runner.invoke(app, args)
    assert broken.exit_code == 3
    assert "bad.json: device.calibration.threads: expected an integer" in broken.stderr
    assert "hint:" in broken.stderr


def test_roofline_errors():
    result = runner.invoke(app, ["roofline", "--models", "fcdm-s", "--gpu", "a100-90gb"])
    assert result.exit_code == 2
    assert "unknown device" in result.stderr and "hint:" in result.stderr
    result = runner.invoke(app, ["roofline", "--models", "fcdm-s", "--gpu", "v100-sxm2"])
    assert result.exit_code == 2 and "bandwidth" in result.stderr
    missing = runner.invoke(
        app, ["roofline", "--models", "fcdm-s", "--gpu", "cpu", "--calibration", "nope.json"]
    )
    assert missing.exit_code == 3 and "not found" in missing.stderr
    records = runner.invoke(app, ["roofline", "--models", "fcdm-s", "--records", "nope/"])
    assert records.exit_code == 3 and "records nope not found" in records.stderr


def test_list_devices():
    result = runner.invoke(app, ["roofline", "--list-devices"])
    assert result.exit_code == 0
    assert "a100-80gb-sxm" in result.stdout and "datasheet" in result.stdout


def test_memory_json_and_table(tmp_path, written):
    out = tmp_path / "memory.json"
    args = ["memory", *SMALL, "--gpus", "2", "--resolution", "64", "--card", "rtx-4090"]
    result = runner.invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    record = read_record(out)
    assert record == written[0] and type(record) is MemoryRecord
    obj = json.loads(out.read_text())
    assert obj["schema"] == "fcdmbench.memory/2"
    assert obj["results"][0]["config"]["rows_per_gpu"] == 2 and obj["results"][0]["fits"] is True
    first = record.results[0]
    assert first.config.rows_per_gpu == 2 and first.fits is True and first.card.key == "rtx-4090"
    assert first.gib["saved_activations"] > 0 and record.models == ("fcdm-s", "dit-s-2")
    assert record.run.started and record.run.command and record.env.torch

    def edit(obj):
        obj["results"][0]["step"]["peak_step"] = 1.5

    with pytest.raises(InputError, match=r"bad.json: results\[0\].step.peak_step: expected an int"):
        read_record(_corrupt(out, tmp_path, edit))
    table = runner.invoke(app, [*args, "--grad-checkpointing"])
    assert table.exit_code == 0, table.output
    assert "upstream per-block" in table.stdout and "applied by fcdmbench" in table.stdout
    infer = runner.invoke(app, ["memory", *SMALL, "--mode", "infer", "--cfg", "-r", "64"])
    assert infer.exit_code == 0 and "forward peak" in infer.stdout


def test_memory_errors():
    result = runner.invoke(app, ["memory", "--models", "fcdm-s", "--batch", "10", "--gpus", "4"])
    assert result.exit_code == 2 and "does not split" in result.stderr
    result = runner.invoke(app, ["memory", "--models", "fcdm-s", "--card", "l4", "-b", "2"])
    assert result.exit_code == 2 and "memory figure" in result.stderr


def test_every_problem_at_once_and_nothing_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(
        app,
        ["roofline", "--models", "fcdm-s", "--gpu", "a100-90gb", "--records", "nope",
         "--plot", "out/roof.txt", "--attention-kernel", "flash"],
    )  # fmt: skip
    assert result.exit_code == 2  # the lowest code among usage (2) and input (3) problems
    parts = ("unknown device", "records nope not found", ".png, .svg or .pdf", "--attention-kernel")
    for part in parts:
        assert part in result.stderr, part
    result = runner.invoke(
        app,
        ["memory", "--models", "nosuchmodel", "--batch", "10", "--gpus", "4", "--card", "l4",
         "--json", "new/memory.json"],
    )  # fmt: skip
    assert result.exit_code == 2
    for part in ("nosuchmodel", "does not split", "no memory figure"):
        assert part in result.stderr, part
    assert list(tmp_path.iterdir()) == []  # no output folder created


def test_report_reads_a_folder_holding_roofline_and_memory_records(tmp_path):
    from fcdmbench.reporting.collect import load_records

    runs = tmp_path / "runs"
    runs.mkdir()
    for command in (
        ["roofline", "--models", "fcdm-s", "--batch", "2", "--json", str(runs / "roof.json")],
        ["memory", "--models", "fcdm-s", "-b", "2", "-r", "64", "--json", str(runs / "mem.json")],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
    found = load_records([runs])
    assert found.files == [] and found.throughput == [] and found.flops == []
    assert any("roof.json: a roofline record" in w for w in found.warnings)
    assert any("mem.json: a memory record" in w for w in found.warnings)
