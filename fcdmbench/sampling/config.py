"""The settings of one `fcdmbench sample` run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcdmbench.errors import ConfigError
from fcdmbench.evaluation.streaming import StreamEvalConfig
from fcdmbench.precision import Precision
from fcdmbench.sampling.choices import LabelScheme, RngScheme, SamplerKind
from fcdmbench.sampling.diffusion import TRAIN_STEPS, space_timesteps

__all__ = ["SAMPLE_PRECISIONS", "LabelScheme", "RngScheme", "SampleConfig", "sidecar_path"]

#: The precision modes sampling offers (the VAE always decodes in fp32).
SAMPLE_PRECISIONS = (Precision.FP32_STRICT, Precision.TF32, Precision.BF16)


@dataclass(frozen=True, slots=True)
class SampleConfig:
    """Every setting of a sampling run (see `fcdmbench sample --help` for the meaning of each)."""

    model: str
    out: Path
    num: int
    checkpoint: Path | None = None
    smoke: bool = False
    resolution: int = 256
    sampler: SamplerKind = SamplerKind.IDDPM
    steps: int = 250
    respacing: str | None = None
    cfg_scale: float = 1.5
    cfg_all_channels: bool = False
    seed: int = 0
    labels: LabelScheme = LabelScheme.RANDOM
    rng: RngScheme = RngScheme.FCDMBENCH
    batch_size: int = 64
    vae: str | None = None
    precision: Precision = Precision.FP32_STRICT
    device: str = "auto"
    overrides: tuple[tuple[str, Any], ...] = field(default_factory=tuple)
    ddim_eta: float = 0.0
    sde_last_step: float = 0.04
    keep_shards: bool = False
    # `sample --eval` (issue 32): evaluate the images as the merge streams them (None: do not).
    stream_eval: StreamEvalConfig | None = None
    # False (`sample --eval --no-save`): only the eval record is written, no npz, no sample record.
    save_npz: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        if self.num < 1 or self.batch_size < 1 or self.steps < 1:
            raise ConfigError("num, batch_size and steps must be >= 1")
        if self.out.suffix != ".npz":
            raise ConfigError(f"--out must end in .npz, got {self.out}")
        if self.smoke == (self.checkpoint is not None):
            raise ConfigError(
                "give exactly one of --ckpt PATH and --smoke",
                hint="--smoke samples from random weights (for tests; stamped in the output)",
            )
        if self.cfg_scale < 1.0:
            raise ConfigError(f"--cfg-scale must be >= 1 (1 = no guidance), got {self.cfg_scale}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        if self.precision not in SAMPLE_PRECISIONS:
            raise ConfigError(
                f"sampling precision must be one of {[p.value for p in SAMPLE_PRECISIONS]}, "
                f"got {self.precision.value!r}"
            )
        if not self.save_npz and self.stream_eval is None:
            raise ConfigError(
                "--no-save writes no npz: without --eval nothing would be kept",
                hint="add --eval (the images are evaluated as they are made), or drop --no-save",
            )
        if not self.sampler.is_flow:  # a bad schedule fails here, before any model is built
            space_timesteps(TRAIN_STEPS, self.respacing or self.steps)
        if self.rng is RngScheme.UPSTREAM:
            if self.labels is not LabelScheme.RANDOM:
                raise ConfigError(
                    "--rng upstream draws labels as upstream does (uniform randint)",
                    hint="drop --labels balanced, or use --rng fcdmbench",
                )
            if self.sampler.is_flow:
                raise ConfigError(
                    "--rng upstream reproduces DiT's/FCDM's sample_ddp.py (iddpm, ddim), "
                    "not the flow script",
                    hint="use --rng fcdmbench with --sampler sde",
                )


def sidecar_path(out: Path) -> Path:
    """``samples.npz`` -> ``samples.npz.json``."""
    return Path(f"{out}.json")
