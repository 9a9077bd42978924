"""GPU checks: run where CUDA exists (the device machine, a GPU CI runner); skipped elsewhere."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.gpu


def test_fcdm_s_forward_on_cuda_matches_cpu():
    """In strict fp32 (TF32 off for this test only: the flags are restored afterwards)."""
    from parity_checks import fixture_inputs

    from fcdmbench.parity import deterministic_state_dict
    from fcdmbench.precision import Precision, apply_precision
    from fcdmbench.registry import create_model

    flags = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    model = create_model("fcdm-s")
    model.load_state_dict(deterministic_state_dict(model.state_dict(), seed=0))
    x, t, y = fixture_inputs((4, 32, 32), batch=2, seed=0)
    with apply_precision(Precision.FP32_STRICT, "cuda", cudnn_benchmark=False), torch.no_grad():
        expected = model(x, t, y)
        got = model.cuda()(x.cuda(), t.cuda(), y.cuda()).cpu()
    assert (got - expected).abs().max().item() <= 1e-3
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == flags


def test_cuda_throughput_record_uses_cuda_events(tmp_path):
    from fcdmbench.records.io import read_record, write_record
    from fcdmbench.records.throughput import ThroughputRecord
    from fcdmbench.throughput.gate import validate_record
    from fcdmbench.throughput.measure import (
        FcdmCheckpointing,
        ProtocolConfig,
        ThroughputConfig,
        measure_throughput,
    )

    protocol = ProtocolConfig(warmup_calls=2, warmup_s=0.2, blocks=3, min_block_s=0.1, pause_s=0.0)
    config = ThroughputConfig(
        models=("fcdm-s",),
        batch=8,
        resolution=256,
        device="cuda",
        fcdm_checkpointing=FcdmCheckpointing.OFF,
    )
    path = write_record(tmp_path / "gpu.json", measure_throughput(config, protocol))
    record = read_record(path, kind=ThroughputRecord)
    assert validate_record(record) == []
    assert record.env.device_type == "cuda" and record.env.capability
    assert record.protocol.timer == "cuda_event"
    (row,) = record.results
    assert row.status == "ok" and row.img_per_s.median > 0
    assert row.peak_mem_gib is not None and row.peak_mem_gib > 0
    (point,) = record.points()
    assert point.is_gpu and point.batch == 8 and point.img_per_s == row.img_per_s.median
