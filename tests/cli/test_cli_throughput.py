"""`fcdmbench throughput` and `fcdmbench baseline`: exit codes, records, the gate's re-run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from fcdmbench.cli.main import app
from fcdmbench.env import collect_env
from fcdmbench.records.io import read_record
from fcdmbench.records.throughput import BaselineRecord, ThroughputRecord

runner = CliRunner()
RECORDED = Path(__file__).parents[1] / "fixtures" / "throughput" / "cpu-fcdm-s-bs2.json"
TINY = [
    "--batch",
    "2",
    "--device",
    "cpu",
    "--warmup-calls",
    "1",
    "--warmup-s",
    "0.2",
    "--blocks",
    "3",
    "--min-block-s",
    "0.1",
    "--pause-s",
    "0",
]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_cuda_without_cuda_exits_4():
    result = runner.invoke(app, ["throughput", "--models", "fcdm-s", "--device", "cuda"])
    assert result.exit_code == 4
    assert "CUDA is not available" in result.output and "hint:" in result.output


def test_bad_input_exits_2():
    assert runner.invoke(app, ["throughput", "--models", "nope", *TINY]).exit_code == 2
    assert runner.invoke(app, ["throughput", *TINY]).exit_code == 2  # no model
    graphs = runner.invoke(app, ["throughput", "--models", "fcdm-s", "--cuda-graphs", *TINY])
    assert graphs.exit_code == 2 and "CUDA device" in graphs.output


def test_real_cpu_run_writes_record_and_forced_baseline(tmp_path, one_thread):
    out = tmp_path / "run.json"
    result = runner.invoke(
        app,
        [
            "throughput",
            "--models",
            "fcdm-s",
            "--fcdm-checkpointing",
            "always",
            *TINY,
            "--out",
            str(out),
            "--update-baseline",
            "--force",
            "--baselines-dir",
            str(tmp_path / "b"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["schema"] == "fcdmbench.throughput/2"
    record = read_record(out, kind=ThroughputRecord)
    assert [r.key for r in record.results] == ["fcdm-s[ckpt-always]"]
    assert record.results[0].checkpointing == "always"
    assert "throughput on CPU" in result.output
    stored = list((tmp_path / "b").glob("cpu-*/paper-default-bs2-256-pt*.json"))
    assert len(stored) == 1
    baseline = read_record(stored[0], kind=BaselineRecord)
    assert baseline.source == str(out) and baseline.record == record
    assert out.stat().st_mode & 0o777 == stored[0].stat().st_mode & 0o777 != 0o600
    listing = runner.invoke(app, ["baseline", "list", "--baselines-dir", str(tmp_path / "b")])
    assert stored[0].name in listing.output


TEMPLATE = read_record(RECORDED, kind=ThroughputRecord)


def _body(rates: list[float], canary: list[float]) -> ThroughputRecord:
    """The recorded CPU run re-timed: this machine's CPU, the default config of `TINY`."""
    row = dataclasses.replace(
        TEMPLATE.results[0],
        calls_per_block=1,
        images_per_call=2,
        block_s=tuple(2.0 / r for r in rates),
    )
    return dataclasses.replace(
        TEMPLATE,
        env=collect_env("cpu"),
        config=dataclasses.replace(TEMPLATE.config, precision="paper-default", batch=2),
        canary=dataclasses.replace(
            TEMPLATE.canary, calls_per_block=1, block_s=tuple(1.0 / r for r in canary)
        ),
        results=(row,),
        notes=(),
    )


QUIET = [100.0, 100.4, 99.6, 100.2, 99.8]


@pytest.fixture
def fake_runs(monkeypatch):
    """Replace the measurement by a queue of canned records; count the calls."""
    queue: list[ThroughputRecord] = []
    calls: list[int] = []

    def fake_measure(config, protocol, log=None):
        calls.append(1)
        return queue.pop(0)

    monkeypatch.setattr("fcdmbench.throughput.run.measure_throughput", fake_measure)
    return queue, calls


def _gate(tmp_path: Path, *extra: str):
    args = [
        "throughput",
        "--models",
        "fcdm-s",
        *TINY,
        "--blocks",  # the gate judges 5 blocks or more (a baseline needs them)
        "5",
        "--out",
        str(tmp_path / "run.json"),
        "--baselines-dir",
        str(tmp_path / "b"),
        "--json",
        *extra,
    ]
    return runner.invoke(app, args)


