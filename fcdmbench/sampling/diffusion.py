"""Discrete Gaussian diffusion (DDPM/iDDPM as in ADM and DiT): schedule, q/p math, respacing.

Reimplemented from the equations, not copied: Ho et al. 2020 (DDPM, arXiv 2006.11239), Nichol &
Dhariwal 2021 (iDDPM, arXiv 2102.09672: learned-range variance, Eq. 15; respacing, Sec. 4),
Song et al. 2021 (DDIM, arXiv 2010.02502, Eq. 12).

The arithmetic is done the way facebookresearch/DiT @ ed81ce2 ``diffusion/`` does it (ADM's code;
star-kwon/FCDM @ 0ec590f, DiC and DiCo carry identical copies), operation for operation, so
that the same model outputs and noise give bit-identical latents
(tests/sampling/test_upstream_bitwise.py):

- every schedule array is computed in float64 from the (respaced) betas, including the
  reciprocal square roots ``sqrt(1 / abar)`` and ``sqrt(1 / abar - 1)`` that turn eps into x0;
- an array is gathered at t, cast to float32 and added to zeros of the sample's shape (ADM's
  ``_extract_into_tensor``), then multiplied: ``x0 = sqrt(1/abar) x_t - sqrt(1/abar - 1) eps``,
  never ``x_t / sqrt(abar) - ...`` in float32, which differs in the last bits;
- the process is always the respaced one, even for all 1000 steps (ADM recomputes the betas as
  ``1 - abar_i / abar_prev``, which need not equal the original betas bit for bit).

Linear betas 1e-4..0.02 over 1000 steps, the clipped posterior log-variance, and the "sections"
respacing with Python's round-half-to-even, as upstream.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fcdmbench.errors import ConfigError

__all__ = [
    "GaussianDiffusion",
    "VarianceType",
    "create_diffusion",
    "linear_betas",
    "space_timesteps",
]

#: ADM's training horizon; every model here was trained with it.
TRAIN_STEPS = 1000


class VarianceType(enum.Enum):
    """How the reverse-process variance is chosen."""

    LEARNED_RANGE = "learned-range"  # iDDPM Eq. 15: model output v interpolates logs of beta, beta~
    FIXED_LARGE = "fixed-large"  # beta_t (posterior variance at t=0)
    FIXED_SMALL = "fixed-small"  # posterior variance beta~_t


def linear_betas(
    num_steps: int = TRAIN_STEPS, start: float = 1e-4, end: float = 0.02
) -> np.ndarray:
    """DDPM's linear schedule in float64; endpoints scale by 1000/num_steps as ADM does."""
    if num_steps < 1:
        raise ConfigError(f"num_steps must be >= 1, got {num_steps}")
    scale = TRAIN_STEPS / num_steps
    return np.linspace(scale * start, scale * end, num_steps, dtype=np.float64)


def space_timesteps(num_steps: int, spacing: str | int | Sequence[int]) -> list[int]:
    """Which of `num_steps` original steps a respaced process keeps (sorted).

    `spacing` is an int or ``"250"`` (one section), a comma list ``"10,15,20"`` (the original
    steps split into equal sections, each strided to that many steps), or ``"ddimN"`` (the one
    integer stride giving exactly N steps, as in the DDIM paper).

    Example:
        >>> space_timesteps(10, "3")
        [0, 4, 9]

    Raises:
        ConfigError: a section cannot hold the requested count, or no integer stride fits.
    """
    if isinstance(spacing, int):
        counts = [spacing]
    elif isinstance(spacing, str):
        text = spacing.strip()
        if text.startswith("ddim"):
            wanted = int(text[4:])
            for stride in range(1, num_steps):
                if len(range(0, num_steps, stride)) == wanted:
                    return list(range(0, num_steps, stride))
            raise ConfigError(
                f"no integer stride gives exactly {wanted} of {num_steps} steps",
                hint="pick a DDIM step count that divides the schedule, e.g. ddim25, ddim50, "
                "ddim100, ddim250",
            )
        try:
            counts = [int(part) for part in text.split(",")]
        except ValueError as exc:
            raise ConfigError(
                f"respacing {spacing!r} is not 'N', 'N,M,...' or 'ddimN'",
                hint="e.g. --respacing 250 (evenly spaced), --respacing 10,15,20 (per section) or "
                "--respacing ddim50 (DDIM's even stride); omit it to use --steps",
            ) from exc
    else:
        counts = [int(c) for c in spacing]
    if not counts or any(c < 1 for c in counts):
        raise ConfigError(f"respacing counts must be positive, got {counts}")
    base, extra = divmod(num_steps, len(counts))
    kept: list[int] = []
    start = 0
    for i, count in enumerate(counts):
        size = base + (1 if i < extra else 0)
        if size < count:
            raise ConfigError(f"cannot take {count} steps from a section of {size} steps")
        stride = 1.0 if count <= 1 else (size - 1) / (count - 1)
        position = 0.0
        for _ in range(count):
            kept.append(start + round(position))  # round half to even, as ADM
            position += stride
        start += size
    return sorted(set(kept))


