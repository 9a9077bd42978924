"""`SamplingSetup`: everything a sampling run builds before its first batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from fcdmbench.catalog.spec import ModelSpec
from fcdmbench.records.sampling import CheckpointInfo
from fcdmbench.sampling.config import RngScheme, SampleConfig
from fcdmbench.sampling.diffusion import GaussianDiffusion
from fcdmbench.sampling.rng import FcdmbenchPlan, UpstreamPlan
from fcdmbench.sampling.samplers import FlowSDE, Guidance
from fcdmbench.sampling.vae import LoadedVAE

__all__ = ["SHARD_FORMAT", "SamplingSetup"]

#: Bumped when the shard layout changes (old shard folders are then refused, not misread).
SHARD_FORMAT = 2


@dataclass(frozen=True, slots=True)
class SamplingSetup:
    """Everything a run builds before its first batch (the same on every rank)."""

    config: SampleConfig
    spec: ModelSpec
    overrides: dict[str, Any]
    model: torch.nn.Module  # eval mode, on the device
    checkpoint: CheckpointInfo
    vae: LoadedVAE
    guidance: Guidance
    diffusion: GaussianDiffusion | None  # None for the flow sampler
    flow: FlowSDE | None
    plan: FcdmbenchPlan | UpstreamPlan
    latent_shape: tuple[int, int, int]

    def fingerprint(self) -> dict[str, Any]:
        """The settings that change pixels (checked when resuming from shards)."""
        c = self.config
        fields = {
            "shard_format": SHARD_FORMAT,
            "model": self.spec.name,
            "overrides": {k: str(v) for k, v in sorted(self.overrides.items())},
            "checkpoint_sha256": self.checkpoint.sha256,
            "smoke": c.smoke,
            "resolution": c.resolution,
            "sampler": c.sampler.value,
            "steps": c.steps,
            "respacing": c.respacing,
            "cfg_scale": c.cfg_scale,
            "cfg_all_channels": c.cfg_all_channels,
            "seed": c.seed,
            "rng": c.rng.value,
            "labels": c.labels.value,
            "batch_size": c.batch_size,
            "num": c.num,
            "vae": self.vae.resolved,
            "precision": c.precision.value,
            "ddim_eta": c.ddim_eta,
            "sde_last_step": c.sde_last_step,
        }
        if c.rng is RngScheme.UPSTREAM:  # its images depend on the number of processes
            fields["world_size"] = self.plan.world
        return fields
