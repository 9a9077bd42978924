"""The throughput chart: per resolution, the published bars (the seed paper's Table 2 or 4) beside
one panel per measured device, each (precision, batch, torch) series a bar of its own; without
records, the published Table 2 chart alone. Each panel has its own linear axis (a CPU beside the
paper's GPU is not one scale). Where `fcdmbench audit` priced a published bar, its roofline bound
(a model, not a measurement) is marked on it.
"""

from __future__ import annotations

from fcdmbench.errors import UnknownModelError
from fcdmbench.published import PublishedResult
from fcdmbench.registry import resolve
from fcdmbench.reporting.collect import Measurements
from fcdmbench.reporting.figures.plot_points import (
    PUBLISHED_THROUGHPUT,
    ThroughputSeries,
    published_throughput,
    series_labels,
    throughput_series,
)
from fcdmbench.reporting.figures.plot_style import (
    PAPER,
    SERIES_COLORS,
    Drawn,
    freeze_layout,
    new_figure,
    pyplot,
    sources_caption,
)

__all__ = ["Bounds", "draw_throughput", "draw_throughput_published"]

#: (model, resolution) -> (bound img/s, where it was priced): see
#: `fcdmbench.reporting.claims.published_bounds`.
Bounds = dict[tuple[str, int], tuple[float, str]]
_ERROR_KW = {"ecolor": "k", "capsize": 2, "linewidth": 1}
_LEGEND_TITLE = "measured bars: median over timed blocks; whisker: IQR, centred on the median"


def _display_name(name: str) -> str:
    """The paper's spelling (FCDM-S, DiT-XL/2) of a registered model, else the name itself."""
    try:
        return resolve(name)[0].display_name
    except UnknownModelError:
        return name


def _rate(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def _mark_bounds(ax, rows: list, height: float, size: float = 8) -> float:
    """Label each published bar (y, value, (bound, where) or None) with its value and, where a
    bound exists, mark the bound (a red bar-high line) and print the fraction; returns the
    rightmost x drawn."""
    right = 0.0
    for y, value, bound in rows:
        text = f" {_rate(value)}"
        if bound is not None:
            ax.vlines(bound[0], y - height / 2, y + height / 2, color="tab:red", lw=2.2,
                      label=f"roofline bound, {bound[1]} (a model, not a measurement)")  # fmt: skip
            text += f"  ({value / bound[0]:.0%} of bound)"
        x = max(value, bound[0] if bound else 0.0)
        ax.text(x, y, text, va="center", fontsize=size)
        right = max(right, x)
    return right


def _bounds_caption(bounds: Bounds | None, resolution: int) -> str:
    where = sorted({w for (_, r), (_, w) in (bounds or {}).items() if r == resolution})
    if not where:
        return ""
    return (
        " Each published bar carries its roofline bound (red line: a model, not a "
        "measurement) on the device and setting fcdmbench audit finds most plausible "
        f"({'; '.join(where)})."
    )


def draw_throughput_published(bounds: Bounds | None = None) -> Drawn:
    """Table 2's throughput alone (no records), each bar with its bound where `bounds` has one."""
    plt = pyplot()
    rows = list(published_throughput(256).values())
    fig, ax = new_figure(plt, 1, 1, 7.2, 0.26 * len(rows) + 1.6)
    ax.barh([r.label for r in rows], [r.throughput_it_s for r in rows], color="0.65")
    marks = [(i, r.throughput_it_s, (bounds or {}).get((r.model, 256))) for i, r in enumerate(rows)]
    right = _mark_bounds(ax, marks, 0.8)
    ax.invert_yaxis()
    ax.set_xlim(0, right * (1.35 if bounds else 1.15))
    ax.set_xlabel("images/s per network evaluation (published: batch 64, GPU not stated)")
    ax.set_title("Throughput as published (Table 2, 256x256); nothing measured")
    if bounds:
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles[:1], labels[:1], loc="lower right", fontsize=8)
    freeze_layout(fig)
    caption = (
        "Published throughput (Table 2, 256x256, 400K-iteration rows; batch 64, GPU and precision "
        "not stated). " + sources_caption(["table2"]) + " No fcdmbench throughput records were "
        "given, so nothing measured is shown." + _bounds_caption(bounds, 256)
    )
    return Drawn("throughput_published", caption, fig, (1,))


def _published_bars(
    ax, models: list[str], published: dict[str, PublishedResult], bound_of: dict
) -> tuple[list, float]:
    """The published panel's hatched bars, their values and bounds: (legend handles, right end)."""
    names = [n for n in models if n in published]
    ys = [models.index(n) for n in names]
    values = [published[n].throughput_it_s for n in names]
    bars = ax.barh(ys, values, height=0.72, color="0.65", hatch="//", edgecolor="0.3",
                   error_kw=_ERROR_KW, label="published (batch 64)")  # fmt: skip
    marks = [(y, v, bound_of.get(n)) for y, v, n in zip(ys, values, names, strict=True)]
    right = max([*values, _mark_bounds(ax, marks, 0.72, 7.5)])
    lines = [c for c in ax.collections if c.get_label().startswith("roofline")]
    return [bars, *lines[:1]], right


