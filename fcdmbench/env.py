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

__all__ = ["EnvInfo", "collect_env", "device_slug", "git_state"]


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
        top, sha = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.splitlines()
        if Path(top).resolve() != repo:
            return None, None
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=repo,
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout.strip()
        )
        return sha, dirty
    except (OSError, ValueError, subprocess.SubprocessError):
        return None, None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
        major_minor = ".".join(self.torch.split("+")[0].split(".")[:2])
        tag = f"pt{major_minor}"
        if self.cuda_runtime:
            tag += f"-cu{self.cuda_runtime}"
        return tag


_SMI_FIELDS = (
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
    """Clocks, power limit, MIG and ECC modes of GPU `index` (empty when unavailable)."""
    try:
        line = subprocess.run(
            ["nvidia-smi", f"--query-gpu={','.join(_SMI_FIELDS)}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.splitlines()[index]
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
        driver = None
        try:
            driver = (
                subprocess.run(
                    ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                    check=True,
                )
                .stdout.splitlines()[index]
                .strip()
            )
        except (OSError, subprocess.SubprocessError, IndexError):
            pass
        return EnvInfo(
            device_type="cuda",
            device_name=props.name,
            device_slug=device_slug(props.name),
            capability=f"{props.major}.{props.minor}",
            device_count=torch.cuda.device_count(),
            mem_gib=round(props.total_memory / 2**30, 1),
            driver=driver,
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
