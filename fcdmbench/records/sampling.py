"""``fcdmbench.sample/2`` (the ``<out>.npz.json`` sidecar of `fcdmbench sample`) and
``fcdmbench.spectral/2`` (`fcdmbench analyze spectral`, the seed paper's Figure 7).

The sample record names everything that moves FID (docs/sampling.md, "The sample record"): model and
overrides, checkpoint hash and which weights were used, sampler and steps, guidance, seeds and
their scheme, labels, VAE, precision, devices. `fcdmbench eval` reads it to label its own record.
``rng`` says whose random-number scheme drew the noise (``"fcdmbench"``: per-batch generators,
independent of the number of processes; ``"upstream"``: the upstream script's); None in records
written before the field existed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from fcdmbench.env import EnvInfo
from fcdmbench.records._base import Record, RunInfo, run_from_env, v1_missing

__all__ = [
    "GuidanceInfo",
    "SampleModel",
    "SamplePrecision",
    "SampleRecord",
    "SamplerInfo",
    "SpectralCurve",
    "SpectralRecord",
]


@dataclass(frozen=True, slots=True)
class SampleModel:
    name: str  # registry name
    display_name: str
    family: str
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SamplerInfo:
    name: str  # iddpm, ddim, sde
    steps: int
    network_evaluations_per_image: int
    respacing: str | None = None
    variance: str | None = None
    train_steps: int | None = None
    beta_schedule: str | None = None
    ddim_eta: float | None = None
    sde: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class GuidanceInfo:
    scale: float  # 1.0: no guidance
    channels: int
    null_label: int
    active: bool


@dataclass(frozen=True, slots=True)
class SamplePrecision:
    mode: str  # the network's precision mode
    vae: str = "fp32"
    autocast: str | None = None
    flags: dict[str, Any] = field(default_factory=dict)  # TF32/cudnn flags read back from torch


@dataclass(frozen=True, slots=True)
class SampleRecord(Record):
    """A sampling run: the merged npz and every setting that produced it."""

    SCHEMA: ClassVar[str] = "fcdmbench.sample/2"

    run: RunInfo
    env: EnvInfo
    npz: str
    npz_sha256: str
    smoke: bool
    model: SampleModel
    checkpoint: dict[str, Any]
    sampler: SamplerInfo
    cfg: GuidanceInfo
    seed: int
    num_samples: int
    batch_size: int
    resolution: int
    precision: SamplePrecision
    vae: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, str] = field(default_factory=dict)
    seed_scheme: str = ""
    labels: dict[str, Any] = field(default_factory=dict)
    devices: dict[str, int] = field(default_factory=dict)
    world_size: int = 1
    backend: str | None = None
    resumed: bool = False
    batches_total: int | None = None
    batches_generated_this_run: int | None = None
    timing: dict[str, float | None] = field(default_factory=dict)
    rng: str | None = None

    @classmethod
    def _from_v1(cls, obj: dict, where: str) -> dict:
        env = obj.get("env")
        if not isinstance(env, dict) or not isinstance(obj.get("model"), dict):
            raise v1_missing(where, obj, "env or model section", "fcdmbench sample ...")
        return {**obj, "run": run_from_env(env)}


@dataclass(frozen=True, slots=True)
class SpectralCurve:
    """Spectral energy per timestep: mean and standard deviation over the samples."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class SpectralRecord(Record):
    """Spectral energy of the predicted noise per timestep, one curve per model (Figure 7)."""

    SCHEMA: ClassVar[str] = "fcdmbench.spectral/2"

    run: RunInfo
    env: EnvInfo
    models: tuple[str, ...]
    weights: dict[str, str]
    smoke: bool
    num_samples: int
    timesteps: tuple[int, ...]
    resolution: int
    seed: int
    source: dict[str, Any]
    curves: dict[str, SpectralCurve]
    figure: str = "FCDM paper App. F, Figure 7 (spectral energy of predicted noise)"
    definition: str = ""
    checkpoints: tuple[str, ...] = ()
    overrides: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    rng: str | None = None

    @classmethod
    def _from_v1(cls, obj: dict, where: str) -> dict:
        env = obj.get("env")
        if not isinstance(env, dict):
            raise v1_missing(where, obj, "env", "fcdmbench analyze spectral ...")
        return {**obj, "run": run_from_env(env)}
