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
and precision), from the FCDM paper and from DiT's repository and issues.
"""

from __future__ import annotations

from dataclasses import dataclass

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


PAPERS: dict[str, Paper] = {
    "fcdm": Paper(
        "fcdm",
        "All Convolution, No Attention: Designing Diffusion with Convolutions (FCDM)",
        arxiv="2603.09408",
    ),
    "dit": Paper(
        "dit",
        "Scalable Diffusion Models with Transformers (DiT)",
        arxiv="2212.09748",
        venue="ICCV 2023",
    ),
    "dic": Paper(
        "dic",
        "DiC: Rethinking Conv3x3 Designs in Diffusion Models",
        arxiv="2501.00603",
        venue="CVPR 2025",
    ),
    "dico": Paper(
        "dico",
        "DiCo: Revitalizing ConvNets for Scalable and Efficient Diffusion Modeling",
        arxiv="2505.11196",
    ),
    "dig": Paper(
        "dig",
        "DiG: Scalable and Efficient Diffusion Models with Gated Linear Attention",
        arxiv="2405.18428",
    ),
}


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


_FCDM_PRECISION = (
    "fp32 per the paper (Table 6); upstream train_gen/train.py turns TF32 on for matmuls and "
    "cuDNN, and its README launches it with accelerate --mixed_precision bf16 "
    "(star-kwon/FCDM@0ec590f)"
)
_DIT_ISSUE = "facebookresearch/DiT issue #22 (wpeebles: 'an 80gb A100 node (8x GPUs)')"
_FAST_DIT = (
    "chuanyangjin/fast-DiT README.md 'Improved Training Performance' table (@0ddbd64; global "
    "batch 128 on one A100, 27-44 GB used, so an 80 GB card), linked from facebookresearch/DiT "
    "README.md @ed81ce2"
)

#: Published training speeds of the compared models (steps/s), with their setups.
TRAINING_SPEEDS: tuple[PublishedTrainingSpeed, ...] = (
    PublishedTrainingSpeed(
        model="fcdm-xl",
        steps_per_s=0.9,
        gpus=4,
        device="rtx-4090",
        global_batch=256,
        resolution=256,
        grad_checkpointing=True,
        precision=_FCDM_PRECISION,
        setting="pre-extracted latents (upstream's training data)",
        source="fcdm: Sec. 4 'Compute' ('roughly 0.9 iterations per second') and App. B 'Computing "
        "resources' (arXiv 2603.09408)",
    ),
    PublishedTrainingSpeed(
        model="fcdm-xl.512",
        steps_per_s=0.7,
        gpus=4,
        device="h100-sxm",
        global_batch=256,
        resolution=512,
        grad_checkpointing=True,
        precision=_FCDM_PRECISION,
        setting="H100 form factor not stated (SXM assumed); pre-extracted latents",
        source="fcdm: App. B 'Computing resources' (arXiv 2603.09408)",
    ),
    PublishedTrainingSpeed(
        model="dit-xl-2",
        steps_per_s=0.51,
        gpus=8,
        device="a100-80gb-sxm",
        global_batch=256,
        resolution=256,
        grad_checkpointing=False,
        precision="paper-default",
        setting="train.py out of the box before TF32 was enabled (PyTorch defaults); it "
        "VAE-encodes every batch in the step (not in the bound); A100 form factor not stated "
        "(SXM assumed)",
        source=_DIT_ISSUE + ", comment of 2023-02-17; global batch: train.py --global-batch-size "
        "default 256 (DiT@ed81ce2)",
    ),
    PublishedTrainingSpeed(
        model="dit-xl-2",
        steps_per_s=0.81,
        gpus=8,
        device="a100-80gb-sxm",
        global_batch=256,
        resolution=256,
        grad_checkpointing=False,
        precision="tf32",
        setting="train.py with allow_tf32 on for matmuls and cuDNN (DiT commit 58fe9c2); VAE "
        "encoding in the step (not in the bound); A100 form factor not stated (SXM assumed)",
        source=_DIT_ISSUE + ", comment of 2023-02-22",
    ),
    PublishedTrainingSpeed(
        model="dit-xl-2",
        steps_per_s=0.43,
        gpus=1,
        device="a100-80gb-sxm",
        global_batch=128,
        resolution=256,
        grad_checkpointing=True,
        precision="tf32",
        setting="fast-DiT train.py (TF32 on), no mixed precision, VAE encoding in the step (not in "
        "the bound); reentrant per-block checkpointing",
        source=_FAST_DIT,
    ),
    PublishedTrainingSpeed(
        model="dit-xl-2",
        steps_per_s=0.84,
        gpus=1,
        device="a100-80gb-sxm",
        global_batch=128,
        resolution=256,
        grad_checkpointing=True,
        precision="fp16",
        setting="fast-DiT with accelerate --mixed_precision fp16 and pre-extracted VAE features; "
        "reentrant per-block checkpointing",
        source=_FAST_DIT,
    ),
)
