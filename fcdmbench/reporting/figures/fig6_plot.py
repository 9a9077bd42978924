"""The seed paper's Figure 6 rebuilt from its Table 3: FID (with guidance) against training cost in
zettaFLOPs, and against throughput, coloured by architecture class.

Measured throughput (records at 256 px) of Table 3 models is drawn at the published FID, one
series per device, precision and batch; guided-FID eval records at the published x. Units:
zettaFLOPs = 1e21 FLOPs, GFLOPs = 2 x GMACs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from fcdmbench.paper_tables import ROWS
from fcdmbench.published import PublishedResult
from fcdmbench.records.flops import TRAIN_FACTOR
from fcdmbench.reporting.collect import EvalPoint, Measurements
from fcdmbench.reporting.figures.plot_labels import place_labels
from fcdmbench.reporting.figures.plot_points import (
    ThroughputSeries,
    eval_label,
    eval_records,
    off_protocol_note,
    series_labels,
    throughput_series,
)
from fcdmbench.reporting.figures.plot_style import (
    MEASURED_MARKERS,
    Drawn,
    connector,
    figure_legend,
    freeze_layout,
    measured_style,
    new_figure,
    pyplot,
    readable_log_axis,
    sources_caption,
)

__all__ = ["ARCH_CLASS", "IMAGENET_TRAIN_IMAGES", "draw_fig6", "training_zettaflops"]

#: ImageNet-1k training images (one epoch).
IMAGENET_TRAIN_IMAGES = 1_281_167
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

XOf = Callable[[PublishedResult], float | None]
LabelItems = list[tuple[float, float, str]]


def training_zettaflops(gmacs: float, epochs: float) -> float:
    """Training cost: epochs x ImageNet images x 3 x (2 x GMACs) FLOPs, in zettaFLOPs (1e21)."""
    return epochs * IMAGENET_TRAIN_IMAGES * TRAIN_FACTOR * 2 * gmacs * 1e9 / 1e21


def _training_cost_of(row: PublishedResult) -> float | None:
    return training_zettaflops(row.gmacs, row.epochs) if row.gmacs and row.epochs else None


def _throughput_of(row: PublishedResult) -> float | None:
    return row.throughput_it_s


def _published(ax, rows: list[PublishedResult], x_of: XOf) -> tuple[int, LabelItems]:
    """Table 3's points, one colour per architecture class: (series drawn, their labels)."""
    by_class = defaultdict(list)
    for r in rows:
        x = x_of(r)
        if x is not None and r.fid is not None:
            by_class[ARCH_CLASS[r.model]].append((x, r.fid, r.label))
    count = 0
    for cls in CLASS_COLOR:
        points = by_class.get(cls)
        if not points:
            continue
        ax.scatter(
            [p[0] for p in points],
            [p[1] for p in points],
            s=45,
            color=CLASS_COLOR[cls],
            label=f"{cls} (published)",
            edgecolor="k",
            zorder=2,
        )
        count += 1
    return count, [p for points in by_class.values() for p in points]


def _measured_throughput(
    ax, measured: list[tuple[str, ThroughputSeries]], by_model: dict[str, PublishedResult]
) -> int:
    """Each throughput series at the published FID, linked to the published point."""
    for i, (label, s) in enumerate(measured):
        pts = [(name, p) for name, p in s.points.items() if name in by_model and by_model[name].fid]
        for name, p in pts:
            r = by_model[name]
            if r.throughput_it_s:
                connector(ax, (r.throughput_it_s, r.fid), (p.img_per_s, r.fid), "0.4")
        ax.plot(
            [p.img_per_s for _, p in pts],
            [by_model[name].fid for name, _ in pts],
            **measured_style("k", MEASURED_MARKERS[i % len(MEASURED_MARKERS)]),
            label=f"{label}; FID as published",
        )
    return len(measured)


def _measured_fid(
    ax, evals: list[EvalPoint], by_model: dict[str, PublishedResult], x_of: XOf
) -> int:
    """Guided FID of eval records at the model's published x, linked to the published FID."""
    by_eval: dict[str, list[tuple[float, EvalPoint]]] = defaultdict(list)
    for e in evals:
        x = x_of(by_model[e.model])
        if x is not None:
            by_eval[eval_label(e)].append((x, e))
    for i, (label, points) in enumerate(sorted(by_eval.items())):
        for x, e in points:
            connector(ax, (x, by_model[e.model].fid), (x, e.fid), "0.4")
        ax.plot(
            [x for x, _ in points],
            [e.fid for _, e in points],
            **measured_style("tab:green", MEASURED_MARKERS[-1 - i % len(MEASURED_MARKERS)]),
            label=label,
        )
    return len(by_eval)


