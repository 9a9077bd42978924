"""Synthetic records for report tests, built through `fcdmbench.records` from a real command output.

The recorded CPU throughput run in tests/fixtures/throughput is the template; a made-up GPU
("Synthetic Test GPU", slug ``synthetic-gpu``) and round numbers are put in with
`dataclasses.replace`: every file has exactly the shape a command writes, and no value can be
mistaken for a real GPU figure.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fcdmbench.records.evaluation import (
    EvalMode,
    EvalRecord,
    InceptionGraph,
    ReferenceFile,
    SamplerSettings,
    SamplesFile,
)
from fcdmbench.records.io import read_record
from fcdmbench.records.throughput import Summary, ThroughputRecord

RECORDED = Path(__file__).parents[1] / "fixtures" / "throughput" / "cpu-fcdm-s-bs2.json"


def synthetic_throughput(
    rates: dict[str, float],
    precision: str,
    batch: int = 64,
    device_type: str = "cuda",
    slug: str = "synthetic-gpu",
) -> ThroughputRecord:
    """The recorded CPU run with its device, settings and rows replaced (IQR = 2 % of median)."""
    template = read_record(RECORDED, kind=ThroughputRecord)
    env = dataclasses.replace(
        template.env,
        device_type=device_type,
        device_name="Synthetic Test GPU" if device_type == "cuda" else "Synthetic Test CPU",
        device_slug=slug,
        torch="2.13.0",
    )
    config = dataclasses.replace(
        template.config, precision=precision, batch=batch, device_type=device_type
    )
    rows = []
    for model, rate in rates.items():
        samples = (0.99 * rate, rate, 1.01 * rate)
        rows.append(
            dataclasses.replace(
                template.results[0],
                key=model,
                model=model,
                batch=batch,
                batch_requested=batch,
                images_per_call=batch,
                calls_per_block=1,
                block_s=tuple(batch / r for r in samples),
                img_per_s=Summary(rate, samples[0], samples[2], samples[2] - samples[0], samples),
            )
        )
    return dataclasses.replace(template, env=env, config=config, results=tuple(rows), notes=())


def synthetic_eval(**changes) -> EvalRecord:
    """An FID-50K record of FCDM-XL at 400K iterations on the synthetic GPU (round numbers)."""
    template = read_record(RECORDED, kind=ThroughputRecord)
    env = dataclasses.replace(
        template.env,
        device_type="cuda",
        device_name="Synthetic Test GPU",
        device_slug="synthetic-gpu",
    )
    record = EvalRecord(
        run=template.run,
        env=env,
        inception_score=107.0,
        fid=10.9,
        sfid=5.5,
        precision=0.69,
        recall=0.62,
        num_samples=50_000,
        num_available=50_000,
        num_ref=10_000,
        allow_fewer=False,
        resolution=256,
        mode=EvalMode(sqrtm="adm", distance="adm", adm_exact=True),
        samples=SamplesFile("samples.npz", "0" * 64, (256, 256), False),
        reference=ReferenceFile("imagenet256", "ref.npz", "1" * 64, "ok", "stored", False),
        inception=InceptionGraph("inception.pb", "2" * 64, "adm-inception", 64),
        model="fcdm-xl",
        model_source="--model",
        training_steps=400_000,
        sampler=SamplerSettings(source="--meta", name="iddpm", steps=250, cfg_scale=1.0),
    )
    return dataclasses.replace(record, **changes)
