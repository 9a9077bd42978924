"""``fcdmbench.memory/2``: what `fcdmbench memory` (and `measure_memory`) estimated per GPU.

Layout: ``run``, ``env``, ``label`` (a prediction, not a GPU measurement), ``models``, ``config``
(`MemoryConfig`: what was asked), ``results`` (one `MemoryResult` per model: its settings as
measured, the bytes one step held (`StepMemory`), the card checked against), and the names of the
terms that are ``measured`` (on a meta-device step), ``modelled`` (EMA copy, DDP buckets) and
``not_included``. Bytes are exact integers; the GiB figures (2**30 bytes) written beside them are
derived.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from fcdmbench.env import EnvInfo
from fcdmbench.errors import ConfigError
from fcdmbench.records._base import Record, RunInfo
from fcdmbench.records.throughput import Mode

__all__ = [
    "GIB",
    "MEMORY_LABEL",
    "MemoryCard",
    "MemoryRecord",
    "MemoryResult",
    "MemoryConfig",
    "StepMemory",
    "rows_per_gpu",
    "split_batch",
]

GIB = 2**30
MEMORY_LABEL = (
    "predicted (meta-device measurement of one step + modelled terms), not a GPU measurement"
)
MEASURED = (
    "params",
    "grads",
    "optimizer_state",
    "saved_activations",
    "held_after_forward",
    "peak_forward",
    "peak_step",
)
MODELLED = ("ema", "ddp_buckets")
NOT_INCLUDED = (
    "CUDA context and cuDNN/cuBLAS workspaces",
    "allocator fragmentation",
    "the VAE (latents precomputed)",
    "data loading",
)


def split_batch(batch: int, gpus: int) -> int:
    """The rows each of `gpus` data-parallel GPUs runs of a global `batch`.

    Raises:
        ConfigError: a batch or GPU count below 1, or a batch that does not split evenly.
    """
    if batch < 1 or gpus < 1:
        raise ConfigError(f"batch and gpus must be >= 1, got {batch} and {gpus}")
    if batch % gpus:
        raise ConfigError(
            f"the global batch {batch} does not split evenly over {gpus} GPUs",
            hint="use a --batch that is a multiple of --gpus",
        )
    return batch // gpus


def rows_per_gpu(batch: int, gpus: int, cfg: bool) -> int:
    """Rows each data-parallel GPU runs: ``batch / gpus`` images, twice with CFG."""
    return batch // gpus * (2 if cfg else 1)


@dataclass(frozen=True, slots=True)
class StepMemory:
    """What one measured step held, in bytes (allocations made during the step only)."""

    saved_bytes: int  # saved for backward (hooks), deduplicated by storage, parameters excluded
    saved_tensors: int  # saved tensors as packed by autograd
    saved_storages: int  # distinct storages behind them
    saved_bytes_undeduplicated: int  # the same tensors counted one by one
    held_after_forward: int  # live at the end of forward + loss (tracker)
    peak_forward: int
    peak_step: int  # forward, backward and optimizer step
    grad_bytes: int
    optimizer_bytes: int
    param_bytes: int


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    """One memory estimate: what `measure_memory` takes (with the models) and the record's
    ``config`` section (each result's: at the resolution its model's name tags, if any).

    Args:
        mode: ``train`` (forward + backward + AdamW) or ``infer`` (one sampling call).
        batch: global batch (train) or images per sampling call (infer).
        gpus: data-parallel GPUs; each gets ``batch / gpus`` rows.
        grad_checkpointing: checkpoint every block (FCDM: its own per-block checkpointing, as
            upstream; other models: each block of their top-level block lists, applied here).
        card: device table key to check the fit against (default: none).
        ema: count an EMA copy of the weights per GPU (DiT/FCDM training does).
        cfg: infer: classifier-free guidance doubles the rows.
        attention: ``fused`` (SDPA saves what a fused kernel saves) or ``unfused``.
    """

    DERIVED: ClassVar[tuple[str, ...]] = ("rows_per_gpu",)

    mode: Mode = Mode.TRAIN
    batch: int = 256
    gpus: int = 1
    resolution: int = 256
    grad_checkpointing: bool = False
    card: str | None = None
    ema: bool = True
    cfg: bool = False
    attention: str = "fused"

    def __post_init__(self) -> None:
        if self.attention not in ("fused", "unfused"):
            raise ConfigError(f"attention must be fused or unfused, got {self.attention!r}")
        split_batch(self.batch, self.gpus)
        if self.grad_checkpointing and self.mode is Mode.INFER:
            raise ConfigError("--grad-checkpointing applies to --mode train only")
        if self.cfg and self.mode is Mode.TRAIN:
            raise ConfigError("--cfg applies to --mode infer only")

    @property
    def is_train(self) -> bool:
        return self.mode is Mode.TRAIN

    @property
    def rows_per_gpu(self) -> int:
        return rows_per_gpu(self.batch, self.gpus, self.cfg)


@dataclass(frozen=True, slots=True)
class MemoryCard:
    """The card a total is checked against: its memory (GiB) from the device table, sourced."""

    key: str
    name: str
    memory_gib: float | None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class MemoryResult:
    """The estimate for one model, per GPU: parameters + EMA copy + AdamW state + the step's
    peak + DDP gradient buckets (`total_bytes`)."""

    DERIVED: ClassVar[tuple[str, ...]] = ("gib", "fits", "headroom_gib")

    model: str
    display_name: str
    config: MemoryConfig  # as measured (the resolution a model's name tags, if any)
    checkpointing: str  # "off", "upstream per-block ...", "applied by fcdmbench per block of ..."
    step: StepMemory
    card: MemoryCard | None = None
    notes: tuple[str, ...] = ()

    @property
    def is_train(self) -> bool:
        return self.config.is_train

    @property
    def ema_bytes(self) -> int:
        """Modelled: one copy of the weights (DiT's train.py keeps it on every GPU)."""
        return self.step.param_bytes if self.config.ema and self.is_train else 0

    @property
    def ddp_bucket_bytes(self) -> int:
        """Modelled: one flat copy of the gradients (``gradient_as_bucket_view=False``)."""
        return self.step.grad_bytes if self.is_train and self.config.gpus > 1 else 0

    @property
    def total_bytes(self) -> int:
        s = self.step
        return (
            s.param_bytes + self.ema_bytes + s.optimizer_bytes + s.peak_step + self.ddp_bucket_bytes
        )

    @property
    def fits(self) -> bool | None:
        """Whether the total fits the card (None without a card or a memory figure)."""
        if self.card is None or self.card.memory_gib is None:
            return None
        return self.total_bytes <= self.card.memory_gib * GIB

    @property
    def headroom_gib(self) -> float | None:
        if self.card is None or self.card.memory_gib is None:
            return None
        return self.card.memory_gib - self.total_bytes / GIB

    @property
    def gib(self) -> dict[str, float]:
        """Every term in GiB (``total_per_gpu`` = `total_bytes`)."""
        s = self.step
        return {
            "params": s.param_bytes / GIB,
            "ema": self.ema_bytes / GIB,
            "grads": s.grad_bytes / GIB,
            "optimizer_state": s.optimizer_bytes / GIB,
            "saved_activations": s.saved_bytes / GIB,
            "held_after_forward": s.held_after_forward / GIB,
            "peak_forward": s.peak_forward / GIB,
            "peak_step": s.peak_step / GIB,
            "ddp_buckets": self.ddp_bucket_bytes / GIB,
            "total_per_gpu": self.total_bytes / GIB,
        }


@dataclass(frozen=True, slots=True)
class MemoryRecord(Record):
    """One `fcdmbench memory` run: settings and one `MemoryResult` per model.

    Example:
        >>> record = measure_memory(("fcdm-xl",), MemoryConfig(gpus=4))  # doctest: +SKIP
        >>> record.result("fcdm-xl").total_bytes / GIB  # per GPU  # doctest: +SKIP
    """

    SCHEMA: ClassVar[str] = "fcdmbench.memory/2"

    run: RunInfo
    env: EnvInfo
    models: tuple[str, ...]
    config: MemoryConfig  # as asked
    results: tuple[MemoryResult, ...]
    label: str = MEMORY_LABEL
    measured: tuple[str, ...] = MEASURED
    modelled: tuple[str, ...] = MODELLED
    not_included: tuple[str, ...] = NOT_INCLUDED
    notes: tuple[str, ...] = ()

    def result(self, model: str) -> MemoryResult | None:
        """The result for registry name `model`, or None."""
        return next((r for r in self.results if r.model == model), None)
