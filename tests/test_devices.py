"""Device table: one data file, a source for every figure, slug matching, the precision basis."""

from __future__ import annotations

import tomllib

import pytest

from fcdmbench.devices import (
    DEVICE_PEAKS,
    TABLE_PATH,
    find_device_peak,
    get_device,
    load_devices,
    peak_tflops,
)
from fcdmbench.env import device_slug
from fcdmbench.errors import ConfigError
from fcdmbench.precision import Precision


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("NVIDIA H100 NVL", "h100-nvl"),
        ("NVIDIA H200", "h200-sxm"),
        ("NVIDIA A100-SXM4-80GB", "a100-80gb-sxm"),
        ("NVIDIA A100-SXM4-40GB", "a100-40gb-sxm"),
        ("NVIDIA A100 80GB PCIe", "a100-pcie"),
        ("NVIDIA A100-PCIE-40GB", "a100-pcie"),
        ("NVIDIA A10", "a10"),
        ("NVIDIA GeForce RTX 4090", "rtx-4090"),
        ("NVIDIA L40S", "l40s"),
        ("NVIDIA L40", "l40"),
        ("NVIDIA L4", "l4"),
        ("Tesla V100-SXM2-32GB", "v100-sxm2"),
    ],
)
def test_gpu_names_find_their_entry(name, expected):
    assert find_device_peak(device_slug(name)).key == expected


def test_unknown_and_cpu_have_no_peak():
    assert find_device_peak("cpu-intel-xeon") is None
    assert find_device_peak(device_slug("NVIDIA A10G")) is None
    assert peak_tflops("cpu-intel-xeon", "bf16") == (None, None)
    assert all(not d.is_calibrated for d in DEVICE_PEAKS)


def test_peak_basis_per_precision():
    slug = device_slug("NVIDIA H100 80GB HBM3")
    assert peak_tflops(slug, Precision.BF16.peak_basis)[0] == pytest.approx(989.5)  # 1,979* / 2
    assert peak_tflops(slug, Precision.TF32.peak_basis)[0] == pytest.approx(494.5)  # 989* / 2
    assert peak_tflops(slug, Precision.FP32_STRICT.peak_basis)[0] == pytest.approx(67.0)
    assert peak_tflops(slug, Precision.PAPER_DEFAULT.peak_basis) == (None, None)  # mixed
    assert peak_tflops(device_slug("Tesla V100-SXM2-32GB"), "bf16") == (None, None)
    assert "datasheet" in peak_tflops(slug, "bf16")[1]


def test_every_figure_has_a_source_and_a_basis():
    raw = tomllib.loads(TABLE_PATH.read_text())
    assert raw["schema"] == "fcdmbench.devices/1"
    for device in load_devices():
        assert device.source and device.checked
        for column, figure in device.figures().items():
            assert figure.source, (device.key, column)
            assert figure.basis in {"dense", "sparse/2", "capacity", "peak"}, (device.key, column)
            if figure.printed is not None and figure.basis == "sparse/2":
                # a halved figure must come from a figure printed with sparsity
                assert "*" in figure.printed, (device.key, column)
        if device.checked.startswith("not re-checked"):
            assert all(f.printed is None for f in device.figures().values()), device.key


def test_issue_devices_have_everything_the_roofline_needs():
    for key in ("a100-40gb-sxm", "a100-80gb-sxm", "h100-sxm", "h100-pcie", "h200-sxm"):
        device = get_device(key)
        assert device.memory_gib and device.bandwidth_gbs
        assert all(device.peak(c) for c in ("fp32", "tf32", "bf16", "fp16"))
    for key in ("rtx-4090", "l40s"):
        assert get_device(key).bandwidth_gbs
    assert get_device("rtx-4090").memory_gib == 24
    assert get_device("a100-80gb-sxm").bandwidth_gbs == 2039
    # sparse figures are halved, dense ones kept
    assert get_device("h100-sxm").tf32_figure.basis == "sparse/2"
    assert get_device("l40s").peak("tf32") == 183.0


def test_lookup_by_alias_and_errors():
    assert get_device("H100").key == "h100-sxm"
    assert get_device("A100").key == "a100-80gb-sxm"
    assert get_device("cpu").is_calibrated
    with pytest.raises(ConfigError, match="unknown device") as info:
        get_device("a100-80gb-sxn")
    assert "a100-80gb-sxm" in info.value.hint
