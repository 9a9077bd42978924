"""Device peak table: slug matching and the precision basis."""

from __future__ import annotations

import pytest

from fcdmbench.env import device_slug
from fcdmbench.profiling.devices import find_device_peak, peak_tflops
from fcdmbench.profiling.precision import Precision


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA H100 PCIe", "H100 PCIe"),
        ("NVIDIA H100 NVL", "H100 NVL"),
        ("NVIDIA H200", "H200 SXM"),
        ("NVIDIA A100-SXM4-80GB", "A100"),
        ("NVIDIA A100 80GB PCIe", "A100"),
        ("NVIDIA A10", "A10"),
        ("NVIDIA GeForce RTX 4090", "GeForce RTX 4090"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA L40", "L40"),
        ("NVIDIA L4", "L4"),
        ("Tesla V100-SXM2-32GB", "V100 SXM2"),
    ],
)
def test_gpu_names_find_their_entry(name, expected):
    assert find_device_peak(device_slug(name)).name == expected


def test_unknown_and_cpu_have_no_peak():
    assert find_device_peak("cpu-intel-xeon") is None
    assert find_device_peak(device_slug("NVIDIA A10G")) is None
    assert peak_tflops("cpu-intel-xeon", "bf16") == (None, None)


def test_peak_basis_per_precision():
    slug = device_slug("NVIDIA H100 80GB HBM3")
    assert peak_tflops(slug, Precision.BF16.peak_basis)[0] == pytest.approx(989.4)
    assert peak_tflops(slug, Precision.TF32.peak_basis)[0] == pytest.approx(494.7)
    assert peak_tflops(slug, Precision.FP32_STRICT.peak_basis)[0] == pytest.approx(67.0)
    assert peak_tflops(slug, Precision.PAPER_DEFAULT.peak_basis) == (None, None)  # mixed
    assert peak_tflops(device_slug("Tesla V100-SXM2-32GB"), "bf16") == (None, None)
