"""The regression gate on synthetic rates and on a recorded CPU run.

Synthetic records are the real recorded CPU record (tests/fixtures/throughput, read through
`fcdmbench.records`) with exact block times and a GPU environment put in with
`dataclasses.replace`: the shape is a command's, only the timings are made up.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fcdmbench.errors import CheckFailedError, InputError
from fcdmbench.records.io import read_record
from fcdmbench.records.throughput import BaselineRecord, ThroughputRecord
from fcdmbench.throughput.baseline_files import baseline_relpath, load_baseline, write_baseline
from fcdmbench.throughput.gate import (
    GateThresholds,
    ModelStatus,
    Status,
    compare,
    no_baseline,
    validate_record,
)

RECORDED = Path(__file__).parents[1] / "fixtures" / "throughput" / "cpu-fcdm-s-bs2.json"
QUIET = [100.0, 100.5, 99.5, 100.2, 99.8]  # canary calls/s: IQR/median 0.5 %


TEMPLATE = read_record(RECORDED, kind=ThroughputRecord)


def make_record(
    models: dict[str, list[float]], canary: list[float] = QUIET, **config
) -> ThroughputRecord:
    """A valid record: rates (images/s) become block times at 64 images per call."""
    cfg = dataclasses.replace(
        TEMPLATE.config,
        **{
            "mode": "infer",
            "precision": "bf16",
            "batch": 64,
            "resolution": 256,
            "cfg": False,
            "channels_last": False,
            "compile": None,
            "device_type": "cuda",
            **config,
        },
    )
    env = dataclasses.replace(
        TEMPLATE.env,
        device_type="cuda",
        device_name="NVIDIA H100 80GB HBM3",
        device_slug="h100-80gb-hbm3",
        torch="2.13.0+cu128",
        cuda_runtime="12.8",
        driver="570.1",
    )
    probe = dataclasses.replace(
        TEMPLATE.canary,
        name="canary-v1-cuda",
        key="canary-v1-cuda",
        spec={"preset": "cuda"},
        calls_per_block=1,
        block_s=tuple(1.0 / r for r in canary),
    )
    rows = tuple(
        dataclasses.replace(
            TEMPLATE.results[0],
            key=key,
            model=key,
            status="ok",
            batch=cfg.batch,
            calls_per_block=1,
            images_per_call=64,
            block_s=tuple(64.0 / r for r in rates),
        )
        for key, rates in models.items()
    )
    return dataclasses.replace(
        TEMPLATE, env=env, config=cfg, canary=probe, results=rows, protocol=TEMPLATE.protocol
    )


def with_row(record: ThroughputRecord, index: int, **changes) -> ThroughputRecord:
    rows = list(record.results)
    rows[index] = dataclasses.replace(rows[index], **changes)
    return dataclasses.replace(record, results=tuple(rows))


def scaled(rates: list[float], factor: float) -> list[float]:
    return [r * factor for r in rates]


BASE_RATES = {
    "fcdm-xl": [270.0, 271.0, 269.0, 270.5, 269.5],
    "dit-xl-2": [77.0, 77.2, 76.8, 77.1, 76.9],
}


@pytest.fixture
def baseline() -> dict:
    return make_record(BASE_RATES)


def test_identical_run_passes(baseline):
    verdict = compare(make_record(BASE_RATES), baseline)
    assert verdict.status is Status.PASS and verdict.exit_code == 0
    assert {m.status for m in verdict.models} == {ModelStatus.OK}
    assert all(abs(m.change) < 1e-12 for m in verdict.models)


def test_regression_goes_to_grey_zone_then_fails_when_confirmed(baseline):
    slow = {**BASE_RATES, "fcdm-xl": scaled(BASE_RATES["fcdm-xl"], 0.80)}
    first = compare(make_record(slow), baseline)
    assert first.status is Status.RERUN and first.exit_code == 5
    assert first.regressed_keys == ("fcdm-xl",)
    fcdm = next(m for m in first.models if m.key == "fcdm-xl")
    assert fcdm.change == pytest.approx(-0.20) and fcdm.bound == pytest.approx(0.05)
    second = compare(make_record(slow), baseline, previous=first)
    assert second.status is Status.REGRESSION and second.exit_code == 5
    assert "confirmed" in second.summary


def test_the_verdict_is_stored_in_the_record_and_read_back_typed(baseline, tmp_path):
    from fcdmbench.records.io import write_record

    slow = {**BASE_RATES, "fcdm-xl": scaled(BASE_RATES["fcdm-xl"], 0.80)}
    record = make_record(slow)
    verdict = compare(record, baseline)
    path = write_record(tmp_path / "run.json", record.with_check(verdict))
    stored = json.loads(path.read_text())["check"]
    assert stored["status"] == "grey zone: re-run" and stored["exit_code"] == 5
    assert stored["models"][0]["status"] in {m.value for m in ModelStatus}
    again = read_record(path, kind=ThroughputRecord).check
    assert again == verdict and again.models[0].status is verdict.models[0].status
    stored["models"][0]["status"] = "slower"
    path.write_text(json.dumps({**json.loads(path.read_text()), "check": stored}))
    with pytest.raises(InputError, match=r"check.models\[0\].status: expected one of 'ok'"):
        read_record(path)


def test_grey_zone_cleared_by_rerun_passes(baseline):
    slow = {**BASE_RATES, "fcdm-xl": scaled(BASE_RATES["fcdm-xl"], 0.90)}
    first = compare(make_record(slow), baseline)
    assert first.status is Status.RERUN
    second = compare(make_record(BASE_RATES), baseline, previous=first)
    assert second.status is Status.PASS and second.exit_code == 0


def test_canary_cancels_a_slower_machine(baseline):
    """Everything 20 % slower (clocks, power cap): the ratio holds, only a warning remains."""
    slow = {k: scaled(v, 0.8) for k, v in BASE_RATES.items()}
    verdict = compare(make_record(slow, canary=scaled(QUIET, 0.8)), baseline)
    assert verdict.status is Status.PASS
    assert any("absolute images/s -20.0%" in m for m in verdict.messages)


def test_small_drop_warns_but_passes(baseline):
    verdict = compare(
        make_record({**BASE_RATES, "fcdm-xl": scaled(BASE_RATES["fcdm-xl"], 0.97)}), baseline
    )
    assert verdict.status is Status.PASS
    assert next(m for m in verdict.models if m.key == "fcdm-xl").status is ModelStatus.WARN


def test_noisy_model_is_insufficient_data(baseline):
    noisy = [270.0, 230.0, 310.0, 250.0, 290.0]  # IQR/median 15 %
    verdict = compare(make_record({**BASE_RATES, "fcdm-xl": noisy}), baseline)
    assert verdict.status is Status.INSUFFICIENT_DATA and "fcdm-xl" in verdict.messages[0]


def test_bound_widens_with_model_noise():
    noisy = [100.0, 92.0, 108.0, 96.0, 104.0]  # IQR/median 8 %
    base = make_record({"m": noisy})
    verdict = compare(make_record({"m": scaled(noisy, 0.90)}), base)
    row = verdict.models[0]
    assert row.bound > 0.10 and row.bound == pytest.approx(3 * row.sigma)
    assert row.status is ModelStatus.WARN and verdict.status is Status.PASS


def test_noisy_canary_is_insufficient_data(baseline):
    noisy = [100.0, 80.0, 120.0, 90.0, 110.0]
    verdict = compare(make_record(BASE_RATES, canary=noisy), baseline)
    assert verdict.status is Status.INSUFFICIENT_DATA and verdict.exit_code == 0
    assert "too noisy" in verdict.messages[0]
    strict = compare(make_record(BASE_RATES, canary=noisy), baseline, strict=True)
    assert strict.exit_code == 5


def test_gain_says_baseline_stale(baseline):
    fast = {**BASE_RATES, "dit-xl-2": scaled(BASE_RATES["dit-xl-2"], 1.25)}
    verdict = compare(make_record(fast), baseline)
    assert verdict.status is Status.PASS and verdict.exit_code == 0
    assert next(m for m in verdict.models if m.key == "dit-xl-2").status is ModelStatus.GAIN
    assert any("baseline stale" in m for m in verdict.messages)


def test_no_baseline_verdict_exit_code():
    verdict = no_baseline("no baseline at x")
    assert verdict.status is Status.NO_BASELINE and verdict.exit_code == 3


def test_other_configuration_is_incomparable(baseline):
    verdict = compare(make_record(BASE_RATES, precision="tf32"), baseline)
    assert verdict.status is Status.INCOMPARABLE and verdict.exit_code == 3
    assert "precision" in verdict.messages[0]


def test_failed_model_counts_as_regression_and_new_models_do_not(baseline):
    record = make_record({**BASE_RATES, "dico-xl": [200.0] * 5})
    record = with_row(record, 0, status="oom", error="out of memory even at batch 1", block_s=())
    verdict = compare(record, baseline)
    assert verdict.status is Status.RERUN and verdict.regressed_keys == ("fcdm-xl",)
    assert next(m for m in verdict.models if m.key == "dico-xl").status is ModelStatus.NEW


def test_halved_batch_is_not_compared(baseline):
    record = with_row(make_record(BASE_RATES), 0, batch=32)
    verdict = compare(record, baseline)
    assert verdict.status is Status.PASS
    assert next(m for m in verdict.models if m.key == "fcdm-xl").status is ModelStatus.INCOMPARABLE


def test_custom_threshold_floor(baseline):
    slow = {**BASE_RATES, "fcdm-xl": scaled(BASE_RATES["fcdm-xl"], 0.93)}
    assert compare(make_record(slow), baseline).status is Status.RERUN
    loose = compare(make_record(slow), baseline, thresholds=GateThresholds(floor=0.10))
    assert loose.status is Status.PASS


def test_baseline_layout():
    record = make_record(BASE_RATES)
    assert baseline_relpath(record) == Path("h100-80gb-hbm3/bf16-bs64-256-pt2.13-cu12.8.json")
    train = make_record(BASE_RATES, mode="train", channels_last=True)
    assert baseline_relpath(train).name == "bf16-bs64-256-train-cl-pt2.13-cu12.8.json"
    cpu = make_record(BASE_RATES)
    cpu = dataclasses.replace(
        cpu,
        env=dataclasses.replace(
            cpu.env, device_slug="cpu-intel-xeon", torch="2.13.0+cpu", cuda_runtime=None
        ),
    )
    assert baseline_relpath(cpu) == Path("cpu-intel-xeon/bf16-bs64-256-pt2.13.json")


def test_write_baseline_refuses_noise_and_writes_atomically(tmp_path):
    noisy = make_record(BASE_RATES, canary=[100.0, 80.0, 120.0, 90.0, 110.0])
    with pytest.raises(CheckFailedError):
        write_baseline(noisy, tmp_path, "test")
    path = write_baseline(make_record(BASE_RATES), tmp_path, "test")
    assert path == tmp_path / "h100-80gb-hbm3" / "bf16-bs64-256-pt2.13-cu12.8.json"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind
    stored = load_baseline(path)
    assert isinstance(stored, BaselineRecord) and stored.record == make_record(BASE_RATES)
    assert stored.source == "test" and not stored.forced
    assert compare(make_record(BASE_RATES), stored).status is Status.PASS
    assert load_baseline(tmp_path / "absent.json") is None


def test_recorded_cpu_run():
    """A real CPU record (tests/fixtures/throughput/PROVENANCE.md), taken on a shared, loaded
    2-core machine: valid, and honestly too noisy to judge; with a quiet canary it gates itself."""
    record = TEMPLATE
    assert validate_record(record) == []
    assert record.env.device_type == "cpu" and record.config.precision
    keys = [row.key for row in record.results]
    assert keys == ["fcdm-s", "fcdm-s[ckpt-always]"]
    noisy = compare(record, record)
    assert noisy.status is Status.INSUFFICIENT_DATA and noisy.canary_dispersion > 0.10

    def median_blocks(item):  # each block replaced by the median block
        return dataclasses.replace(
            item, block_s=(sorted(item.block_s)[len(item.block_s) // 2],) * 5
        )

    quiet = dataclasses.replace(
        record,
        canary=median_blocks(record.canary),
        results=tuple(median_blocks(r) for r in record.results),
    )
    assert compare(quiet, quiet).status is Status.PASS
    slower = dataclasses.replace(
        quiet,  # 5x slower: beyond any noise bound
        results=tuple(
            dataclasses.replace(r, block_s=tuple(s / 0.2 for s in r.block_s)) for r in quiet.results
        ),
    )
    verdict = compare(slower, quiet)
    assert verdict.status is Status.RERUN and set(verdict.regressed_keys) == set(keys)
    assert validate_record({"schema": "fcdmbench.flops/1"})  # not a throughput record


def test_fewer_than_5_blocks_is_insufficient_data_for_gate_and_baseline(tmp_path, baseline):
    """One rule (`insufficient_data`): the gate does not judge a 3-block run, and
    `write_baseline` refuses to store one; 5 blocks are enough (the protocol's minimum)."""
    from fcdmbench.throughput.gate import insufficient_data

    short = make_record({k: v[:3] for k, v in BASE_RATES.items()}, canary=QUIET[:3])
    assert "fewer than 5 timed blocks" in insufficient_data(short)
    assert compare(short, baseline).status is Status.INSUFFICIENT_DATA
    assert compare(make_record(BASE_RATES), short).status is Status.INSUFFICIENT_DATA
    with pytest.raises(CheckFailedError, match="fewer than 5 timed blocks"):
        write_baseline(short, tmp_path, "test")
    assert list(tmp_path.iterdir()) == []
    assert insufficient_data(make_record(BASE_RATES)) is None
    forced = load_baseline(write_baseline(short, tmp_path, "test", force=True))
    assert forced.forced and "fewer than 5" in forced.forced_reason
