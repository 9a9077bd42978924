"""Where every random number of a sampling run comes from, and which images a batch makes.

Two schemes (`RngScheme`), each a plan over batches (one shard on disk per batch):

- `FcdmbenchPlan` (default): batch b makes images [b B, (b + 1) B); its starting noise and
  every later draw come from a ``torch.Generator`` seeded by (seed, b), its labels from one label
  vector drawn from the seed. Any process can make any batch, so the output does not depend on
  the number of processes, and a rerun resumes from the missing batches.
- `UpstreamPlan` (``--rng upstream``): DiT's ``sample_ddp.py`` (FCDM's copy is the same):
  rank r seeds torch's global generator with ``seed * world + r`` once (after the model and VAE
  are built: building them draws from the CPU generator), then for its batch i draws
  ``z = randn(B, C, H, W)``, then ``y = randint(0, classes, (B,))``, then one ``randn_like`` of
  the state at every step (2B rows under guidance). Sample j of that batch is image
  ``i B world + j world + r``; the last global batch is drawn whole and the images past `num`
  are dropped, as upstream. The random stream runs through a rank's batches in order, so each
  shard stores the generator state after it, and a rerun with the same number of processes
  resumes from it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fcdmbench.sampling.config import LabelScheme, RngScheme, SampleConfig
from fcdmbench.sampling.samplers import NoiseFn, generator_noise, global_noise

__all__ = ["FcdmbenchPlan", "UpstreamPlan", "batch_seed", "make_labels", "make_plan"]


def make_labels(num: int, num_classes: int, scheme: LabelScheme, seed: int) -> np.ndarray:
    """The label of every sample index (int64), reproducible from the seed."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1ABE1]))
    if scheme is LabelScheme.RANDOM:
        return rng.integers(0, num_classes, size=num, dtype=np.int64)
    return rng.permutation(np.arange(num, dtype=np.int64) % num_classes)


def batch_seed(seed: int, batch: int) -> int:
    """The generator seed of one batch (independent of rank and world size)."""
    return int(np.random.SeedSequence([seed, batch]).generate_state(1, dtype=np.uint64)[0] >> 1)


@dataclass(frozen=True, slots=True)
class Draw:
    """A batch's random inputs: starting latents (B rows), labels (B,) and the per-step noise."""

    z: torch.Tensor
    labels: torch.Tensor  # int64
    noise: NoiseFn


@dataclass(frozen=True)
class FcdmbenchPlan:
    """fcdmbench's resumable per-batch scheme (see the module docstring)."""

    seed: int
    num: int
    batch_size: int
    labels: LabelScheme
    num_classes: int
    scheme: RngScheme = RngScheme.FCDMBENCH
    seed_scheme: str = (
        "batch b: torch.Generator seeded by SeedSequence([seed, b]) draws z and every step's "
        "noise; labels: numpy default_rng(SeedSequence([seed, 0x1ABE1]))"
    )

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_labels", make_labels(self.num, self.num_classes, self.labels, self.seed)
        )

    @property
    def num_batches(self) -> int:
        return math.ceil(self.num / self.batch_size)

    def indices(self, batch: int) -> np.ndarray:
        """The global sample indices of a batch's rows, in row order."""
        start = batch * self.batch_size
        return np.arange(start, min(start + self.batch_size, self.num), dtype=np.int64)

    def blocks(self) -> list[list[int]]:
        """Batches grouped into runs of consecutive images, in image order (for the merge)."""
        return [[b] for b in range(self.num_batches)]

    def mine(self, missing: Sequence[int], rank: int, world: int) -> list[int]:
        """The batches this rank makes, in order."""
        return list(missing[rank::world])

    def previous(self, batch: int) -> int | None:
        """The batch whose saved generator state `batch` continues from (None: independent)."""
        return None

    def begin(self, rank: int, world: int, state: np.ndarray | None, device: torch.device) -> None:
        """Nothing to seed: every batch seeds its own generator."""

    def draw(self, batch: int, shape: tuple[int, ...], device: torch.device) -> Draw:
        rows = len(self.indices(batch))
        gen = torch.Generator(device=device).manual_seed(batch_seed(self.seed, batch))
        z = torch.randn((rows, *shape), generator=gen, device=device)
        y = torch.from_numpy(self._labels[self.indices(batch)]).to(device)
        return Draw(z, y, generator_noise(gen))

    def state(self, device: torch.device) -> np.ndarray | None:
        return None


@dataclass(frozen=True)
class UpstreamPlan:
    """DiT's / FCDM's ``sample_ddp.py`` random stream (see the module docstring)."""

    seed: int
    num: int
    batch_size: int
    num_classes: int
    world: int
    scheme: RngScheme = RngScheme.UPSTREAM
    seed_scheme: str = (
        "upstream sample_ddp.py: rank r seeds torch's global generator with seed * world + r "
        "after the model and VAE are built; per batch randn(B, C, H, W), randint(0, classes, "
        "(B,)), then randn_like(state) at every step (2B rows under CFG); sample j of rank r's "
        "batch i is image i*B*world + j*world + r"
    )

    @property
    def iterations(self) -> int:
        """Batches per rank (the last global batch is drawn whole; images past num dropped)."""
        return math.ceil(self.num / (self.batch_size * self.world))

    @property
    def num_batches(self) -> int:
        return self.iterations * self.world

    def indices(self, batch: int) -> np.ndarray:
        i, rank = divmod(batch, self.world)
        rows = np.arange(self.batch_size, dtype=np.int64)
        return i * self.batch_size * self.world + rows * self.world + rank

    def blocks(self) -> list[list[int]]:
        return [[i * self.world + r for r in range(self.world)] for i in range(self.iterations)]

    def mine(self, missing: Sequence[int], rank: int, world: int) -> list[int]:
        """This rank's batches from its first missing one on (the stream runs in order)."""
        missing = set(missing)
        own = [i * world + rank for i in range(self.iterations)]
        first = next((k for k, b in enumerate(own) if b in missing), len(own))
        return own[first:]

    def previous(self, batch: int) -> int | None:
        """The same rank's batch before `batch` (its shard holds the generator state to resume)."""
        return batch - self.world if batch >= self.world else None

    def begin(self, rank: int, world: int, state: np.ndarray | None, device: torch.device) -> None:
        """Seed the global generators as upstream does, or restore the state a shard saved."""
        torch.manual_seed(self.seed * world + rank)
        if state is None:
            return
        values = torch.from_numpy(np.ascontiguousarray(state, dtype=np.uint8))
        if device.type == "cuda":
            torch.cuda.set_rng_state(values, device)
        else:
            torch.set_rng_state(values)

    def draw(self, batch: int, shape: tuple[int, ...], device: torch.device) -> Draw:
        z = torch.randn(self.batch_size, *shape, device=device)
        y = torch.randint(0, self.num_classes, (self.batch_size,), device=device)
        return Draw(z, y, global_noise)

    def state(self, device: torch.device) -> np.ndarray:
        """The generator state of `device` after a batch (stored in its shard)."""
        if device.type == "cuda":
            return torch.cuda.get_rng_state(device).numpy().copy()
        return torch.get_rng_state().numpy().copy()


def make_plan(config: SampleConfig, num_classes: int, world: int) -> FcdmbenchPlan | UpstreamPlan:
    """The plan of `config.rng` for this run."""
    if config.rng is RngScheme.UPSTREAM:
        return UpstreamPlan(config.seed, config.num, config.batch_size, num_classes, world)
    return FcdmbenchPlan(config.seed, config.num, config.batch_size, config.labels, num_classes)
