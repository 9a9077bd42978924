"""Samplers shared by every registered model: iDDPM ancestral, DDIM, and the flow-matching SDE.

All three take a `ModelFn` ``(x, t) -> output`` that already applies classifier-free guidance
(`make_model_fn`), a starting state and a `NoiseFn` that supplies every later random draw.

Batch layout: under guidance the state holds upstream's doubled batch (2B rows: the samples and
a copy that carries the null-label half), exactly as DiT's ``sample_ddp.py`` runs it. The network
sees both halves through `fcdmbench.models.layers.cfg_forward`; the diffusion arithmetic and the
per-step noise run over all 2B rows, and `GuidedModel.result` keeps the first B. Doing the
arithmetic on the same shapes as upstream is what makes the latents bit-identical to upstream's
(elementwise kernels handle a tensor's tail differently from its body on CPU).

- iDDPM: ancestral sampling with the learned-range variance (Nichol & Dhariwal 2021), DiT's
  ``p_sample_loop`` with ``clip_denoised=False``; noise is drawn at every step, the last included
  (masked there), as upstream.
- DDIM: Song et al. 2021 Eq. 12 with ``eta`` (0 = deterministic), ADM's ``ddim_sample``: eps is
  recomputed from the predicted x0, and noise is drawn at every step even when eta = 0 (it is
  multiplied by sigma = 0), so the random stream advances as upstream's does.
- SDE: the Euler-Maruyama sampler of SiT's transport code as FCDM's Appendix E uses it
  (star-kwon/FCDM @ 0ec590f ``flow_matching/``, ``train_gen_flow/sample_ddp_flow.py``): linear path
  x_t = t x1 + (1 - t) x0 with t = 0 noise and t = 1 data, velocity prediction, diffusion
  coefficient w(t) = 1 - t ("sigma" form, norm 1), time grid linspace(0, 1 - h, N) with N - 1
  noisy steps and a final noise-free "Mean" step of size h = 0.04: N network evaluations.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from fcdmbench.errors import ConfigError
from fcdmbench.models.layers import cfg_forward
from fcdmbench.sampling.choices import SamplerKind
from fcdmbench.sampling.diffusion import GaussianDiffusion, nonzero_mask

__all__ = [
    "FlowSDE",
    "Guidance",
    "GuidedModel",
    "ModelFn",
    "NoiseFn",
    "SamplerKind",
    "generator_noise",
    "global_noise",
    "make_model_fn",
    "sample_ddim",
    "sample_flow_sde",
    "sample_iddpm",
]

#: ``(x, t) -> network output``: t holds original training steps (ADM) or times in [0, 1] (flow).
ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: ``noise(x)``: a standard normal tensor shaped like the state `x`.
NoiseFn = Callable[[torch.Tensor], torch.Tensor]
StepCallback = Callable[[int, int], None]


def generator_noise(generator: torch.Generator) -> NoiseFn:
    """Noise from one ``torch.Generator`` (fcdmbench's per-batch scheme)."""

    def noise(x: torch.Tensor) -> torch.Tensor:
        return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)

    return noise


def global_noise(x: torch.Tensor) -> torch.Tensor:
    """Noise from torch's global generator of `x`'s device: upstream's ``torch.randn_like(x)``."""
    return torch.randn_like(x)


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


@dataclass(frozen=True, slots=True)
class GuidedModel:
    """A network with its labels and guidance bound: the `ModelFn` the samplers call.

    Under guidance the sampler state is upstream's doubled batch: `start` turns B starting
    latents into 2B rows, `__call__` evaluates `cfg_forward` on them, `result` keeps the first B.
    The output is float32 whatever the compute precision.
    """

    model: Callable[..., torch.Tensor]
    labels: torch.Tensor  # (B,) or, under guidance, (2B,) with the null label in the second half
    guidance: Guidance
    autocast_dtype: torch.dtype | None = None

    def start(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, z], 0) if self.guidance.is_active else z

    def result(self, x: torch.Tensor) -> torch.Tensor:
        return x.chunk(2, dim=0)[0] if self.guidance.is_active else x

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.autocast_dtype is None:
            context = contextlib.nullcontext()
        else:
            context = torch.autocast(device_type=x.device.type, dtype=self.autocast_dtype)
        with context:
            if self.guidance.is_active:
                g = self.guidance
                out = cfg_forward(self.model, x, t, self.labels, g.scale, g.channels)
            else:
                out = self.model(x, t, self.labels)
        return out.float()


