"""``fcdmbench.sample/2`` (the ``<out>.npz.json`` sidecar of `fcdmbench sample`) and
``fcdmbench.spectral/2`` (`fcdmbench analyze spectral`, the seed paper's Figure 7).

The sample record names everything that moves FID (docs/sampling.md, "The sample record"): model and
overrides, checkpoint hash and which weights were used, sampler and steps, guidance, seeds and
their scheme, labels, VAE, precision, devices. `fcdmbench eval` reads it to label its own record.
``rng`` says whose random-number scheme drew the noise (``"fcdmbench"``: per-batch generators,
independent of the number of processes; ``"upstream"``: the upstream script's); None where a
file does not say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from fcdmbench.env import EnvInfo
from fcdmbench.records._base import Record, RunInfo

__all__ = [
    "CheckpointInfo",
    "GuidanceInfo",
    "LabelInfo",
    "SDEInfo",
    "SampleModel",
    "SamplePrecision",
    "SampleRecord",
    "SampleTiming",
    "SamplerInfo",
    "SpectralCurve",
    "SpectralRecord",
    "SpectralSource",
    "VAEInfo",
]


@dataclass(frozen=True, slots=True)
class SampleModel:
    name: str  # registry name
    display_name: str
    family: str
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    """The network's weights: the file (None in smoke mode) and which of its weights were used."""

    path: str | None
    sha256: str | None
    weights_used: str  # "ema", "model", ... or "random (smoke mode)"
    weights_available: tuple[str, ...] = ()
    smoke: bool = False


@dataclass(frozen=True, slots=True)
class VAEInfo:
    """The VAE as asked for (`source`) and as loaded (`resolved`, its weights' sha256)."""

    source: str
    resolved: str
    weights_sha256: str | None
    random_weights: bool
    latent_scale: float
    decode: str


@dataclass(frozen=True, slots=True)
class SDEInfo:
    """The flow sampler's Euler-Maruyama settings."""

    steps: int
    last_step_size: float
    diffusion_norm: float
    diffusion_form: str = "sigma"
    last_step: str = "mean"


@dataclass(frozen=True, slots=True)
class LabelInfo:
    """How class labels were drawn; `num_classes` is also the null (unconditional) label."""

    scheme: str
    num_classes: int


@dataclass(frozen=True, slots=True)
class SampleTiming:
    """Wall time of this process's run, and the time every shard's batches took."""

    wall_s_this_run: float
    batch_seconds_all_shards: float
    img_per_s_per_process: float | None = None


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
    sde: SDEInfo | None = None


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
    checkpoint: CheckpointInfo
    sampler: SamplerInfo
    cfg: GuidanceInfo
    seed: int
    num_samples: int
    batch_size: int
    resolution: int
    precision: SamplePrecision
    vae: VAEInfo
    labels: LabelInfo
    timing: SampleTiming
    arrays: dict[str, str] = field(default_factory=dict)  # npz member -> what it holds
    seed_scheme: str = ""
    devices: dict[str, int] = field(default_factory=dict)  # device name -> images it made
    world_size: int = 1
    backend: str | None = None
    resumed: bool = False
    batches_total: int | None = None
    batches_generated_this_run: int | None = None
    rng: str | None = None


@dataclass(frozen=True, slots=True)
class SpectralCurve:
    """Spectral energy per timestep: mean and standard deviation over the samples."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class SpectralSource:
    """What the curves were computed on: images from `path` (encoded by `vae`), or synthetic
    latents; `labels`: ``"arr_1"`` or ``"null"`` (the unconditional label)."""

    kind: str
    labels: str
    path: str | None = None
    vae: VAEInfo | None = None


@dataclass(frozen=True, slots=True)
class SpectralRecord(Record):
    """Spectral energy of the predicted noise per timestep, one curve per model (Figure 7)."""

    SCHEMA: ClassVar[str] = "fcdmbench.spectral/2"

    run: RunInfo
    env: EnvInfo
    models: tuple[str, ...]
    weights: dict[str, str]  # model -> weights used
    smoke: bool
    num_samples: int
    timesteps: tuple[int, ...]
    resolution: int
    seed: int
    source: SpectralSource
    curves: dict[str, SpectralCurve]
    figure: str = "FCDM paper App. F, Figure 7 (spectral energy of predicted noise)"
    definition: str = ""
    checkpoints: tuple[str, ...] = ()
    overrides: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    rng: str | None = None
