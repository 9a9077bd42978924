"""EnvInfo: the environment every record carries (device, precision flags, versions, git)."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

__all__ = ["EnvInfo", "collect_env", "device_slug", "git_state", "torch_tag"]


def device_slug(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'h100-80gb-hbm3'; CPU names keep their model words."""
    text = name.lower()
    for noise in ("nvidia", "geforce", "(r)", "(tm)", "cpu @", "processor"):
        text = text.replace(noise, " ")
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text or "unknown"


def git_state(repo: Path | None = None) -> tuple[str | None, bool | None]:
    """(HEAD sha, dirty) of the fcdmbench checkout, or (None, None) when fcdmbench is not run
    from one: outside git, and for an installed wheel even inside someone else's repository (a
    venv in a project folder), whose sha would not say which fcdmbench ran."""
    repo = (repo or Path(__file__).resolve().parent.parent).resolve()
    try:
        top, sha = _stdout(["git", "rev-parse", "--show-toplevel", "HEAD"], repo, 5).splitlines()
        if Path(top).resolve() != repo:
            return None, None
        status = _stdout(["git", "status", "--porcelain", "--untracked-files=no"], repo, 5)
        return sha, bool(status.strip())
    except (OSError, ValueError, subprocess.SubprocessError):
        return None, None


def _stdout(command: list[str], cwd: Path | None = None, timeout: float = 10) -> str:
    """The standard output of `command` (raises `subprocess.SubprocessError` when it fails)."""
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=True
    ).stdout


def _cpu_name(fallback: str | None = None) -> str:
    """The CPU's model name from /proc/cpuinfo, else `fallback` (default: what `platform` says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return fallback or platform.processor() or platform.machine()


def torch_tag(version: str) -> str:
    """'2.13.0+cpu' -> 'pt2.13': torch's major.minor, for file and folder names."""
    return "pt" + ".".join(version.split("+")[0].split(".")[:2])


@dataclass(frozen=True, slots=True)
class EnvInfo:
    """Where and with what a number was produced."""

    device_type: str  # "cuda" or "cpu"
    device_name: str
    device_slug: str
    capability: str | None = None
    device_count: int = 0
    mem_gib: float | None = None
    driver: str | None = None
    cuda_runtime: str | None = None
    cudnn: str | None = None
    torch: str = ""
    python: str = ""
    platform: str = ""
    cpu_threads: int = 0
    tf32_matmul: bool | None = None
    tf32_cudnn: bool | None = None
    cudnn_benchmark: bool | None = None
    matmul_precision: str | None = None
    git_sha: str | None = None
    git_dirty: bool | None = None
    created: str = ""
    argv: tuple[str, ...] = field(default_factory=tuple)
    # GPU facts that move throughput (None on CPU or when nvidia-smi is absent).
    sm_count: int | None = None
    clocks_sm_mhz: int | None = None
    clocks_max_sm_mhz: int | None = None
    clocks_mem_mhz: int | None = None
    power_limit_w: float | None = None
    mig_mode: str | None = None
    ecc_mode: str | None = None
    triton: str | None = None
    timm: str | None = None

    @property
    def torch_tag(self) -> str:
        """'pt2.13' (+ '-cu12.8' on CUDA) for file and folder names."""
        tag = torch_tag(self.torch)
        if self.cuda_runtime:
            tag += f"-cu{self.cuda_runtime}"
        return tag


_SMI_FIELDS = (
    "driver_version",
    "clocks.sm",
    "clocks.max.sm",
    "clocks.mem",
    "power.limit",
    "mig.mode.current",
    "ecc.mode.current",
)


def _package_version(name: str) -> str | None:

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _nvidia_smi_facts(index: int) -> dict:
    """Driver, clocks, power limit, MIG and ECC modes of GPU `index` (empty when unavailable)."""
    query = [f"--query-gpu={','.join(_SMI_FIELDS)}", "--format=csv,noheader,nounits"]
    try:
        line = _stdout(["nvidia-smi", *query]).splitlines()[index]
    except (OSError, subprocess.SubprocessError, IndexError):
        return {}
    values = [v.strip() for v in line.split(",")]

    def number(text: str, kind=int):
        try:
            return kind(float(text))
        except ValueError:  # "[N/A]", "[Not Supported]"
            return None

    facts = dict(zip(_SMI_FIELDS, values, strict=False))
    return {
        "driver": facts.get("driver_version"),
        "clocks_sm_mhz": number(facts.get("clocks.sm", "")),
        "clocks_max_sm_mhz": number(facts.get("clocks.max.sm", "")),
        "clocks_mem_mhz": number(facts.get("clocks.mem", "")),
        "power_limit_w": number(facts.get("power.limit", ""), float),
        "mig_mode": facts.get("mig.mode.current"),
        "ecc_mode": facts.get("ecc.mode.current"),
    }


def collect_env(device: str = "cpu") -> EnvInfo:
    """Read the environment for `device` ("cpu", "cuda" or "cuda:N"). Imports torch."""
    import torch

    sha, dirty = git_state()
    common = dict(
        torch=torch.__version__,
        python=sys.version.split()[0],
        platform=platform.platform(),
        cpu_threads=torch.get_num_threads(),
        tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
        tf32_cudnn=torch.backends.cudnn.allow_tf32,
        cudnn_benchmark=torch.backends.cudnn.benchmark,
        matmul_precision=torch.get_float32_matmul_precision(),
        git_sha=sha,
        git_dirty=dirty,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        argv=tuple(sys.argv),
        triton=_package_version("triton"),
        timm=_package_version("timm"),
    )
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        return EnvInfo(
            device_type="cuda",
            device_name=props.name,
            device_slug=device_slug(props.name),
            capability=f"{props.major}.{props.minor}",
            device_count=torch.cuda.device_count(),
            mem_gib=round(props.total_memory / 2**30, 1),
            cuda_runtime=torch.version.cuda,
            cudnn=(
                str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else None
            ),
            sm_count=props.multi_processor_count,
            **_nvidia_smi_facts(index),
            **common,
        )
    name = _cpu_name()
    return EnvInfo(
        device_type="cpu",
        device_name=name,
        device_slug="cpu-" + device_slug(name),
        device_count=os.cpu_count() or 0,
        **common,
    )
