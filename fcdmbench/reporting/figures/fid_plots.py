"""The seed paper's FID figures rebuilt from its tables: Figure 2 (FID vs GMACs by scale), Figure 5
(FID over training iterations) and Figure 9 (block-scaling strategies), with measured GMACs and
FID from records drawn on top.

Published points are filled markers, exactly at the printed values; the caption names the table
they come from. A measured point is a hollow marker in a legend entry that says what was measured
(dotted line to its published point); a coordinate the record does not hold stays the published
one, and the legend says so. Units: GMACs (DiT convention), GFLOPs = 2 x GMACs.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fcdmbench.paper_tables import ROWS
from fcdmbench.reporting.collect import EvalPoint, Measurements
from fcdmbench.reporting.figures.plot_labels import place_labels
from fcdmbench.reporting.figures.plot_points import (
    eval_label,
    eval_records,
    flops_records,
    off_protocol_note,
    published_row,
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

__all__ = ["draw_fig2", "draw_fig5", "draw_fig9"]

#: (scale, FCDM model, DiT model) compared at each scale.
SCALES = (
    ("S", "fcdm-s", "dit-s-2"),
    ("B", "fcdm-b", "dit-b-2"),
    ("L", "fcdm-l", "dit-l-2"),
    ("XL", "fcdm-xl", "dit-xl-2"),
)


# --- Figure 2 -------------------------------------------------------------------------------------


def draw_fig2(m: Measurements) -> Drawn:
    """FID vs GMACs at 400K iterations by scale, FCDM vs DiT (paper Fig. 2a).

    The paper's bubble area repeats FLOPs; here FLOPs are the (log) x position, which reads
    exactly, so markers have one size and a line joins each family's S, B, L, XL.
    """
    plt = pyplot()
    fig, ax = new_figure(plt, 1, 1, 7.2, 4.8)
    flops = flops_records(m)
    labels = []
    series = 0
    published_xy: dict[str, tuple[float, float]] = {}
    for family, index, color, marker in (
        ("FCDM", 1, "tab:red", "o"),
        ("DiT", 2, "tab:blue", "s"),
    ):
        rows = [published_row("table2", scale[index]) for scale in SCALES]
        rows = [r for r in rows if r is not None and r.gmacs and r.fid]
        ax.plot(
            [r.gmacs for r in rows],
            [r.fid for r in rows],
            marker=marker,
            color=color,
            markersize=7,
            markeredgecolor="k",
            label=f"{family} (published, Table 2)",
            zorder=2,
        )
        series += 1
        for r in rows:
            published_xy[r.model] = (r.gmacs, r.fid)
            labels.append((r.gmacs, r.fid, r.label))
    measured_gmacs = [(name, flops[name]) for name in published_xy if name in flops]
    if measured_gmacs:
        for name, point in measured_gmacs:
            connector(ax, published_xy[name], (point.gmacs, published_xy[name][1]), "0.3")
        ax.plot(
            [p.gmacs for _, p in measured_gmacs],
            [published_xy[name][1] for name, _ in measured_gmacs],
            **measured_style("k", MEASURED_MARKERS[0]),
            label="measured GMACs (flops record); FID as published",
        )
        series += 1
    series += _plot_fig2_evals(ax, m, flops, published_xy)
    ax.set_xscale("log")
    readable_log_axis(ax.xaxis)
    ax.margins(x=0.12, y=0.1)
    ax.grid(alpha=0.3, which="major")
    ax.set_xlabel('GMACs per image (the paper\'s "FLOPs (G)", DiT convention; log scale)')
    ax.set_ylabel("FID-50K, 400K iterations, no guidance ↓")
    ax.set_title("Figure 2: FID vs compute, S to XL")
    legend = ax.legend(loc="best")
    renderer = freeze_layout(fig)
    place_labels(ax, renderer, labels, obstacles=[legend])
    caption = (
        "Figure 2a (rebuilt from Table 2): FID-50K without guidance at 400K iterations vs "
        "GMACs per image, FCDM and DiT at S, B, L, XL. "
        + sources_caption(["table2"])
        + " The paper encodes FLOPs as bubble size; here they are the x position, read exactly, "
        "so all markers share one size. Hollow markers: measured values from the records given "
        "(dotted line to the published point)." + off_protocol_note(m)
    )
    return Drawn("fig2_fid_vs_gmacs", caption, fig, (series,))


def _plot_fig2_evals(ax, m: Measurements, flops, published_xy) -> int:
    """Measured FIDs at 400K iterations without guidance of Figure 2's models, one hollow series
    per eval label, at the measured GMACs where a flops record has them (else the published),
    each joined to its published point; the number of series drawn."""
    evals = [
        e for e in eval_records(m, guided=False, training_steps=400_000) if e.model in published_xy
    ]
    by_label: dict[str, list[EvalPoint]] = defaultdict(list)
    for e in evals:
        by_label[eval_label(e)].append(e)
    for i, (label, points) in enumerate(sorted(by_label.items()), start=1):
        xs = [
            flops[e.model].gmacs if e.model in flops else published_xy[e.model][0] for e in points
        ]
        for x, e in zip(xs, points, strict=True):
            connector(ax, published_xy[e.model], (x, e.fid), "0.3")
        ax.plot(
            xs,
            [e.fid for e in points],
            **measured_style("tab:green", MEASURED_MARKERS[i % len(MEASURED_MARKERS)]),
            label=label,
        )
    return len(by_label)


# --- Figure 5 -------------------------------------------------------------------------------------


def draw_fig5(m: Measurements) -> Drawn:
    """FID-50K vs training iterations per scale: FCDM (Table 7) and DiT's 400K point.

    One legend for the four panels (red FCDM, blue DiT); a measured series keeps its marker in
    every panel it appears in.
    """
    from matplotlib.lines import Line2D

    plt = pyplot()
    fig, axes = new_figure(plt, 2, 2, 10.0, 6.8)
    evals = [e for e in eval_records(m, guided=False) if e.training_steps]
    markers = {
        label: MEASURED_MARKERS[i % len(MEASURED_MARKERS)]
        for i, label in enumerate(sorted({eval_label(e) for e in evals}))
    }
    series = []
    handles: dict[str, Any] = {}
    for ax, (scale, fcdm, dit) in zip(axes.flat, SCALES, strict=True):
        rows = sorted(
            (r for r in ROWS if r.table == "table7" and r.model == fcdm),
            key=lambda r: r.training_steps,
        )
        (line,) = ax.plot(
            [r.training_steps / 1e3 for r in rows],
            [r.fid for r in rows],
            "o-",
            color="tab:red",
            markeredgecolor="k",
        )
        handles.setdefault("FCDM (published, Table 7)", line)
        count = 1
        dit_row = published_row("table2", dit)
        if dit_row is not None:
            (line,) = ax.plot(
                [dit_row.training_steps / 1e3],
                [dit_row.fid],
                "s",
                color="tab:blue",
                markeredgecolor="k",
            )
            handles.setdefault("DiT-*/2 at 400K (published, Table 2)", line)
            count += 1
        by_series: dict[tuple[str, str], list[EvalPoint]] = defaultdict(list)
        for e in evals:
            if e.model in (fcdm, dit):
                by_series[(eval_label(e), e.model)].append(e)
        for (label, model), points in sorted(by_series.items()):
            color = "tab:red" if model == fcdm else "tab:blue"
            (line,) = ax.plot(
                [e.training_steps / 1e3 for e in points],
                [e.fid for e in points],
                **measured_style("k", markers[label]),
            )
            line.set_markeredgecolor(color)
            handles.setdefault(label, Line2D([], [], **measured_style("k", markers[label])))
            count += 1
        series.append(count)
        ax.set_title(f"{scale} scale: FCDM-{scale} vs {dit_row.label if dit_row else '?'}")
        ax.grid(alpha=0.3)
        ax.margins(y=0.08)
    for ax in axes[1]:
        ax.set_xlabel("training iterations (K)")
    for ax in axes[:, 0]:
        ax.set_ylabel("FID-50K, no guidance ↓")
    figure_legend(fig, handles)
    fig.suptitle("Figure 5: FID-50K over training iterations")
    freeze_layout(fig)
    caption = (
        "Figure 5 (rebuilt): FID-50K without guidance vs training iterations per scale; FCDM from "
        "Table 7, DiT-*/2 at 400K from Table 2 (the paper's DiT curves are not printed in its "
        "text, only this point). "
        + sources_caption(["table2", "table7"])
        + " Hollow markers: FID from eval records."
        + off_protocol_note(m)
    )
    return Drawn("fig5_fid_vs_iterations", caption, fig, tuple(series))


# --- Figure 9 -------------------------------------------------------------------------------------


def draw_fig9(m: Measurements) -> Drawn:
    """FID vs GMACs for the quadratic, constant and linear block-scaling strategies (Table 11)."""
    plt = pyplot()
    fig, ax = new_figure(plt, 1, 1, 7.2, 4.8)
    by_strategy = defaultdict(list)
    for r in ROWS:
        if r.table == "table11":
            by_strategy[r.extra_value("strategy")].append(r)
    for (strategy, rows), marker in zip(by_strategy.items(), "osD", strict=False):
        rows.sort(key=lambda r: r.gmacs)
        ax.plot(
            [r.gmacs for r in rows],
            [r.fid for r in rows],
            marker=marker,
            markeredgecolor="k",
            label=f"{strategy} (published)",
        )
    series = len(by_strategy)
    flops = flops_records(m)
    quadratic = {r.model: r for r in by_strategy.get("quadratic", [])}
    measured = [(quadratic[name], flops[name]) for name in quadratic if name in flops]
    if measured:
        for r, p in measured:
            connector(ax, (r.gmacs, r.fid), (p.gmacs, r.fid), "0.3")
        ax.plot(
            [p.gmacs for _, p in measured],
            [r.fid for r, _ in measured],
            **measured_style("k", MEASURED_MARKERS[0]),
            label="measured GMACs, quadratic (flops record); FID as published",
        )
        series += 1
    ax.set_xscale("log")
    readable_log_axis(ax.xaxis)
    ax.margins(x=0.1, y=0.1)
    ax.set_xlabel("GMACs per image (log scale)")
    ax.set_ylabel("FID-50K, 200K iterations ↓")
    ax.set_title("Figure 9: block-scaling strategies at S, B and L")
    ax.grid(alpha=0.3, which="major")
    legend = ax.legend(loc="best")
    renderer = freeze_layout(fig)
    scale_of = {"FCDM-S": "S", "FCDM-B": "B", "FCDM-L": "L"}
    items = []
    for r in by_strategy.get("quadratic", []):
        scale = next((v for k, v in scale_of.items() if r.label.startswith(k)), None)
        if scale is not None:
            items.append((r.gmacs, r.fid, f"FCDM-{scale}"))
    place_labels(ax, renderer, items, obstacles=[legend])
    caption = (
        "Figure 9 (rebuilt from Table 11): FID-50K at 200K iterations vs GMACs per image for "
        "three ways of distributing blocks over the U-Net levels, at S, B and L (labels mark the "
        "default quadratic points). "
        + sources_caption(["table11"])
        + (" Hollow markers: GMACs from flops records." if measured else "")
    )
    return Drawn("fig9_block_scaling", caption, fig, (series,))
