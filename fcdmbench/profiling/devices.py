"""Peak dense TFLOP/s per GPU and precision, for achieved-TFLOP/s and MFU figures.

Every value is a vendor datasheet figure **without sparsity** (NVIDIA prints tensor-core figures
"with sparsity"; those are halved here, as the datasheets' footnotes say). Sources are named per
entry. A device not in the table (and every CPU) has no peak: MFU is then None, never a guess.

Peak basis per precision mode (see `fcdmbench.profiling.precision.Precision`):

| mode            | basis          | why                                                          |
|-----------------|----------------|--------------------------------------------------------------|
| fp32-strict     | ``fp32``       | TF32 off: GEMMs and convs on FP32 SIMT units                 |
| tf32            | ``tf32``       | TF32 tensor cores for both                                   |
| bf16 / fp16     | ``bf16``/``fp16`` | autocast: tensor cores, FP32 accumulate                   |
| paper-default   | none           | convs TF32 but matmuls IEEE fp32: no single peak applies     |
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DEVICE_PEAKS", "DevicePeak", "find_device_peak", "peak_tflops"]


@dataclass(frozen=True, slots=True)
class DevicePeak:
    """Dense peak TFLOP/s of one GPU model (None: not offered by the hardware)."""

    name: str
    pattern: str  # regex matched against `fcdmbench.env.device_slug(name)`
    fp32: float
    tf32: float | None
    bf16: float | None
    fp16: float | None
    source: str


DEVICE_PEAKS: tuple[DevicePeak, ...] = (
    # NVIDIA H100 Tensor Core GPU datasheet (H100 SXM / H100 PCIe / H100 NVL columns); tensor
    # figures printed with sparsity, halved here: SXM TF32 989 -> 494.7, BF16/FP16 1979 -> 989.4.
    DevicePeak(
        "H100 PCIe",
        r"^h100-pcie",
        51.0,
        378.0,
        756.0,
        756.0,
        "NVIDIA H100 datasheet, H100 PCIe column (sparse figures halved)",
    ),
    DevicePeak(
        "H100 NVL",
        r"^h100-nvl",
        60.0,
        417.5,
        835.5,
        835.5,
        "NVIDIA H100 datasheet, H100 NVL column (sparse figures halved)",
    ),
    DevicePeak(
        "H100 SXM",
        r"^h100(-|$)",
        67.0,
        494.7,
        989.4,
        989.4,
        "NVIDIA H100 datasheet, H100 SXM column (sparse figures halved)",
    ),
    # NVIDIA H200 Tensor Core GPU datasheet (H200 SXM / H200 NVL columns), sparse halved.
    DevicePeak(
        "H200 NVL",
        r"^h200-nvl",
        60.0,
        417.5,
        835.5,
        835.5,
        "NVIDIA H200 datasheet, H200 NVL column (sparse figures halved)",
    ),
    DevicePeak(
        "H200 SXM",
        r"^h200(-|$)",
        67.0,
        494.7,
        989.4,
        989.4,
        "NVIDIA H200 datasheet, H200 SXM column (sparse figures halved)",
    ),
    # NVIDIA A100 Tensor Core GPU datasheet: FP32 19.5, TF32 156, BF16/FP16 312 (dense; same for
    # the 40 GB / 80 GB PCIe and SXM parts).
    DevicePeak(
        "A100", r"^a100(-|$)", 19.5, 156.0, 312.0, 312.0, "NVIDIA A100 datasheet (dense figures)"
    ),
    # NVIDIA Ada Lovelace GPU architecture whitepaper, GeForce RTX 4090 column: FP32 82.6; TF32
    # tensor 82.6; FP16/BF16 tensor with FP32 accumulate 165.2 (autocast accumulates in FP32).
    DevicePeak(
        "GeForce RTX 4090",
        r"(^|-)rtx-4090(-|$)",
        82.6,
        82.6,
        165.2,
        165.2,
        "NVIDIA Ada Lovelace architecture whitepaper, RTX 4090 (FP32 accumulate)",
    ),
    # NVIDIA L40S datasheet: FP32 91.6; TF32 183; BF16/FP16 362.05 (dense).
    DevicePeak(
        "L40S", r"^l40s(-|$)", 91.6, 183.0, 362.05, 362.05, "NVIDIA L40S datasheet (dense figures)"
    ),
    # NVIDIA L40 datasheet: FP32 90.5; TF32 90.5; BF16/FP16 181.05 (dense).
    DevicePeak(
        "L40", r"^l40(-|$)", 90.5, 90.5, 181.05, 181.05, "NVIDIA L40 datasheet (dense figures)"
    ),
    # NVIDIA L4 datasheet: FP32 30.3; TF32 120, BF16/FP16 242.0 with sparsity -> 60, 121.
    DevicePeak(
        "L4", r"^l4(-|$)", 30.3, 60.0, 121.0, 121.0, "NVIDIA L4 datasheet (sparse figures halved)"
    ),
    # NVIDIA A10 datasheet: FP32 31.2; TF32 62.5; BF16/FP16 125 (dense).
    DevicePeak(
        "A10", r"^a10(-|$)", 31.2, 62.5, 125.0, 125.0, "NVIDIA A10 datasheet (dense figures)"
    ),
    # NVIDIA V100 datasheet: SXM2 FP32 15.7, tensor (FP16) 125; PCIe 14 / 112. No TF32, no BF16.
    DevicePeak(
        "V100 SXM2",
        r"(^|-)v100-sxm2",
        15.7,
        None,
        None,
        125.0,
        "NVIDIA V100 datasheet, SXM2 column",
    ),
    DevicePeak(
        "V100 PCIe",
        r"(^|-)v100-pcie",
        14.0,
        None,
        None,
        112.0,
        "NVIDIA V100 datasheet, PCIe column",
    ),
)


def find_device_peak(slug: str) -> DevicePeak | None:
    """The table entry for a device slug (``h100-80gb-hbm3``), or None when unknown or a CPU."""
    if slug.startswith("cpu"):
        return None
    for entry in DEVICE_PEAKS:
        if re.search(entry.pattern, slug):
            return entry
    return None


def peak_tflops(slug: str, basis: str | None) -> tuple[float | None, str | None]:
    """(peak dense TFLOP/s, source) for a device slug and a basis (``fp32``, ``tf32``, ...).

    Returns (None, None) when the device is unknown, a CPU, the basis is None (paper-default) or
    the hardware lacks that precision.
    """
    entry = find_device_peak(slug)
    if entry is None or basis is None:
        return None, None
    value = getattr(entry, basis, None)
    return (value, entry.source) if value is not None else (None, None)
