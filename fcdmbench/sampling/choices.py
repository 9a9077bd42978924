"""The closed choices of a sampling run (`--sampler`, `--labels`, `--rng`), importable without
torch, so the command line parses them before the sampler loads."""

from __future__ import annotations

import enum

__all__ = ["LabelScheme", "RngScheme", "SamplerKind"]


class SamplerKind(enum.Enum):
    """The sampler families (`--sampler`)."""

    IDDPM = "iddpm"
    DDIM = "ddim"
    SDE = "sde"

    @property
    def is_flow(self) -> bool:
        return self is SamplerKind.SDE


class LabelScheme(enum.Enum):
    RANDOM = "random"  # uniform i.i.d. labels (DiT's sample_ddp.py)
    BALANCED = "balanced"  # every class equally often (num / classes each), shuffled


class RngScheme(enum.Enum):
    """Whose random-number scheme draws the starting noise, the labels and the per-step noise.

    - ``fcdmbench``: batch b gets its own generator seeded by (seed, b); the images do not depend
      on the number of processes, and an interrupted run resumes where it stopped.
    - ``upstream``: DiT's / FCDM's ``sample_ddp.py``: each rank seeds torch's global generator
      with ``seed * world_size + rank`` once, then per batch draws z, labels with ``randint`` and
      ``randn_like`` over the doubled batch at every step; sample j of a rank's batch i is image
      ``i * B * world + j * world + rank``. The images depend on the number of processes.
    """

    FCDMBENCH = "fcdmbench"
    UPSTREAM = "upstream"
