"""Dummy model inputs ``(x, t, y)`` with the real sampling shapes.

Every backbone here is called as ``model(x, t, y)``: x is the VAE latent (B, C, H/8, W/8), t the
diffusion timesteps (B,) and y the class labels (B,), both int64. On the meta device the tensors
hold no data (FLOP counting needs only shapes); elsewhere they come from a fixed seed.

Example:
    >>> x, t, y = make_inputs((4, 32, 32), batch=2, device="meta")
    >>> tuple(x.shape), t.dtype
    ((2, 4, 32, 32), torch.int64)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fcdmbench.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["NUM_TIMESTEPS", "make_inputs"]

#: Diffusion steps of the DiT/ADM schedule every model here is trained with.
NUM_TIMESTEPS = 1000


def make_inputs(
    latent_shape: tuple[int, int, int],
    batch: int = 1,
    device: str = "cpu",
    num_classes: int = 1000,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Build ``(x, t, y)`` for one forward call.

    Args:
        latent_shape: (C, H, W) of one latent, e.g. ``spec.input_shape(256)``.
        batch: rows B (at least 1; the callers check it).
        device: ``"meta"`` allocates nothing; ``"cpu"``/``"cuda"`` draw from a seeded generator.
        num_classes: labels are drawn from ``[0, num_classes)``.
        seed: generator seed for real devices.

    Returns:
        x (B, C, H, W) float32, t (B,) int64 in [0, 1000), y (B,) int64.

    Raises:
        ConfigError: a non-positive latent dimension.
    """
    import torch

    if len(latent_shape) != 3 or any(int(d) <= 0 for d in latent_shape):
        raise ConfigError(f"latent_shape must be three positive ints (C, H, W), got {latent_shape}")
    shape = (batch, *map(int, latent_shape))
    if str(device) == "meta":
        x = torch.empty(shape, device="meta")
        t = torch.empty(batch, dtype=torch.long, device="meta")
        y = torch.empty(batch, dtype=torch.long, device="meta")
        return x, t, y
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen)
    t = torch.randint(0, NUM_TIMESTEPS, (batch,), generator=gen)
    y = torch.randint(0, num_classes, (batch,), generator=gen)
    return x.to(device), t.to(device), y.to(device)