def _axes_text(left, right, rows: list[PublishedResult], measured: list) -> None:
    left.set_ylabel("FID-50K, with guidance ↓")
    left.set_xscale("log")
    readable_log_axis(left.xaxis)
    left.set_xlabel("training cost (zettaFLOPs = 1e21 FLOPs; log scale)")
    left.set_title("FID vs training cost")
    xs = [p.img_per_s for _, s in measured for p in s.points.values()]
    xs += [r.throughput_it_s for r in rows if r.throughput_it_s]
    log_right = bool(xs) and max(xs) / min(xs) > 10
    if log_right:  # a CPU or small-GPU run beside the paper's GPU figures
        right.set_xscale("log")
        readable_log_axis(right.xaxis)
    right.set_xlabel(
        "throughput (images/s per network evaluation" + ("; log scale)" if log_right else ")")
    )
    right.set_title("FID vs throughput")


def _caption(m: Measurements, rows: list[PublishedResult], measured: list, evals: list) -> str:
    no_tp = sorted(r.label for r in rows if not r.throughput_it_s)
    return (
        f"Figure 6 (rebuilt from Table 3): training cost = epochs x "
        f"{IMAGENET_TRAIN_IMAGES:,} images x {TRAIN_FACTOR} (one training iteration "
        f"~ {TRAIN_FACTOR}x one forward: forward + backward to inputs + backward to weights) x "
        "GFLOPs, with GFLOPs = 2 x the printed GMACs. If the paper multiplied its printed "
        '"GFLOPs" (MACs) directly, its axis is half of this one. '
        + sources_caption(["table3"])
        + f" Not on the right panel (no published throughput): {', '.join(no_tp)}."
        + (
            " Hollow markers: measured throughput from records at the published FID, each "
            "series one device, precision and batch; where these differ from the paper's "
            "(batch 64, GPU not stated), compare ratios between models, not the distance to the "
            "published point."
            if measured
            else ""
        )
        + (
            " Measured guided FID (eval records) is drawn at the model's published x, whatever "
            "its training length."
            if evals
            else ""
        )
        + off_protocol_note(m)
    )


def draw_fig6(m: Measurements) -> Drawn:
    """FID vs training cost (zettaFLOPs) and FID vs throughput, Table 3 rows (with guidance)."""
    plt = pyplot()
    fig, (left, right) = new_figure(plt, 1, 2, 10.5, 5.2)
    rows = [r for r in ROWS if r.table == "table3" and r.model in ARCH_CLASS]
    by_model = {r.model: r for r in rows}
    series_256 = [s for s in throughput_series(m) if s.resolution == 256]
    measured = [
        (label, s)
        for s, label in zip(series_256, series_labels(series_256), strict=True)
        if any(name in by_model and by_model[name].fid for name in s.points)
    ]
    evals = [e for e in eval_records(m, guided=True) if e.model in by_model]
    counts, label_items = [], []
    for ax, x_of in ((left, _training_cost_of), (right, _throughput_of)):
        count, items = _published(ax, rows, x_of)
        if ax is right:
            count += _measured_throughput(ax, measured, by_model)
        count += _measured_fid(ax, evals, by_model, x_of)
        counts.append(count)
        label_items.append(items)
        ax.grid(alpha=0.3, which="major")
        ax.margins(x=0.1, y=0.12)
    _axes_text(left, right, rows, measured)
    handles = dict(zip(*reversed(left.get_legend_handles_labels()), strict=True))
    handles.update(zip(*reversed(right.get_legend_handles_labels()), strict=True))
    figure_legend(fig, handles)
    fig.suptitle("Figure 6: ImageNet 256x256, class-conditional, with guidance")
    renderer = freeze_layout(fig)
    for ax, items in zip((left, right), label_items, strict=True):
        place_labels(ax, renderer, items)
    caption = _caption(m, rows, measured, evals)
    return Drawn("fig6_fid_vs_cost_and_throughput", caption, fig, tuple(counts))
