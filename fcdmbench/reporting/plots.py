"""Report figures (matplotlib, Agg): the seed paper's Figures 2, 5, 6 and 9 from published rows,
plus measured throughput per GPU and precision from throughput records. PNG and SVG each.

Every function returns a `FigureResult` naming its files and the number of data series per axes
(tests check them). Units: GMACs (DiT convention), GFLOPs = 2 x GMACs, zettaFLOPs = 1e21 FLOPs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from fcdmbench.paper_tables import ROWS
from fcdmbench.reporting.collect import Measurements

__all__ = ["IMAGENET_TRAIN_IMAGES", "TRAIN_COST_FACTOR", "FigureResult", "build_figures"]

#: ImageNet-1k training images (one epoch).
IMAGENET_TRAIN_IMAGES = 1_281_167
#: One training iteration ~ 3 forward passes (forward + backward to inputs + backward to weights).
TRAIN_COST_FACTOR = 3
#: Paper Figure 6 colours: red fully convolutional, green hybrid, blue fully transformer.
ARCH_CLASS = {
    "fcdm-xl": "fully convolutional",
    "dic-h": "fully convolutional",
    "dico-xl": "fully convolutional",
    "ADM-U": "hybrid (conv + attention)",
    "LDM-4": "hybrid (conv + attention)",
    "U-ViT-H/2": "transformer",
    "dit-xl-2": "transformer",
    "SiT-XL/2": "transformer",
    "dig-xl-2": "transformer",
}
CLASS_COLOR = {
    "fully convolutional": "tab:red",
    "hybrid (conv + attention)": "tab:green",
    "transformer": "tab:blue",
}
SCALES = (
    ("S", "fcdm-s", "dit-s-2"),
    ("B", "fcdm-b", "dit-b-2"),
    ("L", "fcdm-l", "dit-l-2"),
    ("XL", "fcdm-xl", "dit-xl-2"),
)


@dataclass(frozen=True, slots=True)
class FigureResult:
    key: str
    caption: str
    png: Path
    svg: Path
    series_per_axes: tuple[int, ...]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 11,
            "axes.titlesize": 12,
            "axes.labelsize": 11,
            "legend.fontsize": 9,
            "svg.hashsalt": "fcdmbench",
            "svg.fonttype": "none",
        }
    )
    return plt


def _save(fig, out: Path, key: str, caption: str, series: tuple[int, ...]) -> FigureResult:
    from fcdmbench.files import atomic_output

    png, svg = out / f"{key}.png", out / f"{key}.svg"
    with atomic_output(png, make_parents=True) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    with atomic_output(svg, make_parents=True) as tmp:
        fig.savefig(tmp, bbox_inches="tight", metadata={"Date": None})
    _pyplot().close(fig)
    return FigureResult(key, caption, png, svg, series)


def _row(table: str, model: str, steps: int | None = 400_000):
    for row in ROWS:
        if (
            row.table == table
            and row.model == model
            and (steps is None or row.training_steps == steps)
        ):
            return row
    return None


def plot_fig2(out: Path) -> FigureResult:
    """FID vs GMACs at 400K iterations, bubble area ~ GMACs, FCDM vs DiT (paper Fig. 2a)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for family, index, color in (("FCDM", 1, "tab:red"), ("DiT", 2, "tab:blue")):
        rows = [_row("table2", scale[index]) for scale in SCALES]
        rows = [r for r in rows if r is not None and r.gmacs and r.fid]
        ax.scatter(
            [r.gmacs for r in rows],
            [r.fid for r in rows],
            s=[12 * r.gmacs for r in rows],
            alpha=0.45,
            color=color,
            edgecolor="k",
            label=family,
        )
        for r in rows:
            ax.annotate(
                r.label,
                (r.gmacs, r.fid),
                fontsize=9,
                ha="center",
                va="bottom",
                xytext=(0, 6),
                textcoords="offset points",
            )
    ax.set_xscale("log")
    ax.set_xlabel('GMACs per image (paper "GFLOPs", DiT convention; log scale)')
    ax.set_ylabel("FID-50K (400K iters, w/o cfg) ↓")
    ax.set_title("Figure 2: FID vs compute by scale (published)")
    ax.legend(markerscale=0.3)
    return _save(
        fig,
        out,
        "fig2_fid_vs_gmacs",
        "Figure 2 (rebuilt from Table 2, published): FID "
        "vs GMACs at 400K iterations; bubble area ~ GMACs.",
        (2,),
    )


