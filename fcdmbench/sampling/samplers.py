"""Samplers shared by every registered model: iDDPM ancestral, DDIM, and the flow-matching SDE.

All three take a `ModelFn` ``(x, t) -> output`` that already applies classifier-free guidance
(`make_model_fn`), a starting noise tensor and a ``torch.Generator`` that supplies every later
random draw, so one batch is reproducible from its seed alone.

- iDDPM: ancestral sampling with the learned-range variance (Nichol & Dhariwal 2021), DiT's
  ``p_sample_loop`` with ``clip_denoised=False``.
- DDIM: Song et al. 2021 Eq. 12 with ``eta`` (0 = deterministic).
- SDE: the Euler-Maruyama sampler of SiT's transport code as FCDM's Appendix E uses it
  (star-kwon/FCDM @ 0ec590f ``flow_matching/``, ``train_gen_flow/sample_ddp_flow.py``): linear path
  x_t = t x1 + (1 - t) x0 with t = 0 noise and t = 1 data, velocity prediction, diffusion
  coefficient w(t) = 1 - t ("sigma" form, norm 1), time grid linspace(0, 1 - h, N) with N - 1
  noisy steps and a final noise-free "Mean" step of size h = 0.04: N network evaluations.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable
from dataclasses import dataclass

import torch

from fcdmbench.errors import ConfigError
from fcdmbench.sampling.diffusion import GaussianDiffusion, nonzero_mask

__all__ = [
    "FlowSDE",
    "Guidance",
    "ModelFn",
    "SamplerKind",
    "guided_output",
    "make_model_fn",
    "sample_ddim",
    "sample_flow_sde",
    "sample_iddpm",
]

#: ``(x, t) -> network output``: t holds original training steps (ADM) or times in [0, 1] (flow).
ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
StepCallback = Callable[[int, int], None]


class SamplerKind(enum.Enum):
    """The sampler families (`--sampler`)."""

    IDDPM = "iddpm"
    DDIM = "ddim"
    SDE = "sde"

    @property
    def is_flow(self) -> bool:
        return self is SamplerKind.SDE


@dataclass(frozen=True, slots=True)
class Guidance:
    """Classifier-free guidance as DiT applies it.

    Args:
        scale: 1 disables guidance (one forward per step); > 1 runs a conditional and a
            null-label half and mixes them as uncond + scale * (cond - uncond).
        channels: how many leading output channels are mixed (DiT: 3 of the 4 latent channels;
            the rest, including any variance output, is taken from the conditional half).
        null_label: the label index of the unconditional embedding (``num_classes``).
    """

    scale: float = 1.5
    channels: int = 3
    null_label: int = 1000

    def __post_init__(self) -> None:
        if not self.scale >= 1.0:
            raise ConfigError(
                f"cfg scale must be >= 1 (1 = no guidance), got {self.scale}",
                hint="DiT's FID setting is 1.5; its picture setting 4.0",
            )
        if self.channels < 1:
            raise ConfigError(f"guidance channels must be >= 1, got {self.channels}")

    @property
    def is_active(self) -> bool:
        return self.scale != 1.0


def guided_output(
    model: Callable[..., torch.Tensor],
    x: torch.Tensor,
    t: torch.Tensor,
    y: torch.Tensor,
    guidance: Guidance,
) -> torch.Tensor:
    """One guided network evaluation for the rows of `x` (the model sees 2B rows when active)."""
    if not guidance.is_active:
        return model(x, t, y)
    n = x.shape[0]
    null = torch.full_like(y, guidance.null_label)
    out = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))
    cond, uncond = out[:n], out[n:]
    k = guidance.channels
    mixed = uncond[:, :k] + guidance.scale * (cond[:, :k] - uncond[:, :k])
    return torch.cat([mixed, cond[:, k:]], dim=1)


def make_model_fn(
    model: Callable[..., torch.Tensor],
    y: torch.Tensor,
    guidance: Guidance,
    autocast_dtype: torch.dtype | None = None,
) -> ModelFn:
    """Bind labels and guidance; the output is float32 whatever the compute precision."""

    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if autocast_dtype is None:
            context = contextlib.nullcontext()
        else:
            context = torch.autocast(device_type=x.device.type, dtype=autocast_dtype)
        with context:
            out = guided_output(model, x, t, y, guidance)
        return out.float()

    return model_fn


def _noise(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def sample_iddpm(
    model_fn: ModelFn,
    diffusion: GaussianDiffusion,
    x: torch.Tensor,
    generator: torch.Generator,
    on_step: StepCallback | None = None,
) -> torch.Tensor:
    """Ancestral sampling from x_T = `x` down to x_0 over the (respaced) process."""
    steps = diffusion.num_steps
    for k, i in enumerate(reversed(range(steps))):
        t = torch.full((x.shape[0],), i, device=x.device, dtype=torch.long)
        out = model_fn(x, diffusion.model_timesteps(t))
        mean, log_variance, _ = diffusion.p_mean_variance(out, x, t)
        x = mean + nonzero_mask(t, x) * torch.exp(0.5 * log_variance) * _noise(x, generator)
        if on_step is not None:
            on_step(k + 1, steps)
    return x


def sample_ddim(
    model_fn: ModelFn,
    diffusion: GaussianDiffusion,
    x: torch.Tensor,
    generator: torch.Generator,
    eta: float = 0.0,
    on_step: StepCallback | None = None,
) -> torch.Tensor:
    """DDIM over the (respaced) process; only the noise channels of the output are used."""
    if eta < 0:
        raise ConfigError(f"ddim eta must be >= 0, got {eta}")
    steps = diffusion.num_steps
    channels = x.shape[1]
    for k, i in enumerate(reversed(range(steps))):
        t = torch.full((x.shape[0],), i, device=x.device, dtype=torch.long)
        eps = model_fn(x, diffusion.model_timesteps(t))[:, :channels]
        x0 = diffusion.predict_x0(x, t, eps)
        abar = diffusion.gather("alphas_cumprod", t, x)
        abar_prev = diffusion.gather("alphas_cumprod_prev", t, x)
        sigma = eta * ((1 - abar_prev) / (1 - abar)).sqrt() * (1 - abar / abar_prev).sqrt()
        mean = x0 * abar_prev.sqrt() + (1 - abar_prev - sigma**2).sqrt() * eps  # Eq. 12
        x = mean + nonzero_mask(t, x) * sigma * _noise(x, generator) if eta > 0 else mean
        if on_step is not None:
            on_step(k + 1, steps)
    return x


@dataclass(frozen=True, slots=True)
class FlowSDE:
    """Euler-Maruyama settings for velocity-predicting flow models (FCDM App. E / SiT defaults).

    Args:
        steps: network evaluations per image: steps - 1 noisy steps plus the final mean step.
        last_step_size: h, the size of the final noise-free step (the grid ends at 1 - h).
        diffusion_norm: scale of the diffusion coefficient w(t) = norm * (1 - t).
    """

    steps: int = 250
    last_step_size: float = 0.04
    diffusion_norm: float = 1.0

    def __post_init__(self) -> None:
        if self.steps < 2:
            raise ConfigError(f"the SDE sampler needs >= 2 steps, got {self.steps}")
        if not 0.0 < self.last_step_size < 1.0:
            raise ConfigError(f"last_step_size must lie in (0, 1), got {self.last_step_size}")


def _flow_drift(v: torch.Tensor, x: torch.Tensor, t: torch.Tensor, norm: float) -> torch.Tensor:
    """SDE drift v + w(t) * score, score = (t v - x) / (1 - t) for the linear path."""
    t = t.reshape(-1, *([1] * (x.dim() - 1)))
    w = norm * (1 - t)
    score = (t * v - x) / (1 - t)
    return v + w * score


def sample_flow_sde(
    model_fn: ModelFn,
    x: torch.Tensor,
    generator: torch.Generator,
    settings: FlowSDE = FlowSDE(),
    on_step: StepCallback | None = None,
) -> torch.Tensor:
    """Integrate from noise (t = 0) to data (t = 1); `x` is the starting noise."""
    channels = x.shape[1]
    end = 1.0 - settings.last_step_size
    grid = torch.linspace(0.0, end, settings.steps)  # float32, as upstream
    dt = (grid[1] - grid[0]).item()
    batch = x.shape[0]
    for k, t_now in enumerate(grid[:-1].tolist()):
        t = torch.full((batch,), t_now, device=x.device, dtype=x.dtype)
        v = model_fn(x, t)[:, :channels]
        drift = _flow_drift(v, x, t, settings.diffusion_norm)
        w = settings.diffusion_norm * (1 - t_now)
        x = x + drift * dt + (2 * w * dt) ** 0.5 * _noise(x, generator)
        if on_step is not None:
            on_step(k + 1, settings.steps)
    t = torch.full((batch,), end, device=x.device, dtype=x.dtype)
    v = model_fn(x, t)[:, :channels]
    x = x + _flow_drift(v, x, t, settings.diffusion_norm) * settings.last_step_size
    if on_step is not None:
        on_step(settings.steps, settings.steps)
    return x
