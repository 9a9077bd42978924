"""The ways a published throughput figure may have been measured, each with its evidence.

A setting is the PyTorch precision flags plus the kernels that run attention and DiG's linear
attention (`fcdmbench.perfmodel.kernels`). Two readings of the seed paper's figures are weighed:

- ``paper``: what the FCDM paper states (App. C: throughput "under the sampling configurations
  of DiT with a batch size of 64", "FlashAttention-2 and Flash Linear Attention are activated
  in DiT and DiG"; no precision flag named): PyTorch's default flags (``paper-default``: cuDNN
  convolutions on TF32, cuBLAS matmuls IEEE fp32), FlashAttention-2 in DiT, flash-linear-
  attention in DiG.
- ``authors``: each row as its own authors' sampling script runs it (the FCDM paper reprints
  the other rows from their papers), read from each repository at the commit fcdmbench's
  baselines were checked against (`AUTHORS`).

Three bracketing modes price every model the same way: ``fp32-strict`` (both TF32 flags off),
``tf32`` (both on) and ``bf16`` (CUDA autocast), all with SDPA and flash-linear-attention.
"""

from __future__ import annotations

from dataclasses import dataclass

from fcdmbench.precision import Precision
from fcdmbench.records.audit import AuditSetting
from fcdmbench.records.roofline import Kernels

__all__ = ["AUTHORS", "SETTINGS", "Reading", "audit_setting", "reading"]


@dataclass(frozen=True, slots=True)
class Reading:
    """Flags and kernels one model runs under, and why."""

    precision: Precision
    kernels: Kernels
    evidence: str

    def describe(self) -> str:
        return f"{self.precision.value}; {self.kernels.describe()}"


_PAPER = Reading(
    Precision.PAPER_DEFAULT,
    Kernels(attention="flash2", linear_attention="fla"),
    "FCDM paper (arXiv 2603.09408) App. C: throughput 'under the sampling configurations of "
    "DiT with a batch size of 64'; 'FlashAttention-2 and Flash Linear Attention are activated "
    "in DiT and DiG'; no precision flag stated, so PyTorch's defaults (cuDNN TF32, matmul IEEE "
    "fp32)",
)

#: Each family's own sampling script, as its repository ships it (file:line @ commit).
AUTHORS = {
    "dit": Reading(
        Precision.TF32,
        Kernels("sdpa", "fla"),
        "facebookresearch/DiT@ed81ce2 sample.py:11-12 set torch.backends.cuda.matmul.allow_tf32 "
        "and cudnn.allow_tf32 = True; sample_ddp.py:49,161 --tf32 defaults True; attention is "
        "timm's Attention (timm unpinned in environment.yml; fused SDPA from timm 0.9), and the "
        "README lists Flash Attention as not done",
    ),
    "dic": Reading(
        Precision.TF32,
        Kernels("sdpa", "fla"),
        "YuchuanTian/DiC@bfa541b sample_ddp.py:58,187 --tf32 default=True (matmuls); cuDNN's "
        "TF32 is on by default",
    ),
    "dico": Reading(
        Precision.PAPER_DEFAULT,
        Kernels("sdpa", "fla"),
        "shallowdream204/DiCo@b596b05 sample_ddp.py:42,171 --tf32 default=False; its timing "
        "harness dico_models.py:428 test_model_throughout sets no flag",
    ),
    "dig": Reading(
        Precision.PAPER_DEFAULT,
        Kernels("sdpa", "fla"),
        "hustvl/DiG@e3ac0ba sample_ddp.py:52,189 --tf32 default False; models_dig.py:117 "
        "attn_model='fused_chunk' on flash-linear-attention 36743f3 (README install steps)",
    ),
    "fcdm": Reading(
        Precision.TF32,
        Kernels("sdpa", "fla"),
        "star-kwon/FCDM@0ec590f train_gen/sample_ddp.py:68,209 --tf32 default True (matmuls); "
        "cuDNN's TF32 is on by default",
    ),
}

_UNIFORM = {
    "fp32-strict": Reading(
        Precision.FP32_STRICT, Kernels(), "bracket: both TF32 flags off, every GEMM on FP32 SIMT"
    ),
    "tf32": Reading(Precision.TF32, Kernels(), "bracket: both TF32 flags on"),
    "bf16": Reading(
        Precision.BF16, Kernels(), "bracket: CUDA autocast to bf16, SDPA on its flash backend"
    ),
}

#: Setting keys, in display order.
SETTINGS = ("paper", "authors", "fp32-strict", "tf32", "bf16")
_TITLES = {
    "paper": "as the paper states",
    "authors": "as each model's authors ran it",
    "fp32-strict": "fp32-strict",
    "tf32": "tf32",
    "bf16": "bf16 autocast",
}


def reading(setting: str, family: str) -> Reading:
    """The flags and kernels a model of `family` runs under in `setting`."""
    if setting == "paper":
        return _PAPER
    if setting == "authors":
        return AUTHORS[family]
    return _UNIFORM[setting]


def audit_setting(setting: str) -> AuditSetting:
    """The record entry of `setting`."""
    if setting == "authors":
        per_family = {family: r.describe() for family, r in AUTHORS.items()}
        evidence = " | ".join(f"{family}: {r.evidence}" for family, r in AUTHORS.items())
        return AuditSetting(setting, _TITLES[setting], "per family", "per family", evidence,
                            per_family)  # fmt: skip
    r = reading(setting, "")
    return AuditSetting(setting, _TITLES[setting], r.precision.value, r.kernels.describe(),
                        r.evidence)  # fmt: skip
