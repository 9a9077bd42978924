"""Precision modes for timing, and the flags actually in force while a mode is active.

Never a bare "fp32" (docs/throughput.md): in torch 2.13 cuDNN convolutions default to TF32
while CUDA matmuls default to IEEE fp32, so "fp32" hides a choice that changes DiT's speed by
several times on Ampere and newer GPUs.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Precision", "PrecisionState", "apply_precision"]


class Precision(enum.Enum):
    """How a model runs: TF32 flags and autocast dtype.

    - ``fp32-strict``: both TF32 flags off, no autocast.
    - ``tf32``: TF32 on for CUDA matmuls and cuDNN convolutions, no autocast.
    - ``bf16`` / ``fp16``: autocast to that dtype; TF32 off for what autocast leaves in fp32.
    - ``paper-default``: PyTorch's defaults (matmul IEEE fp32, cuDNN conv TF32), no autocast; what
      the DiCo harness ran (it sets no flag), so it reproduces DiCo-style numbers.
    """

    FP32_STRICT = "fp32-strict"
    TF32 = "tf32"
    BF16 = "bf16"
    FP16 = "fp16"
    PAPER_DEFAULT = "paper-default"

    @property
    def tf32_flags(self) -> tuple[bool, bool]:
        """(matmul allow_tf32, cudnn allow_tf32) this mode sets."""
        if self is Precision.TF32:
            return True, True
        if self is Precision.PAPER_DEFAULT:
            return False, True  # torch's own defaults
        return False, False

    def autocast_dtype(self) -> Any:
        """The torch dtype autocast runs in, or None (imports torch)."""
        import torch

        return {Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}.get(self)

    @property
    def peak_basis(self) -> str | None:
        """Which column of `fcdmbench.devices` bounds this mode (None: mixed)."""
        return {
            Precision.FP32_STRICT: "fp32",
            Precision.TF32: "tf32",
            Precision.BF16: "bf16",
            Precision.FP16: "fp16",
        }.get(self)


@dataclass(frozen=True, slots=True)
class PrecisionState:
    """The flags read back from torch while a mode is active (recorded, not assumed)."""

    precision: str
    tf32_matmul: bool
    tf32_cudnn: bool
    matmul_fp32_precision: str | None
    conv_fp32_precision: str | None
    float32_matmul_precision: str
    autocast_dtype: str | None
    cudnn_benchmark: bool
    tf32_effective: bool  # False on CPU and on GPUs before Ampere: the flags change nothing there


@contextlib.contextmanager
def apply_precision(
    precision: Precision,
    device_type: str,
    cudnn_benchmark: bool = True,
    capability: str | None = None,
) -> Iterator[PrecisionState]:
    """Set TF32 and cudnn.benchmark flags for `precision`; restore them on exit.

    Autocast is not entered here (it must wrap each call); use `precision.autocast_dtype()`.
    Yields the state read back from torch.
    """
    import torch

    matmul = torch.backends.cuda.matmul
    cudnn = torch.backends.cudnn
    saved = (matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark)
    try:
        matmul.allow_tf32, cudnn.allow_tf32 = precision.tf32_flags
        cudnn.benchmark = cudnn_benchmark
        dtype = precision.autocast_dtype()
        major = int(capability.split(".")[0]) if capability else 0
        yield PrecisionState(
            precision=precision.value,
            tf32_matmul=bool(matmul.allow_tf32),
            tf32_cudnn=bool(cudnn.allow_tf32),
            matmul_fp32_precision=getattr(matmul, "fp32_precision", None),
            conv_fp32_precision=getattr(getattr(cudnn, "conv", None), "fp32_precision", None),
            float32_matmul_precision=torch.get_float32_matmul_precision(),
            autocast_dtype=str(dtype).removeprefix("torch.") if dtype is not None else None,
            cudnn_benchmark=bool(cudnn.benchmark),
            tf32_effective=device_type == "cuda" and major >= 8,
        )
    finally:
        matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark = saved
