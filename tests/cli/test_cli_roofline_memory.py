"""`fcdmbench roofline` and `fcdmbench memory` as a user runs them: outputs feed the next
command, bad input ends with error/hint lines and the documented exit code."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from fcdmbench.cli.main import app

runner = CliRunner()
SMALL = ["--models", "fcdm-s", "dit-s-2", "--batch", "4"]


def test_roofline_json_plot_and_table(tmp_path):
    out, png = tmp_path / "roofline.json", tmp_path / "roofline.png"
    args = ["roofline", *SMALL, "--gpu", "a100-80gb-sxm", "--precision", "tf32"]
    result = runner.invoke(app, [*args, "--json", str(out), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["schema"] == "fcdmbench.roofline/1"
    assert record["label"].startswith("predicted upper bound")
    assert [r["model"] for r in record["results"]] == ["fcdm-s", "dit-s-2"]
    assert record["device"]["units_tflops"]["tf32-tc"] == 156.0
    assert record["assumptions"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = runner.invoke(app, args)
    assert table.exit_code == 0
    assert "predicted upper bound" in table.stdout and "top operators" in table.stdout


def test_cpu_calibration_is_recorded_and_reused(tmp_path):
    first = tmp_path / "cpu.json"
    result = runner.invoke(
        app,
        ["roofline", "--models", "fcdm-s", "--gpu", "cpu", "--batch", "2", "--json", str(first)],
    )
    assert result.exit_code == 0, result.output
    calibration = json.loads(first.read_text())["device"]["calibration"]
    assert calibration["schema"] == "fcdmbench.cpu-calibration/1"
    assert calibration["matmul_gflops"] > 0 and calibration["loadavg_before"]
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
    reused = json.loads(again.stdout)["device"]["calibration"]
    assert reused == calibration  # read back, not measured again


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


def test_memory_json_and_table(tmp_path):
    out = tmp_path / "memory.json"
    args = ["memory", *SMALL, "--gpus", "2", "--resolution", "64", "--card", "rtx-4090"]
    result = runner.invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["schema"] == "fcdmbench.memory/1"
    first = record["results"][0]
    assert first["rows_per_gpu"] == 2 and first["card"]["fits"] is True
    assert first["gib"]["saved_activations"] > 0
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
         "--plot", "out/roof.txt", "--attention", "flash"],
    )  # fmt: skip
    assert result.exit_code == 2  # the lowest code among usage (2) and input (3) problems
    for part in ("unknown device", "records nope not found", ".png, .svg or .pdf", "--attention"):
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