def plot_fig5(out: Path, m: Measurements) -> FigureResult:
    """FID-50K vs training iterations per scale: FCDM (Table 7) and DiT's 400K point."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6), sharey=False)
    series = []
    for ax, (scale, fcdm, dit) in zip(axes, SCALES, strict=True):
        rows = sorted(
            (r for r in ROWS if r.table == "table7" and r.model == fcdm),
            key=lambda r: r.training_steps,
        )
        ax.plot(
            [r.training_steps / 1e3 for r in rows],
            [r.fid for r in rows],
            "o-",
            color="tab:red",
            label=f"FCDM-{scale} (Table 7)",
        )
        count = 1
        dit_row = _row("table2", dit)
        if dit_row is not None:
            ax.plot(
                [dit_row.training_steps / 1e3],
                [dit_row.fid],
                "s",
                color="tab:blue",
                label=f"{dit_row.label} @400K (Table 2)",
            )
            count += 1
        measured = [
            e
            for e in m.records.evals
            if e.model == fcdm
            and e.training_steps
            and e.fid is not None
            and (e.cfg_scale or 1.0) <= 1.0
            and e.resolution == 256
        ]
        if measured:
            ax.plot(
                [e.training_steps / 1e3 for e in measured],
                [e.fid for e in measured],
                "x",
                color="k",
                markersize=9,
                label="measured (eval records)",
            )
            count += 1
        series.append(count)
        ax.set_title(f"{scale} scale")
        ax.set_xlabel("training iterations (K)")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_ylabel("FID-50K (w/o cfg) ↓")
    fig.suptitle(
        "Figure 5: FID-50K over training iterations (published; DiT curve not printed "
        "in the paper's text, only its 400K point)",
        fontsize=11,
    )
    fig.tight_layout()
    return _save(
        fig,
        out,
        "fig5_fid_vs_iterations",
        "Figure 5 (rebuilt): FID-50K vs training "
        "iterations per scale; FCDM from Table 7, DiT-*/2 at 400K from Table 2.",
        tuple(series),
    )


def training_zettaflops(gmacs: float, epochs: float) -> float:
    """Training cost: epochs x ImageNet images x 3 x (2 x GMACs) FLOPs, in zettaFLOPs (1e21)."""
    return epochs * IMAGENET_TRAIN_IMAGES * TRAIN_COST_FACTOR * 2 * gmacs * 1e9 / 1e21


def plot_fig6(out: Path) -> FigureResult:
    """FID vs training cost (zettaFLOPs) and FID vs throughput, Table 3 rows (with guidance)."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    rows = [r for r in ROWS if r.table == "table3" and r.model in ARCH_CLASS]
    series = []
    for ax, x_of in (
        (left, lambda r: training_zettaflops(r.gmacs, r.epochs) if r.gmacs and r.epochs else None),
        (right, lambda r: r.throughput_it_s),
    ):
        by_class = defaultdict(list)
        for r in rows:
            x = x_of(r)
            if x is not None and r.fid is not None:
                by_class[ARCH_CLASS[r.model]].append((x, r.fid, r.label))
        for cls, points in by_class.items():
            ax.scatter(
                [p[0] for p in points],
                [p[1] for p in points],
                s=60,
                color=CLASS_COLOR[cls],
                label=cls,
                edgecolor="k",
            )
            for x, y, label in points:
                ax.annotate(label, (x, y), fontsize=8, xytext=(4, 4), textcoords="offset points")
        series.append(len(by_class))
        ax.set_ylabel("FID-50K (with guidance) ↓")
        ax.grid(alpha=0.3)
        ax.legend()
    left.set_xscale("log")
    from matplotlib.ticker import NullFormatter

    left.xaxis.set_minor_formatter(NullFormatter())
    left.set_xlabel("training cost (zettaFLOPs = 1e21 FLOPs; log scale)")
    left.set_title("FID vs training cost")
    right.set_xlabel("throughput (images/s per network evaluation, published)")
    right.set_title("FID vs throughput")
    fig.suptitle("Figure 6 (published Table 3 values)", fontsize=11)
    fig.tight_layout()
    caption = (
        f"Figure 6 (rebuilt from Table 3): training cost = epochs x "
        f"{IMAGENET_TRAIN_IMAGES:,} images x {TRAIN_COST_FACTOR} (one training iteration "
        "~ 3x one forward: forward + backward to inputs + backward to weights) x GFLOPs, "
        "with GFLOPs = 2 x the printed GMACs. If the paper multiplied its printed "
        '"GFLOPs" (MACs) directly, its axis is half of this one.'
    )
    return _save(fig, out, "fig6_fid_vs_cost_and_throughput", caption, tuple(series))


