"""Process group and device of a run: one process, or torchrun (NCCL or gloo).

Sampling and evaluation share it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from fcdmbench.errors import DeviceError

__all__ = ["Dist", "init_distributed"]


@dataclass(frozen=True, slots=True)
class Dist:
    """This process's rank, the world size, its device and the backend (None: one process)."""

    rank: int
    world: int
    device: torch.device
    backend: str | None

    @property
    def device_name(self) -> str:
        return torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"

    def barrier(self) -> None:
        if self.backend is not None:
            dist.barrier()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` on every rank (a picklable object)."""
        if self.backend is None:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def init_distributed(preference: str) -> Dist:
    """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK and join the process group if world > 1.

    Raises:
        DeviceError: ``--device cuda`` without CUDA.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    cuda = torch.cuda.is_available()
    if preference == "cuda" and not cuda:
        raise DeviceError(
            "--device cuda was asked for but CUDA is not available",
            hint="use --device cpu, or install a CUDA build of torch",
        )
    use_cuda = cuda and preference != "cpu"
    if use_cuda:
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    backend = None
    if world > 1:
        backend = "nccl" if use_cuda else "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend, timeout=timedelta(minutes=60))
    return Dist(rank, world, device, backend)
