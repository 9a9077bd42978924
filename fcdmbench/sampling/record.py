"""The `SampleRecord` of a sampling run (the ``<out>.npz.json`` sidecar), built in one place."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from fcdmbench.env import EnvInfo
from fcdmbench.precision import PrecisionState
from fcdmbench.records._base import RunInfo
from fcdmbench.records.sampling import (
    GuidanceInfo,
    LabelInfo,
    SampleModel,
    SamplePrecision,
    SampleRecord,
    SamplerInfo,
    SampleTiming,
    SDEInfo,
)
from fcdmbench.sampling.setup import SamplingSetup

__all__ = ["RunSummary", "build_sample_record"]


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a finished run knows beyond its settings: outputs, devices, timing, resume state."""

    npz_sha256: str
    devices: dict[str, int]
    world_size: int
    backend: str | None
    resumed: bool
    batches_total: int
    batches_generated_this_run: int
    wall_s: float
    batch_seconds: float
    started: str


def build_sample_record(
    setup: SamplingSetup, precision_state: PrecisionState, env: EnvInfo, summary: RunSummary
) -> SampleRecord:
    """Every setting that changes pixels, plus where and how fast they were made."""
    config, spec, guidance = setup.config, setup.spec, setup.guidance
    diffusion, flow, plan = setup.diffusion, setup.flow, setup.plan
    image_shape = [config.num, config.resolution, config.resolution, 3]
    nfe = config.steps if diffusion is None else diffusion.num_steps
    sde = None if flow is None else SDEInfo(**dataclasses.asdict(flow))
    flags = dataclasses.asdict(precision_state)
    return SampleRecord(
        run=RunInfo.current(started=summary.started),
        env=env,
        npz=str(config.out.resolve()),
        npz_sha256=summary.npz_sha256,
        arrays={
            "arr_0": f"images uint8 NHWC {image_shape}",
            "arr_1": f"class labels int64 [{config.num}]",
        },
        smoke=config.smoke,
        model=SampleModel(spec.name, spec.display_name, spec.family, dict(setup.overrides)),
        checkpoint=setup.checkpoint,
        sampler=SamplerInfo(
            name=config.sampler.value,
            steps=config.steps,
            network_evaluations_per_image=nfe * (2 if guidance.is_active else 1),
            respacing=config.respacing or (None if flow else str(config.steps)),
            variance=diffusion.variance.value if diffusion else None,
            train_steps=None if flow else 1000,
            beta_schedule=None if flow else "linear 1e-4..0.02",
            ddim_eta=config.ddim_eta if diffusion else None,
            sde=sde,
        ),
        cfg=GuidanceInfo(
            guidance.scale, guidance.channels, guidance.null_label, guidance.is_active
        ),
        seed=config.seed,
        rng=config.rng.value,
        seed_scheme=plan.seed_scheme,
        labels=LabelInfo(
            "randint (upstream)" if config.rng.value == "upstream" else config.labels.value,
            guidance.null_label,
        ),
        num_samples=config.num,
        batch_size=config.batch_size,
        resolution=config.resolution,
        vae=setup.vae.to_record(),
        precision=SamplePrecision(
            mode=config.precision.value,
            vae="fp32",
            autocast=flags.pop("autocast_dtype"),
            flags={k: v for k, v in flags.items() if k != "precision"},
        ),
        devices=summary.devices,
        world_size=summary.world_size,
        backend=summary.backend,
        resumed=summary.resumed,
        batches_total=summary.batches_total,
        batches_generated_this_run=summary.batches_generated_this_run,
        timing=SampleTiming(
            round(summary.wall_s, 3),
            round(summary.batch_seconds, 3),
            round(config.num / summary.batch_seconds, 4) if summary.batch_seconds else None,
        ),
    )
