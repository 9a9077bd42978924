"""Published numbers: what the papers printed, never what fcdmbench measured.

This module defines the row type, `PublishedResult`; the rows are in `fcdmbench.paper_tables`
(`ROWS`). Every row names its source (paper and table). Registry specs expose the rows that name
their model (`ModelSpec.published`, through `paper_tables.rows_for_model`); the report generator
rebuilds the seed paper's tables from all rows, including rows for models fcdmbench does not
implement (ADM, LDM, U-ViT, ...), whose `model` is the paper's display name rather than a
registry name.

Units: `params_m` in millions, `gmacs` in GMACs per image for one forward at batch 1 (the DiT/paper
convention the papers call "GFLOPs"), `throughput_it_s` in images per second through one network
evaluation at the paper's batch size, `training_steps` in optimiser steps, `epochs` in passes over
ImageNet as the paper printed them (Table 3 lists epochs, not steps).

`TRAINING_SPEEDS` holds the published training speeds (optimizer steps/s with their GPUs, batch
and precision), from the FCDM paper and from DiT's repository and issues. `PAPERS` and
`TRAINING_SPEEDS` are read from ``published.toml`` beside this module.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PAPERS",
    "Paper",
    "PublishedResult",
    "PublishedTrainingSpeed",
    "TRAINING_SPEEDS",
]


@dataclass(frozen=True, slots=True)
class Paper:
    """A paper that published numbers or an architecture."""

    key: str
    title: str
    arxiv: str = ""
    venue: str = ""


@dataclass(frozen=True, slots=True)
class PublishedResult:
    """One published row. Fields a paper did not print stay None.

    Args:
        model: registry name (``fcdm-xl``) when fcdmbench implements the model, else the paper's
            display name (``ADM-G``).
        source: paper key and table, e.g. ``"fcdm:Table 2"``.
        table: the seed paper's table id this row belongs to (``"table2"``), or ``""``.
        setting: free text that distinguishes rows of one table (``"cfg=1.5"``,
            ``"flow matching"``).
        label: the row label as the paper printed it (``"DiT-XL/2"``, ``"w/o GRN"``).
        epochs: training epochs, where the paper printed epochs instead of steps.
        extra: table-specific columns as ``(name, value)`` pairs, e.g. ``("hidden_channels", 512)``
            or ``("depths", "[2, 4, 8, 4, 2]")``.
    """

    model: str
    source: str
    table: str = ""
    resolution: int = 256
    params_m: float | None = None
    gmacs: float | None = None
    throughput_it_s: float | None = None
    training_steps: int | None = None
    fid: float | None = None
    sfid: float | None = None
    inception_score: float | None = None
    precision: float | None = None
    recall: float | None = None
    cfg_scale: float | None = None
    setting: str = ""
    label: str = ""
    epochs: float | None = None
    extra: tuple[tuple[str, float | int | str], ...] = ()

    def extra_value(self, key: str, default: float | int | str | None = None):
        """The value of the table-specific column `key`, or `default`."""
        for name, value in self.extra:
            if name == key:
                return value
        return default


@dataclass(frozen=True, slots=True)
class PublishedTrainingSpeed:
    """A training speed its authors published: optimizer steps/s of data-parallel training.

    Args:
        model: registry name.
        steps_per_s: as printed.
        gpus, device: how many of which card (a device-table key); where the text leaves the
            form factor open, the faster one (``h100-sxm``, ``a100-80gb-sxm``), so that a bound
            computed for it is the most generous.
        global_batch: images per step over all GPUs.
        grad_checkpointing: every block checkpointed.
        precision: what the source says or its training script sets, in fcdmbench's precision
            modes (``paper-default`` = PyTorch's default flags: TF32 convolutions, IEEE fp32
            matmuls) or free text where the sources disagree.
        setting: what the figure includes that a training-step bound leaves out, and other notes.
        source: where it is printed (repository, file or issue, commit).
    """

    model: str
    steps_per_s: float
    gpus: int
    device: str
    global_batch: int
    resolution: int
    grad_checkpointing: bool
    precision: str
    setting: str
    source: str


#: The data file: the papers cited and the published training speeds.
DATA_PATH = Path(__file__).with_name("published.toml")


def _load(path: Path) -> tuple[dict[str, Paper], tuple[PublishedTrainingSpeed, ...]]:
    with path.open("rb") as f:
        data = tomllib.load(f)
    papers = {key: Paper(key, **fields) for key, fields in data["papers"].items()}
    return papers, tuple(PublishedTrainingSpeed(**row) for row in data["training_speed"])


#: The papers cited (key -> `Paper`), and the published training speeds of the compared models
#: (steps/s) with their setups.
PAPERS, TRAINING_SPEEDS = _load(DATA_PATH)
