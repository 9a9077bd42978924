"""Published numbers: what the papers printed, never what fcdmbench measured.

Every row names its source (paper and table). Registry specs expose the rows that name their model
(`ModelSpec.published`); the report generator rebuilds the seed paper's tables from all rows,
including rows for models fcdmbench does not implement (ADM, LDM, U-ViT, ...), whose `model` is the
paper's display name rather than a registry name.

Units: `params_m` in millions, `gmacs` in GMACs per image for one forward at batch 1 (the DiT/paper
convention the papers call "GFLOPs"), `throughput_it_s` in images per second through one network
evaluation at the paper's batch size, `training_steps` in optimiser steps, `epochs` in passes over
ImageNet as the paper printed them (Table 3 lists epochs, not steps).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PAPERS", "Paper", "PublishedResult", "published_rows", "rows_for_model"]


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


def published_rows() -> tuple[PublishedResult, ...]:
    """All published rows, in the order of the seed paper's tables."""
    from fcdmbench import paper_tables

    return paper_tables.ROWS


def rows_for_model(name: str) -> tuple[PublishedResult, ...]:
    """Published rows whose `model` is the registry name `name`."""
    return tuple(row for row in published_rows() if row.model == name)