def _measured_bars(
    ax, s: ThroughputSeries, models: list[str], slot: tuple[int, int], color: str, label: str
) -> tuple[object, float]:
    """Series `s` as bars (whisker: half the IQR each side) in slot (j, of n) of each model's
    row, each with its value: (legend handle, right end)."""
    j, n = slot
    bar_h = 0.8 / n
    ys, values, errors = [], [], []
    for i, name in enumerate(models):
        p = s.points.get(name)
        if p is not None:
            ys.append(i - 0.4 + bar_h * (j + 0.5))
            values.append(p.img_per_s)
            errors.append((p.iqr or 0.0) / 2)
    bars = ax.barh(ys, values, height=bar_h * 0.9, xerr=errors if any(errors) else None,
                   color=color, error_kw=_ERROR_KW, label=label)  # fmt: skip
    for y, v, e in zip(ys, values, errors, strict=True):
        ax.text(v + e, y, f" {_rate(v)}", va="center", fontsize=7.5)
    return bars, max((v + e for v, e in zip(values, errors, strict=True)), default=0.0)


def _panels(series: list[ThroughputSeries], published: dict) -> tuple[list[str], list]:
    """(models in the published table's order, then by name; panels: ("published", []) where
    a model has a published figure, then (device, its series) per device)."""
    order = {name: i for i, name in enumerate(published)}
    models = sorted(
        dict.fromkeys(name for s in series for name in s.points),
        key=lambda name: (order.get(name, len(order)), name),
    )
    devices = list(dict.fromkeys(s.device_slug for s in series))
    panels = [("published", [])] if any(name in published for name in models) else []
    return models, panels + [(d, [s for s in series if s.device_slug == d]) for d in devices]


def _caption(
    resolution: int, series: list, labels: dict, show_published: bool, bounds: Bounds | None
) -> str:
    superseded = sum(s.superseded for s in series)
    note = (
        f"{superseded} point(s) measured again in the same series were replaced by the record "
        "read last."
        if superseded
        else ""
    )
    table = PUBLISHED_THROUGHPUT[resolution].replace("table", "Table ") if show_published else ""
    return (
        f"Throughput at {resolution}x{resolution} (images/s per network evaluation): "
        + (
            f"{PAPER} {table} (batch 64, GPU and precision not stated) beside "
            if show_published
            else "no published figure at this resolution; "
        )
        + f"{len(series)} measured series from "
        f"{len({src for s in series for src in s.sources})} record(s): "
        + "; ".join(
            f"{labels[id(s)]} on {s.device_name}" + (f", torch {s.torch}" if s.torch else "")
            for s in series
        )
        + ". Records of different device, precision or batch are separate bars; panels do "
        "not share an axis. " + note + _bounds_caption(bounds, resolution)
    ).strip()


def _throughput_figure(
    resolution: int, series: list[ThroughputSeries], labels: dict, bounds: Bounds | None
) -> Drawn:
    """The chart of one resolution: published panel (if any) and one panel per device."""
    published = published_throughput(resolution)
    models, panels = _panels(series, published)
    widest = max(len(p[1]) for p in panels) or 1
    height = 0.22 * widest * len(models) + 0.2 * len(models) + 1.3 + 0.22 * len(series)
    fig, axes = new_figure(pyplot(), 1, len(panels), 1.3 + 3.1 * len(panels), max(height, 2.6),
                           sharey=True, squeeze=False)  # fmt: skip
    handles, counts = [], []
    bound_of = {name: b for (name, r), b in (bounds or {}).items() if r == resolution}
    for ax, (panel, panel_series) in zip(axes[0], panels, strict=True):
        if panel == "published":
            new, top = _published_bars(ax, models, published, bound_of)
            handles += new
            title = f"published ({PUBLISHED_THROUGHPUT[resolution].replace('table', 'Table ')})"
        else:
            top, title = 0.0, panel
            for j, s in enumerate(panel_series):
                color = SERIES_COLORS[series.index(s) % len(SERIES_COLORS)]
                slot = (j, len(panel_series))
                bars, right = _measured_bars(ax, s, models, slot, color, labels[id(s)])
                handles.append(bars)
                top = max(top, right)
        counts.append(len(panel_series or [None]))
        ax.set_xlim(0, top * 1.3 if top else 1)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, axis="x")
        ax.set_xlabel("images/s per network evaluation", fontsize=9)
    axes[0][0].set_yticks(range(len(models)), [_display_name(name) for name in models])
    axes[0][0].set_ylim(len(models) - 0.5, -0.5)
    fig.suptitle(f"Throughput at {resolution}x{resolution}: published beside measured")
    fig.legend(handles=handles, loc="outside lower center", ncols=1, title=_LEGEND_TITLE,
               title_fontsize=8.5)  # fmt: skip
    freeze_layout(fig)
    caption = _caption(resolution, series, labels, panels[0][0] == "published", bounds)
    return Drawn(f"throughput_{resolution}px", caption, fig, tuple(counts))


def draw_throughput(m: Measurements, bounds: Bounds | None = None) -> list[Drawn]:
    """Throughput per resolution: a published panel and one panel per measured device.

    Within a device panel every (precision, batch, torch) series has its own bar, labelled in
    the legend. Without records: the published Table 2 chart. `bounds` marks each published bar.
    """
    all_series = throughput_series(m)
    if not all_series:
        return [draw_throughput_published(bounds)]
    labels = dict(zip(map(id, all_series), series_labels(all_series), strict=True))
    return [
        _throughput_figure(r, [s for s in all_series if s.resolution == r], labels, bounds)
        for r in sorted({s.resolution for s in all_series})
    ]