def make_model_fn(
    model: Callable[..., torch.Tensor],
    y: torch.Tensor,
    guidance: Guidance,
    autocast_dtype: torch.dtype | None = None,
) -> GuidedModel:
    """Bind the (B,) class labels `y` and guidance (the null half is appended under guidance)."""
    if guidance.is_active:
        null = torch.full_like(y, guidance.null_label)
        y = torch.cat([y, null], 0)
    return GuidedModel(model, y, guidance, autocast_dtype)


def _timesteps(i: int, x: torch.Tensor) -> torch.Tensor:
    return torch.tensor([i] * x.shape[0], device=x.device)  # int64, as upstream


def sample_iddpm(
    model_fn: ModelFn,
    diffusion: GaussianDiffusion,
    x: torch.Tensor,
    noise: NoiseFn,
    on_step: StepCallback | None = None,
) -> torch.Tensor:
    """Ancestral sampling from x_T = `x` down to x_0 (ADM's ``p_sample_loop``)."""
    steps = diffusion.num_steps
    for k, i in enumerate(reversed(range(steps))):
        t = _timesteps(i, x)
        out = model_fn(x, diffusion.model_timesteps(t))
        mean, log_variance, _ = diffusion.p_mean_variance(out, x, t)
        z = noise(x)
        x = mean + nonzero_mask(t, x) * torch.exp(0.5 * log_variance) * z
        if on_step is not None:
            on_step(k + 1, steps)
    return x


def sample_ddim(
    model_fn: ModelFn,
    diffusion: GaussianDiffusion,
    x: torch.Tensor,
    noise: NoiseFn,
    eta: float = 0.0,
    on_step: StepCallback | None = None,
) -> torch.Tensor:
    """DDIM over the (respaced) process (ADM's ``ddim_sample_loop``, ``clip_denoised=False``)."""
    if eta < 0:
        raise ConfigError(f"ddim eta must be >= 0, got {eta}")
    steps = diffusion.num_steps
    channels = x.shape[1]
    for k, i in enumerate(reversed(range(steps))):
        t = _timesteps(i, x)
        out = model_fn(x, diffusion.model_timesteps(t))
        x0 = diffusion.predict_x0(x, t, out[:, :channels])
        eps = diffusion.predict_eps(x, t, x0)  # re-derived from x0, as upstream
        abar = diffusion.gather("alphas_cumprod", t, x)
        abar_prev = diffusion.gather("alphas_cumprod_prev", t, x)
        sigma = eta * torch.sqrt((1 - abar_prev) / (1 - abar)) * torch.sqrt(1 - abar / abar_prev)
        z = noise(x)
        mean = x0 * torch.sqrt(abar_prev) + torch.sqrt(1 - abar_prev - sigma**2) * eps  # Eq. 12
        x = mean + nonzero_mask(t, x) * sigma * z
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
    noise: NoiseFn,
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
        x = x + drift * dt + (2 * w * dt) ** 0.5 * noise(x)
        if on_step is not None:
            on_step(k + 1, settings.steps)
    t = torch.full((batch,), end, device=x.device, dtype=x.dtype)
    v = model_fn(x, t)[:, :channels]
    x = x + _flow_drift(v, x, t, settings.diffusion_norm) * settings.last_step_size
    if on_step is not None:
        on_step(settings.steps, settings.steps)
    return x
