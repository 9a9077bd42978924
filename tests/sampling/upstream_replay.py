"""Replaying upstream's recorded diffusion loops through fcdmbench's samplers (test helpers).

`replay` feeds upstream's recorded network outputs and per-step noise (tests/fixtures/sampling/
upstream_loops.pt) to fcdmbench's iDDPM/DDIM loops. `ieee_sqrt`/`ieee_exp` are correctly rounded
float32 functions that give the same bits on every CPU, unlike torch's float32 ``torch.sqrt`` and
``torch.exp``, whose rounding depends on the CPU model (test_upstream_bitwise).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from fcdmbench.sampling.diffusion import create_diffusion
from fcdmbench.sampling.samplers import Guidance, sample_ddim, sample_iddpm

MODELS = ("dit-s-2", "fcdm-s")
KEYS = ("iddpm-cfg1", "iddpm-cfg4", "ddim-cfg1", "ddim-cfg4")


def ieee_sqrt(x: torch.Tensor) -> torch.Tensor:
    """Correctly rounded float32 sqrt on every CPU (NumPy uses the hardware's IEEE sqrt)."""
    return torch.from_numpy(np.sqrt(x.detach().contiguous().numpy()))


def ieee_exp(x: torch.Tensor) -> torch.Tensor:
    """float32 exp as float64 exp rounded once (correctly rounded but for float32 halfway cases
    within one float64 ulp: none among the replay's 80,295 inputs, checked against glibc)."""
    values = x.detach().contiguous().numpy().astype(np.float64)
    return torch.from_numpy(np.exp(values).astype(np.float32))


def settings(key: str) -> tuple:
    """(loop, guidance) of a fixture key such as ``ddim-cfg4``."""
    sampler, scale = key.split("-cfg")
    loop = sample_iddpm if sampler == "iddpm" else sample_ddim
    return loop, Guidance(float(scale), channels=3, null_label=1000)


def replay(case: dict, key: str, steps: int) -> torch.Tensor:
    """fcdmbench's sampler fed upstream's recorded network outputs and noise."""
    loop, guidance = settings(key)
    outs, noises = iter(case["outs"]), iter(case["noises"])

    def model_fn(x, t):
        return next(outs).clone()

    def noise(x):
        z = next(noises).clone()
        assert z.shape == x.shape  # upstream draws 2B rows per step under CFG
        return z

    z = case["z"]
    x = torch.cat([z, z]) if guidance.is_active else z
    with torch.no_grad():
        return loop(model_fn, create_diffusion(steps), x, noise)


def probe_matches(probe: dict) -> bool:
    """Whether this CPU's torch.sqrt and torch.exp give a recording CPU's outputs on its inputs."""
    for name, fn in (("sqrt", torch.sqrt), ("exp", torch.exp)):
        outputs = fn(probe[name]["inputs"]).numpy().tobytes()
        if hashlib.sha256(outputs).hexdigest() != probe[name]["sha256"]:
            return False
    return True
