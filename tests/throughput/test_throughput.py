"""The throughput protocol: a real CPU run of FCDM-S, OOM halving, interleaving, precision flags."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fcdmbench.errors import ConfigError, DeviceError
from fcdmbench.precision import Precision, apply_precision
from fcdmbench.records.io import read_record, write_record
from fcdmbench.records.throughput import ThroughputRecord
from fcdmbench.throughput.canary import build_canary, canary_spec_for
from fcdmbench.throughput.gate import validate_record
from fcdmbench.throughput.measure import (
    FcdmCheckpointing,
    Order,
    ProtocolConfig,
    ThroughputConfig,
    Workload,
    measure_throughput,
    prepare_with_oom_retry,
    resolve_device,
    step_options,
)
from fcdmbench.throughput.protocol import Timer, run_protocol
from fcdmbench.throughput.workloads import Mode, Step, StepOptions, count_gflops_per_image

TINY = ProtocolConfig(warmup_calls=1, warmup_s=0.2, blocks=3, min_block_s=0.1, pause_s=0.0)
#: For fake steps that take microseconds: no time-based warm-up or block length.
FAKE = ProtocolConfig(warmup_calls=1, warmup_s=0.0, blocks=3, min_block_s=0.0, pause_s=0.0)


def test_cpu_run_of_fcdm_s_gives_a_valid_record(tmp_path, one_thread):
    config = ThroughputConfig(
        models=("FCDM-S",),
        batch=2,
        resolution=256,
        device="cpu",
        fcdm_checkpointing=FcdmCheckpointing.OFF,
    )
    record = measure_throughput(config, TINY)
    path = write_record(tmp_path / "run.json", record)
    assert read_record(path, kind=ThroughputRecord) == record  # the file holds the whole record
    assert validate_record(record) == []
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # atomic: no temp file left
    assert record.env.device_type == "cpu" and record.env.device_slug.startswith("cpu")
    assert record.run.fcdmbench and record.run.started and record.run.command
    assert record.config.precision is Precision.PAPER_DEFAULT
    assert record.config.fcdm_checkpointing == ("off",) and record.config.ref is None
    assert record.config.tf32_effective is False
    assert record.protocol.timer == "perf_counter" and record.protocol.blocks == 3
    (row,) = record.results
    assert row.key == "fcdm-s" and row.status == "ok" and row.batch == 2
    assert len(row.block_s) == 3 and len(row.img_per_s.samples) == 3
    assert row.img_per_s.median > 0 and row.ms_per_forward > 0
    assert row.gflops_per_img == pytest.approx(2 * row.gmacs_per_img)
    assert row.mfu is None and row.peak_mem_gib is None  # CPU: no peak, no allocator
    assert row.ratio_to_canary > 0
    assert record.canary.name.startswith("canary-") and len(record.canary.block_s) == 3
    # The call the protocol timed is what a block holds: calls x images / seconds.
    expected = [row.calls_per_block * 2 / s for s in row.block_s]
    assert list(row.img_per_s.samples) == pytest.approx(expected)
    (point,) = record.points()
    assert (point.model, point.batch, point.device_type) == ("fcdm-s", 2, "cpu")
    assert point.img_per_s == record.median_img_per_s("fcdm-s") == row.img_per_s.median
    assert point.on == f"{record.env.device_slug} paper-default bs2"


def _fake_workload(
    key: str, fail_above: int | None = None, error: Exception | None = None, log: list | None = None
) -> Workload:
    def build(batch: int) -> Step:
        def run():
            if fail_above is not None and batch > fail_above:
                raise torch.OutOfMemoryError(f"CUDA out of memory (fake, batch {batch})")
            if error is not None:
                raise error
            if log is not None:
                log.append(key)

        return Step(run, images_per_call=batch, rows_per_call=batch, state_bytes=0)

    return Workload(key, build, model=None if key == "canary" else key)


def test_oom_halves_the_batch_and_says_so():
    timer = Timer(torch.device("cpu"))
    result = prepare_with_oom_retry(_fake_workload("m", fail_above=2), 8, FAKE, timer)
    assert result.status == "ok" and result.batch == 2 and result.batch_requested == 8
    assert result.oom_retries == [8, 4]
    never = prepare_with_oom_retry(_fake_workload("m", fail_above=0), 4, FAKE, timer)
    assert never.status == "oom" and never.oom_retries == [4, 2, 1]
    broken = prepare_with_oom_retry(_fake_workload("m", error=ValueError("bad")), 4, FAKE, timer)
    assert broken.status == "failed" and broken.oom_retries == [] and "bad" in broken.error


def test_models_are_interleaved_and_timed_in_blocks():
    log: list[str] = []
    protocol = dataclasses.replace(FAKE, block_warmup_calls=0)
    items = [_fake_workload(k, log=log) for k in ("canary", "a", "b")]
    results = run_protocol(items, 4, protocol, Order.INTERLEAVED, Timer(torch.device("cpu")))
    timed = log[3:]  # after one warm-up call each
    assert timed == ["canary", "a", "b"] * 3
    assert [len(r.block_s) for r in results] == [3, 3, 3]
    assert results[0].batch == 1 and results[1].batch == 4  # the canary has a fixed size
    log.clear()
    run_protocol(items, 4, protocol, Order.SEQUENTIAL, Timer(torch.device("cpu")))
    assert log == ["canary"] * 4 + ["a"] * 4 + ["b"] * 4


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_cuda_requested_without_cuda_is_a_device_error():
    with pytest.raises(DeviceError) as info:
        resolve_device("cuda")
    assert info.value.exit_code == 4 and "--device cpu" in info.value.hint
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ConfigError):
        resolve_device("tpu")


def test_precision_modes_set_and_restore_flags():
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    before = (matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark)
    with apply_precision(Precision.TF32, "cuda", capability="9.0") as state:
        assert (state.tf32_matmul, state.tf32_cudnn, state.tf32_effective) == (True, True, True)
        assert matmul.allow_tf32 and cudnn.allow_tf32
    with apply_precision(Precision.FP32_STRICT, "cpu") as state:
        assert not state.tf32_matmul and not state.tf32_cudnn and not state.tf32_effective
    with apply_precision(Precision.PAPER_DEFAULT, "cuda", capability="8.0") as state:
        assert (state.tf32_matmul, state.tf32_cudnn) == (False, True)
    assert (matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark) == before
    assert Precision.BF16.autocast_dtype() is torch.bfloat16
    assert Precision.FP16.autocast_dtype() is torch.float16
    assert Precision.FP32_STRICT.autocast_dtype() is None
    assert Precision("paper-default") is Precision.PAPER_DEFAULT


def test_config_validation_and_fcdm_variants():
    assert ThroughputConfig(models=("fcdm-s",)).fcdm_checkpointing == ("off", "always")
    train = ThroughputConfig(models=("fcdm-s",), mode=Mode.TRAIN)
    assert train.fcdm_checkpointing == ("off",)
    train_ckpt = ThroughputConfig(models=("fcdm-s",), mode=Mode.TRAIN, grad_checkpointing=True)
    assert train_ckpt.fcdm_checkpointing == ("always",)
    assert ProtocolConfig().for_mode(train_ckpt.mode) is Order.SEQUENTIAL
    assert ProtocolConfig().for_mode(Mode.INFER) is Order.INTERLEAVED
    assert ThroughputConfig(models=("fcdm-s",), mode="train", precision="bf16").mode is Mode.TRAIN
    with pytest.raises(ConfigError):
        ThroughputConfig(models=())
    with pytest.raises(ConfigError):
        ThroughputConfig(models=("fcdm-s",), grad_checkpointing=True)
    with pytest.raises(ConfigError):
        step_options(ThroughputConfig(models=("fcdm-s",), mode=Mode.TRAIN, cfg=True))
    with pytest.raises(ConfigError):
        step_options(ThroughputConfig(models=("fcdm-s",), compile="fastest"))
    with pytest.raises(ConfigError, match="contradicts"):
        ThroughputConfig(
            models=("fcdm-s",),
            mode=Mode.TRAIN,
            grad_checkpointing=True,
            fcdm_checkpointing=FcdmCheckpointing.OFF,
        )
    with pytest.raises(ConfigError):
        ProtocolConfig(blocks=0)


def test_flops_match_the_golden_meta_count():
    """docs/flops.md, "Golden values": FCDM-XL, FlopCounterMode on meta, 129.06 GFLOPs per image."""
    gflops, basis = count_gflops_per_image("fcdm-xl", {}, StepOptions())
    assert gflops == pytest.approx(129.06, rel=1e-3) and "meta" in basis
    with_cfg, _ = count_gflops_per_image("fcdm-xl", {}, StepOptions(cfg=True))
    assert with_cfg == pytest.approx(2 * gflops)


def test_canary_runs_and_counts_its_macs():
    spec = canary_spec_for("cpu")
    n, c, s, b = spec.gemm_n, spec.conv_channels, spec.conv_side, spec.conv_batch
    assert spec.gmacs_per_call * 1e9 == 2 * n**3 + b * s * s * c * 49 + b * s * s * c * c * 9
    out = build_canary(spec, torch.device("cpu"))()
    assert out.shape == (b, c, s, s) and torch.isfinite(out).all()
    with pytest.raises(ConfigError):
        canary_spec_for("mps")


def test_reference_model_degrades_gracefully(monkeypatch):
    from fcdmbench.errors import UnknownModelError
    from fcdmbench.throughput.record_builder import resolve_ref

    monkeypatch.setattr("fcdmbench.throughput.record_builder.DEFAULT_REF", "not-a-model")
    ref, notes = resolve_ref(ThroughputConfig(models=("fcdm-s",)))
    assert ref is None and "not-a-model is not registered" in notes[0]
    monkeypatch.setattr("fcdmbench.throughput.record_builder.DEFAULT_REF", "fcdm-b")
    ref, notes = resolve_ref(ThroughputConfig(models=("fcdm-s",)))
    assert ref is None and "add fcdm-b to --models" in notes[0]  # never timed behind your back
    assert resolve_ref(ThroughputConfig(models=("fcdm-s", "fcdm-b"))) == ("fcdm-b", [])
    explicit = ThroughputConfig(models=("fcdm-s",), ref="FCDM-L")
    assert explicit.measured_models() == ("fcdm-s", "FCDM-L")
    assert resolve_ref(explicit) == ("fcdm-l", [])
    assert resolve_ref(ThroughputConfig(models=("fcdm-s",), ref="none")) == (None, [])
    with pytest.raises(UnknownModelError):
        resolve_ref(ThroughputConfig(models=("fcdm-s",), ref="dit-typo"))


def test_training_flops_are_three_forwards():
    """Not FlopCounterMode through autograd: it counts depthwise-conv backward as dense."""
    forward, _ = count_gflops_per_image("fcdm-s", {}, StepOptions())
    train, basis = count_gflops_per_image("fcdm-s", {}, StepOptions(mode=Mode.TRAIN))
    assert train == pytest.approx(3 * forward) and basis.startswith("3 x forward")
