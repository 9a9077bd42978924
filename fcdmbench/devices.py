"""The device table: peak dense TFLOP/s per precision, memory and bandwidth, with sources.

The figures live in one data file, ``devices.toml`` beside this module (package data); this
module only reads it. Every figure carries the text it was derived from (`Figure.printed`), how
(`Figure.basis`: ``dense`` or ``sparse/2``, NVIDIA printing tensor-core figures "with
sparsity"), and its source. A device not in the table has no peak: MFU is then None and the
roofline refuses it, never a guess. The ``cpu`` entry has no figures: they are measured on the
machine at run time (`fcdmbench.perfmodel.cpu_calibration`).

Peak basis per precision mode (see `fcdmbench.precision.Precision`):

| mode            | basis             | why                                                       |
|-----------------|-------------------|-----------------------------------------------------------|
| fp32-strict     | ``fp32``          | TF32 off: GEMMs and convs on FP32 SIMT units              |
| tf32            | ``tf32``          | TF32 tensor cores for both                                |
| bf16 / fp16     | ``bf16``/``fp16`` | autocast: tensor cores, FP32 accumulate                   |
| paper-default   | none              | convs TF32 but matmuls IEEE fp32: no single peak applies  |

Interconnect (`DeviceSpec.link_figures`, for the training roofline's all-reduce): NVLink and
PCIe bandwidth in GB/s per direction, with how many GPUs one NVLink fabric joins; a card without
NVLink says so with a zero figure of basis ``absent``; ``fabric_gbs``, the inter-node network
adapter per GPU of the NVIDIA DGX system that carries the card (multi-node training).
"""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from fcdmbench.errors import ConfigError

__all__ = [
    "DEVICE_PEAKS",
    "DeviceSpec",
    "Figure",
    "TABLE_PATH",
    "find_device_peak",
    "get_device",
    "load_devices",
    "peak_tflops",
]

#: The data file (package data, listed by pyproject's ``*.toml`` rule).
TABLE_PATH = Path(__file__).with_name("devices.toml")
#: Peak columns, in table order.
PRECISION_COLUMNS = ("fp32", "tf32", "bf16", "fp16")