def _check(result) -> dict:
    return json.loads(result.stdout)["check"]


def test_check_without_baseline_exits_3_before_measuring(tmp_path, fake_runs):
    result = _gate(tmp_path, "--check")
    assert result.exit_code == 3 and "no baseline" in result.output
    assert "--update-baseline" in result.output and fake_runs[1] == []


def test_gate_pass_regression_and_grey_zone(tmp_path, fake_runs):
    queue, calls = fake_runs
    queue.append(_body([50.0, 50.2, 49.8, 50.1, 49.9], QUIET))
    assert _gate(tmp_path, "--update-baseline").exit_code == 0
    queue.append(_body([50.0, 50.1, 49.9, 50.0, 50.0], QUIET))
    result = _gate(tmp_path, "--check")
    assert result.exit_code == 0 and _check(result)["status"] == "pass"
    assert json.loads((tmp_path / "run.json").read_text())["check"]["status"] == "pass"
    # Slower twice: re-run once, then fail with exit 5; both records are kept.
    calls.clear()
    queue.extend([_body([40.0] * 5, QUIET), _body([40.5] * 5, QUIET)])
    result = _gate(tmp_path, "--check")
    assert result.exit_code == 5 and "regression: fcdm-s (confirmed" in _check(result)["summary"]
    assert "re-measuring once" in result.stderr
    assert len(calls) == 2 and (tmp_path / "run.run1.json").exists()
    # Slower once, fine on the re-run: pass.
    queue.extend([_body([40.0] * 5, QUIET), _body([50.0] * 5, QUIET)])
    result = _gate(tmp_path, "--check")
    assert result.exit_code == 0 and "not reproduced" in " ".join(_check(result)["messages"])
    # Noisy canary: insufficient data, exit 0 (5 with --strict).
    noisy = [100.0, 70.0, 130.0, 85.0, 115.0]
    queue.extend([_body([50.0] * 5, noisy), _body([50.0] * 5, noisy)])
    result = _gate(tmp_path, "--check")
    assert result.exit_code == 0 and _check(result)["status"] == "insufficient data"
    assert _gate(tmp_path, "--check", "--strict").exit_code == 5


def test_baseline_commands_on_the_recorded_run(tmp_path):
    base_dir = str(tmp_path / "b")
    missing = runner.invoke(
        app, ["baseline", "compare", str(RECORDED), "--baselines-dir", base_dir]
    )
    assert missing.exit_code == 3 and "no baseline" in missing.output
    refused = runner.invoke(app, ["baseline", "update", str(RECORDED), "--baselines-dir", base_dir])
    assert refused.exit_code == 5 and "refusing" in refused.output
    forced = runner.invoke(
        app, ["baseline", "update", str(RECORDED), "--baselines-dir", base_dir, "--force"]
    )
    assert forced.exit_code == 0
    verdict = runner.invoke(
        app, ["baseline", "compare", str(RECORDED), "--baselines-dir", base_dir, "--json"]
    )
    assert verdict.exit_code == 0
    assert json.loads(verdict.stdout)["status"] == "insufficient data"
    strict = runner.invoke(
        app, ["baseline", "compare", str(RECORDED), "--baselines-dir", base_dir, "--strict"]
    )
    assert strict.exit_code == 5
    bad = runner.invoke(app, ["baseline", "compare", str(tmp_path / "none.json")])
    assert bad.exit_code == 3


def test_model_list_forms():
    from fcdmbench.cli.throughput import select_models  # the selection `throughput` uses

    assert select_models(["fcdm-s,FCDM-B", "fcdm-s"]) == ["fcdm-s", "fcdm-b"]
    assert select_models(["fcdm-*"])[:2] == ["fcdm-s", "fcdm-b"]


def test_models_are_selected_like_flops_selects_them():
    """Same selection rules as `fcdmbench flops`: a resolution tag is refused, not ignored."""
    result = runner.invoke(app, ["throughput", "--models", "fcdm-s.512", *TINY])
    assert result.exit_code == 2 and "--resolution 512" in result.output