def plot_fig9(out: Path) -> FigureResult:
    """FID vs GMACs for the quadratic, constant and linear block-scaling strategies (Table 11)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    by_strategy = defaultdict(list)
    for r in ROWS:
        if r.table == "table11":
            by_strategy[r.extra_value("strategy")].append(r)
    for (strategy, rows), marker in zip(by_strategy.items(), "osD", strict=False):
        rows.sort(key=lambda r: r.gmacs)
        ax.plot([r.gmacs for r in rows], [r.fid for r in rows], marker=marker, label=strategy)
    ax.set_xscale("log")
    ax.set_xlabel("GMACs per image (log scale)")
    ax.set_ylabel("FID-50K (200K iters) ↓")
    ax.set_title("Figure 9: block-scaling strategies (S, B, L; published)")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(
        fig,
        out,
        "fig9_block_scaling",
        "Figure 9 (rebuilt from Table 11): FID vs GMACs per block-scaling strategy.",
        (len(by_strategy),),
    )


def plot_throughput(out: Path, m: Measurements) -> list[FigureResult]:
    """One bar chart per (GPU, precision) from throughput records; median with IQR bars.

    Without records: one chart of the paper's Table 2 throughput, labelled as published.
    """
    plt = _pyplot()
    groups = defaultdict(list)
    for p in m.records.throughput:
        groups[(p.device_slug, p.precision, p.resolution)].append(p)
    results = []
    if not groups:
        rows = [
            r
            for r in ROWS
            if r.table == "table2" and r.training_steps == 400_000 and r.throughput_it_s
        ]
        fig, ax = plt.subplots(figsize=(7, 6))
        ax.barh([r.label for r in rows], [r.throughput_it_s for r in rows], color="0.6")
        ax.invert_yaxis()
        ax.set_xlabel("images/s per network evaluation (published, batch 64)")
        ax.set_title(
            "Throughput as published (Table 2; GPU/precision not stated)\n"
            "no throughput records given: nothing measured"
        )
        results.append(
            _save(
                fig,
                out,
                "throughput_published",
                "Published throughput (Table "
                "2, 256x256); no fcdmbench throughput records were given.",
                (1,),
            )
        )
        return results
    for (slug, precision, resolution), points in sorted(groups.items()):
        best = {}
        for p in points:  # latest record wins per model
            best[p.model] = p
        models = list(best)
        fig, ax = plt.subplots(figsize=(7, 0.45 * len(models) + 1.6))
        values = [best[k].img_per_s for k in models]
        errors = [(best[k].iqr or 0.0) / 2 for k in models]
        ax.barh(models, values, xerr=errors, color="tab:purple", alpha=0.8)
        ax.invert_yaxis()
        ax.set_xlabel("images/s per network evaluation (median; bars: IQR)")
        batch = {p.batch for p in points}
        ax.set_title(
            f"Measured throughput: {slug}, {precision}, {resolution} px, batch "
            f"{'/'.join(str(b) for b in sorted(b for b in batch if b)) or '?'}"
        )
        key = f"throughput_{slug}_{precision}_{resolution}".replace("/", "-")
        results.append(
            _save(
                fig,
                out,
                key,
                f"Measured throughput on {slug} ({precision}, "
                f"{resolution} px) from {len({p.source for p in points})} "
                "record(s).",
                (1,),
            )
        )
    return results


def build_figures(out: Path, m: Measurements) -> list[FigureResult]:
    """All report figures into `out`."""
    return [
        plot_fig2(out),
        plot_fig5(out, m),
        plot_fig6(out),
        plot_fig9(out),
        *plot_throughput(out, m),
    ]
