"""The canary: a fixed workload timed beside the models in the same process.

Gating on ``throughput(model) / throughput(canary)`` cancels clock, thermal, power-cap and
noisy-neighbour effects that move both (docs/throughput.md). The canary is not a model under
test: one fp32 GEMM, one bf16 GEMM, one depthwise 7x7 and one dense 3x3 convolution, the op mix of
the backbones compared here. Autocast never applies to it; the run's TF32 flags do (baselines are
keyed by precision mode). Changing any size is a new canary version: bump `CANARY_VERSION`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fcdmbench.errors import ConfigError

__all__ = ["CANARY_VERSION", "CanarySpec", "build_canary", "canary_spec_for"]

CANARY_VERSION = "canary-v1"


@dataclass(frozen=True, slots=True)
class CanarySpec:
    """Sizes of the canary's four ops (a preset per device type)."""

    preset: str
    gemm_n: int  # square GEMMs n x n @ n x n
    conv_batch: int
    conv_channels: int
    conv_side: int

    def __post_init__(self) -> None:
        if min(self.gemm_n, self.conv_batch, self.conv_channels, self.conv_side) <= 0:
            raise ConfigError(f"canary sizes must be positive, got {self}")

    @property
    def gmacs_per_call(self) -> float:
        """Multiply-accumulates of one canary call, in G (two GEMMs + two convolutions)."""
        gemm = 2 * self.gemm_n**3
        pixels = self.conv_batch * self.conv_side**2
        depthwise = pixels * self.conv_channels * 49
        dense = pixels * self.conv_channels * self.conv_channels * 9
        return (gemm + depthwise + dense) / 1e9

    @property
    def name(self) -> str:
        return f"{CANARY_VERSION}-{self.preset}"


_PRESETS = {
    "cuda": CanarySpec("cuda", gemm_n=4096, conv_batch=64, conv_channels=512, conv_side=32),
    "cpu": CanarySpec("cpu", gemm_n=256, conv_batch=2, conv_channels=64, conv_side=32),
}


def canary_spec_for(device_type: str) -> CanarySpec:
    """The canary preset for ``"cuda"`` or ``"cpu"``."""
    try:
        return _PRESETS[device_type]
    except KeyError as exc:
        raise ConfigError(f"no canary preset for device type {device_type!r}") from exc


def build_canary(spec: CanarySpec, device: Any):
    """Return a no-argument callable running the canary once on `device` (imports torch).

    Inputs are drawn once from a fixed seed; the callable returns the last output so callers can
    keep a reference (CUDA-graph capture needs one).
    """
    import torch
    import torch.nn.functional as F

    gen = torch.Generator(device="cpu").manual_seed(0)

    def rand(*shape: int, dtype=torch.float32) -> torch.Tensor:
        return torch.randn(*shape, generator=gen).to(device=device, dtype=dtype)

    n, c, s, b = spec.gemm_n, spec.conv_channels, spec.conv_side, spec.conv_batch
    a32, b32 = rand(n, n), rand(n, n)
    a16, b16 = rand(n, n, dtype=torch.bfloat16), rand(n, n, dtype=torch.bfloat16)
    x = rand(b, c, s, s)
    w_dw = rand(c, 1, 7, 7) * 0.1
    w_dense = rand(c, c, 3, 3) * 0.02

    def run_canary() -> torch.Tensor:
        torch.mm(a32, b32)
        torch.mm(a16, b16)
        h = F.conv2d(x, w_dw, padding=3, groups=c)
        return F.conv2d(h, w_dense, padding=1)

    return run_canary