@dataclass(frozen=True, slots=True)
class Figure:
    """One number from a vendor document.

    Args:
        value: the figure used (dense TFLOP/s, GiB, GB/s).
        basis: ``dense``, ``sparse/2``, ``capacity`` or ``peak``.
        source: the document it comes from.
        printed: the figure as printed there (``"989*"``); None when not re-checked.
    """

    value: float
    basis: str
    source: str
    printed: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One device: its figures (None: not in the source or not sourced) and where they come from."""

    key: str
    name: str
    pattern: str  # regex matched against `fcdmbench.env.device_slug(name)`
    aliases: tuple[str, ...]
    source: str
    checked: str
    fp32_figure: Figure | None = None
    tf32_figure: Figure | None = None
    bf16_figure: Figure | None = None
    fp16_figure: Figure | None = None
    memory_figure: Figure | None = None
    bandwidth_figure: Figure | None = None
    is_calibrated: bool = False
    nvlink_figure: Figure | None = None  # GB/s per direction; value 0, basis "absent": none
    pcie_figure: Figure | None = None  # GB/s per direction
    nvlink_gpus: int | None = None  # GPUs one NVLink fabric joins all-to-all
    fabric_figure: Figure | None = None  # inter-node network per GPU, GB/s per direction

    def peak(self, basis: str) -> float | None:
        """Dense peak TFLOP/s for ``fp32``, ``tf32``, ``bf16`` or ``fp16`` (None: not offered)."""
        if basis not in PRECISION_COLUMNS:
            raise ValueError(f"unknown peak basis {basis!r}; one of {PRECISION_COLUMNS}")
        figure = getattr(self, f"{basis}_figure")
        return figure.value if figure is not None else None

    @property
    def memory_gib(self) -> float | None:
        return self.memory_figure.value if self.memory_figure else None

    @property
    def bandwidth_gbs(self) -> float | None:
        return self.bandwidth_figure.value if self.bandwidth_figure else None

    def figures(self) -> dict[str, Figure]:
        """Every figure present, by column name (``fp32_tflops`` ... ``bandwidth_gbs``)."""
        named = {f"{c}_tflops": getattr(self, f"{c}_figure") for c in PRECISION_COLUMNS}
        named.update(memory_gib=self.memory_figure, bandwidth_gbs=self.bandwidth_figure)
        return {k: v for k, v in named.items() if v is not None}

    def link_figures(self) -> dict[str, Figure]:
        """The interconnect figures present (``nvlink_gbs``, ``pcie_gbs``, ``fabric_gbs``)."""
        named = {
            "nvlink_gbs": self.nvlink_figure,
            "pcie_gbs": self.pcie_figure,
            "fabric_gbs": self.fabric_figure,
        }
        return {k: v for k, v in named.items() if v is not None}


def _figure(raw: dict | None, source: str, where: str) -> Figure | None:
    if raw is None:
        return None
    try:
        return Figure(
            value=float(raw["value"]),
            basis=str(raw["basis"]),
            source=str(raw.get("source", source)),
            printed=raw.get("printed"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"device table {where}: bad figure {raw!r} ({exc})") from exc


@functools.cache
def load_devices(path: Path = TABLE_PATH) -> tuple[DeviceSpec, ...]:
    """Read the device table (cached). Raises ConfigError on a malformed file."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the device table {path}: {exc}") from exc
    devices = []
    for raw in data.get("device", []):
        key = raw["key"]
        source = raw["source"]
        figures = {
            f"{c}_figure": _figure(raw.get(f"{c}_tflops"), source, f"{key}.{c}_tflops")
            for c in PRECISION_COLUMNS
        }
        devices.append(
            DeviceSpec(
                key=key,
                name=raw["name"],
                pattern=raw["slug_pattern"],
                aliases=tuple(raw.get("aliases", ())),
                source=source,
                checked=raw.get("checked", "not re-checked"),
                memory_figure=_figure(raw.get("memory_gib"), source, f"{key}.memory_gib"),
                bandwidth_figure=_figure(raw.get("bandwidth_gbs"), source, f"{key}.bandwidth_gbs"),
                is_calibrated=bool(raw.get("calibrated", False)),
                nvlink_figure=_figure(raw.get("nvlink_gbs"), source, f"{key}.nvlink_gbs"),
                pcie_figure=_figure(raw.get("pcie_gbs"), source, f"{key}.pcie_gbs"),
                nvlink_gpus=raw.get("nvlink_gpus"),
                fabric_figure=_figure(raw.get("fabric_gbs"), source, f"{key}.fabric_gbs"),
                **figures,
            )
        )
    return tuple(devices)


#: Every device with vendor figures (the calibrated CPU entry excluded), in table order.
DEVICE_PEAKS: tuple[DeviceSpec, ...] = tuple(d for d in load_devices() if not d.is_calibrated)


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def get_device(name: str) -> DeviceSpec:
    """A device by key or alias (``a100-80gb-sxm``, ``H100``, ``rtx-4090``, ``cpu``).

    Raises:
        ConfigError: unknown name, with the nearest keys.
    """
    wanted = _normal(name)
    devices = load_devices()
    for device in devices:
        if wanted == device.key or wanted in map(_normal, device.aliases):
            return device
    keys = [d.key for d in devices]
    near = difflib.get_close_matches(wanted, keys, n=3, cutoff=0.4)
    raise ConfigError(
        f"unknown device {name!r}",
        hint=("did you mean " + ", ".join(near) + "? " if near else "")
        + "devices: "
        + ", ".join(keys),
    )


def find_device_peak(slug: str) -> DeviceSpec | None:
    """The table entry for a device slug (``h100-80gb-hbm3``), or None when unknown or a CPU."""
    if slug.startswith("cpu"):
        return None
    for entry in load_devices():
        if not entry.is_calibrated and re.search(entry.pattern, slug):
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
    figure = getattr(entry, f"{basis}_figure", None)
    return (figure.value, figure.source) if figure is not None else (None, None)