@dataclass(frozen=True)
class GaussianDiffusion:
    """A (possibly respaced) discrete diffusion process; all schedule arrays are float64.

    Index ``i`` runs over the kept steps (0 = least noise); ``timestep_map[i]`` is the original
    training step a model must be called with.
    """

    betas: np.ndarray
    timestep_map: tuple[int, ...]
    variance: VarianceType = VarianceType.LEARNED_RANGE

    def __post_init__(self) -> None:
        betas = np.asarray(self.betas, dtype=np.float64)
        if betas.ndim != 1 or not ((betas > 0) & (betas <= 1)).all():
            raise ConfigError("betas must be a 1-D array in (0, 1]")
        if len(self.timestep_map) != len(betas):
            raise ConfigError("timestep_map must have one entry per beta")
        alphas = 1.0 - betas
        abar = np.cumprod(alphas)
        abar_prev = np.append(1.0, abar[:-1])
        post_var = betas * (1.0 - abar_prev) / (1.0 - abar)
        # beta~_0 = 0, so its log is replaced by beta~_1's (the "clipped" log-variance).
        post_logvar = (
            np.log(np.append(post_var[1], post_var[1:])) if len(betas) > 1 else np.log(betas)
        )
        large = np.append(post_var[1], betas[1:]) if len(betas) > 1 else betas
        arrays = dict(
            alphas_cumprod=abar,
            alphas_cumprod_prev=abar_prev,
            sqrt_alphas_cumprod=np.sqrt(abar),
            sqrt_one_minus_alphas_cumprod=np.sqrt(1.0 - abar),
            sqrt_recip_alphas_cumprod=np.sqrt(1.0 / abar),
            sqrt_recipm1_alphas_cumprod=np.sqrt(1.0 / abar - 1),
            posterior_variance=post_var,
            posterior_log_variance_clipped=post_logvar,
            posterior_mean_coef1=betas * np.sqrt(abar_prev) / (1.0 - abar),
            posterior_mean_coef2=(1.0 - abar_prev) * np.sqrt(alphas) / (1.0 - abar),
            log_betas=np.log(betas),
            fixed_large_log_variance=np.log(large),
        )
        object.__setattr__(self, "betas", betas)
        object.__setattr__(self, "_arrays", arrays)

    @property
    def num_steps(self) -> int:
        return len(self.betas)

    def array(self, name: str) -> np.ndarray:
        """A float64 schedule array by name (``alphas_cumprod``, ``posterior_variance``, ...)."""
        return self._arrays[name]

    def gather(self, name: str, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``array(name)[t]`` cast to `like`'s dtype, broadcast to `like`'s full shape.

        ADM's ``_extract_into_tensor``: gather in float64, cast, then add zeros of the sample's
        shape, so every later operation sees the same shapes (and kernels) as upstream's.
        """
        values = torch.from_numpy(self._arrays[name]).to(t.device)[t].to(like.dtype)
        values = values.reshape(-1, *([1] * (like.dim() - 1)))
        return values + torch.zeros(like.shape, dtype=like.dtype, device=t.device)

    def model_timesteps(self, t: torch.Tensor) -> torch.Tensor:
        """Original training steps for kept-step indices (what the network is conditioned on)."""
        return torch.tensor(self.timestep_map, device=t.device, dtype=torch.long)[t]

    def respace(self, spacing: str | int | Sequence[int]) -> GaussianDiffusion:
        """The process that keeps only some steps, with the kept steps' alpha-bar unchanged."""
        keep = space_timesteps(self.num_steps, spacing)
        abar = self._arrays["alphas_cumprod"]
        betas, last = [], 1.0
        for i in keep:
            betas.append(1.0 - abar[i] / last)
            last = abar[i]
        return GaussianDiffusion(
            np.array(betas), tuple(self.timestep_map[i] for i in keep), self.variance
        )

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Forward process: sqrt(abar_t) x0 + sqrt(1 - abar_t) noise (DDPM Eq. 4)."""
        return (
            self.gather("sqrt_alphas_cumprod", t, x0) * x0
            + self.gather("sqrt_one_minus_alphas_cumprod", t, x0) * noise
        )

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x0 from the predicted noise: sqrt(1 / abar) x_t - sqrt(1 / abar - 1) eps."""
        return (
            self.gather("sqrt_recip_alphas_cumprod", t, x_t) * x_t
            - self.gather("sqrt_recipm1_alphas_cumprod", t, x_t) * eps
        )

    def predict_eps(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """The noise implied by x_t and an estimate of x0 (inverse of `predict_x0`)."""
        return (self.gather("sqrt_recip_alphas_cumprod", t, x_t) * x_t - x0) / self.gather(
            "sqrt_recipm1_alphas_cumprod", t, x_t
        )

    def posterior_mean(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Mean of q(x_{t-1} | x_t, x0) (DDPM Eq. 7)."""
        return (
            self.gather("posterior_mean_coef1", t, x_t) * x0
            + self.gather("posterior_mean_coef2", t, x_t) * x_t
        )

    def p_mean_variance(
        self, model_output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reverse-step mean, log-variance and predicted x0 from a network output.

        Args:
            model_output: (B, C, ...) noise, or (B, 2C, ...) noise then variance values v in
                [-1, 1] when the variance is learned.
            x_t: (B, C, ...) current sample.
            t: (B,) kept-step indices.
        """
        channels = x_t.shape[1]
        eps = model_output[:, :channels]
        if self.variance is VarianceType.LEARNED_RANGE:
            if model_output.shape[1] != 2 * channels:
                raise ConfigError(
                    f"learned-range variance needs {2 * channels} output channels, "
                    f"the model gives {model_output.shape[1]}",
                    hint="a model trained with learn_sigma=False needs a fixed variance",
                )
            low = self.gather("posterior_log_variance_clipped", t, x_t)
            high = self.gather("log_betas", t, x_t)
            frac = (model_output[:, channels : 2 * channels] + 1) / 2
            log_variance = frac * high + (1 - frac) * low  # iDDPM Eq. 15
        elif self.variance is VarianceType.FIXED_LARGE:
            log_variance = self.gather("fixed_large_log_variance", t, x_t)
        else:
            log_variance = self.gather("posterior_log_variance_clipped", t, x_t)
        x0 = self.predict_x0(x_t, t, eps)
        return self.posterior_mean(x0, x_t, t), log_variance, x0


def create_diffusion(
    steps: int | None = 250,
    respacing: str | None = None,
    learned_variance: bool = True,
    train_steps: int = TRAIN_STEPS,
) -> GaussianDiffusion:
    """The ADM/DiT process: linear betas over `train_steps`, respaced to `steps` (or `respacing`).

    As DiT's ``create_diffusion``, the result is always a respaced process, all `train_steps`
    kept when neither is given. A model without a variance output gets ``FIXED_LARGE``, DiT's
    choice for ``learn_sigma=False``.
    """
    variance = VarianceType.LEARNED_RANGE if learned_variance else VarianceType.FIXED_LARGE
    base = GaussianDiffusion(linear_betas(train_steps), tuple(range(train_steps)), variance)
    spacing = respacing if respacing else steps
    return base.respace(train_steps if spacing is None else spacing)


def nonzero_mask(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """1 where t > 0, 0 at the last step (no noise is added after the final mean)."""
    return (t != 0).to(like.dtype).view(-1, *([1] * (like.dim() - 1)))
