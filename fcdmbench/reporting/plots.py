"""Report figures (matplotlib, Agg): the seed paper's Figures 2, 5, 6 and 9 from its published
rows, with measured points from records drawn on top, plus a throughput chart.

Published points are filled markers, exactly at the printed values; the caption names the table
they come from. A measured point is a hollow marker of its own shape, in a legend entry that says
what was measured and where ("measured (cpu-intel-xeon, fp32-strict, batch 4)"); a coordinate the
record does not hold (the FID of a throughput run) stays the published one, and the legend says
so. Records of different device, precision, batch or torch never merge: each is its own series.

Every ``draw_*`` function returns a `Drawn` (the open figure, for tests to inspect);
`build_figures` saves them as PNG (110 dpi) and SVG, deterministically (fixed ``svg.hashsalt``,
no dates). Units: GMACs (DiT convention), GFLOPs = 2 x GMACs, zettaFLOPs = 1e21 FLOPs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcdmbench.paper_tables import ROWS
from fcdmbench.reporting.collect import EvalPoint, FlopsPoint, Measurements, ThroughputPoint

__all__ = [
    "IMAGENET_TRAIN_IMAGES",
    "TRAIN_COST_FACTOR",
    "Drawn",
    "FigureResult",
    "ThroughputSeries",
    "build_figures",
    "draw_fig2",
    "draw_fig5",
    "draw_fig6",
    "draw_fig9",
    "draw_throughput",
    "throughput_series",
    "training_zettaflops",
]

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
#: Published throughput per resolution: the seed paper's table for it (batch 64, GPU not stated).
PUBLISHED_THROUGHPUT = {256: "table2", 512: "table4"}
#: Hollow markers for measured series, in order; published points are filled circles/squares.
MEASURED_MARKERS = ("D", "^", "v", "P", "X", "h", "<", ">")
#: Colours of measured throughput series (published bars are grey).
SERIES_COLORS = ("tab:purple", "tab:orange", "tab:cyan", "tab:olive", "tab:brown", "tab:pink")
PAPER = "FCDM paper (arXiv 2603.09408)"
#: Width cap: the HTML report shows images at up to 1200 px, i.e. 10.9 in at 110 dpi.
MAX_WIDTH_IN = 10.5
DPI = 110


@dataclass(frozen=True, slots=True)
class FigureResult:
    key: str
    caption: str
    png: Path
    svg: Path
    series_per_axes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Drawn:
    """A finished, unsaved figure: `figure` is a matplotlib Figure (close it when done)."""

    key: str
    caption: str
    figure: Any
    series_per_axes: tuple[int, ...]


# --- measured points, read from `Measurements` ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThroughputSeries:
    """Throughput records that share device, precision, batch, resolution and torch: one series.

    `points` maps model -> the point shown; `superseded` counts points of a model this series
    already had, replaced by a later record (file order) and named in the caption.
    """

    device_slug: str
    device_name: str
    precision: str
    batch: int | None
    resolution: int
    torch: str
    cfg: bool
    points: dict[str, ThroughputPoint]
    superseded: int
    sources: tuple[str, ...]

    def label(self, with_torch: bool = False) -> str:
        base = _measured_label(self.device_slug, self.precision, self.batch)
        if self.cfg:  # per guided image (2 rows per call): not one plain network evaluation
            base = f"{base[:-1]}, with cfg)"
        return f"{base[:-1]}, torch {self.torch})" if with_torch and self.torch else base


def _measured_label(device: str, precision: str | None, batch: int | None) -> str:
    batch_text = f"batch {batch}" if batch else "batch not recorded"
    return f"measured ({device}, {precision or 'precision not recorded'}, {batch_text})"


def throughput_series(m: Measurements) -> list[ThroughputSeries]:
    """Group throughput points into series; never merges two batches, precisions or devices."""
    groups: dict[tuple, list[ThroughputPoint]] = defaultdict(list)
    for p in m.records.throughput:
        cfg = bool(getattr(p, "cfg", False))  # fcdmbench.records.ThroughputPoint has it
        groups[(p.resolution, p.device_slug, p.precision, p.batch or 0, p.torch, cfg)].append(p)
    out = []
    for (resolution, slug, precision, batch, torch, cfg), points in sorted(groups.items()):
        chosen: dict[str, ThroughputPoint] = {}
        for p in points:
            chosen[p.model] = p
        out.append(
            ThroughputSeries(
                device_slug=slug,
                device_name=points[0].device_name,
                precision=precision,
                batch=batch or None,
                resolution=resolution,
                torch=torch,
                cfg=cfg,
                points=chosen,
                superseded=len(points) - len(chosen),
                sources=tuple(dict.fromkeys(p.source for p in points)),
            )
        )
    return out


def _series_labels(series: Sequence[ThroughputSeries]) -> list[str]:
    """Series labels; torch is added where two series would otherwise read the same."""
    base = [s.label() for s in series]
    return [s.label(with_torch=base.count(b) > 1) for s, b in zip(series, base, strict=True)]


def _flops_records(m: Measurements, resolution: int = 256) -> dict[str, FlopsPoint]:
    """GMACs from flops records (not the report's own meta counts), last file read wins."""
    return {p.model: p for p in m.records.flops if p.resolution == resolution}


def _eval_records(
    m: Measurements, guided: bool, resolution: int = 256, training_steps: int | None = None
) -> list[EvalPoint]:
    out = []
    for e in m.records.evals:
        if e.fid is None or e.resolution != resolution or not _paper_protocol(e):
            continue
        if (e.cfg_scale is not None and e.cfg_scale > 1.0) != guided:
            continue
        if training_steps is not None and e.training_steps != training_steps:
            continue
        out.append(e)
    return out


def _paper_protocol(e: EvalPoint) -> bool:
    """FID-50K axes take only evals at the paper's protocol (50K samples, ADM-exact); the
    tables show the others. Points without the flag (older readers) are taken as they are."""
    return bool(getattr(e, "is_paper_protocol", True))


def _off_protocol_note(m: Measurements) -> str:
    n = sum(1 for e in m.records.evals if e.fid is not None and not _paper_protocol(e))
    if not n:
        return ""
    return (
        f" Not drawn: {n} eval record(s) not at the paper's protocol (50K samples, ADM-exact "
        "evaluator), whose FID is not FID-50K; the tables list them."
    )


def _eval_label(e: EvalPoint) -> str:
    steps = f", {e.sampling_steps} sampling steps" if e.sampling_steps else ""
    cfg = f", cfg {e.cfg_scale:g}" if e.cfg_scale is not None and e.cfg_scale > 1.0 else ""
    return f"measured FID ({e.on}{steps}{cfg})"


# --- drawing helpers ------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.fontsize": 8.5,
            "xtick.labelsize": 9,
            "ytick.labelsize": 9,
            "svg.hashsalt": "fcdmbench",
            "svg.fonttype": "none",
            "path.simplify": False,
        }
    )
    return plt


def _figure(plt, nrows: int, ncols: int, width: float, height: float, **kw):
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(min(width, MAX_WIDTH_IN), height), layout="constrained", **kw
    )
    return fig, axes


def _freeze_layout(fig) -> Any:
    """Run the constrained layout once and fix it, so labels can be placed in display space."""
    fig.canvas.draw()
    fig.set_layout_engine("none")
    return fig.canvas.get_renderer()


def _readable_log_axis(axis) -> None:
    """Log axis with labelled ticks at 1, 2, 5 x 10^k printed plainly (0.2, 5, 50), no minor
    labels: matplotlib's default prints one label per decade, or colliding 3x10^0 minors."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(LogLocator(base=10, subs=(3.0, 4.0, 6.0, 7.0, 8.0, 9.0)))
    axis.set_minor_formatter(NullFormatter())


#: Label positions around a point, (dx, dy) in points with alignment; tried in this order.
_OFFSETS = (
    (5, 4, "left", "bottom"),
    (5, -4, "left", "top"),
    (-5, 4, "right", "bottom"),
    (-5, -4, "right", "top"),
    (0, 7, "center", "bottom"),
    (0, -7, "center", "top"),
    (8, 0, "left", "center"),
    (-8, 0, "right", "center"),
)


def _data_obstacles(ax, renderer, marker_pt: float):
    """Rows (x0, y0, x1, y1, weight) in display units: every marker (weight 1) and, sampled every
    few pixels, every line (weight 0.4; dotted connectors 0.1) drawn in `ax`."""
    import numpy as np

    pad = marker_pt * renderer.points_to_pixels(1.0)
    line_pad = renderer.points_to_pixels(1.0)
    rows = [np.zeros((0, 5))]

    def boxes(xy, half: float, weight: float):
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        w = np.full((len(xy), 1), weight)
        return np.hstack([xy - half, xy + half, w])

    for line in ax.get_lines():
        xy = ax.transData.transform(np.column_stack(line.get_data()).astype(float))
        if line.get_marker() not in (None, "None", "none", ""):
            rows.append(boxes(xy, pad, 1.0))
        if line.get_linestyle() not in ("None", "none", "", " ") and len(xy) > 1:
            weight = 0.1 if line.get_gid() == "connector" else 0.4
            for start, end in zip(xy[:-1], xy[1:], strict=True):
                steps = max(2, int(np.hypot(*(end - start)) / (2 * line_pad)))
                t = np.linspace(0.0, 1.0, steps)[:, None]
                rows.append(boxes(start + t * (end - start), line_pad, weight))
    for collection in ax.collections:
        xy = collection.get_offset_transform().transform(collection.get_offsets())
        rows.append(boxes(xy, pad, 1.0))
    return np.vstack(rows)


def _place_labels(
    ax,
    renderer,
    items: Iterable[tuple[float, float, str]],
    obstacles: Sequence[Any] = (),
    marker_pt: float = 5.0,
    fontsize: float = 8.5,
) -> list[Any]:
    """Annotate each (x, y, text) beside its point.

    Each label takes the first of a fixed list of spots (near first) that stays inside the axes
    and overlaps no marker, no line, no label placed before it and no obstacle artist (legend),
    and is nearer its own point than any other labelled point (so it cannot be read as another
    point's); when no spot is free, the one with the least overlap. Deterministic.
    """
    import numpy as np

    items = list(items)
    frame = ax.get_window_extent(renderer)
    extra = [o.get_window_extent(renderer) for o in obstacles]
    taken = np.vstack(
        [_data_obstacles(ax, renderer, marker_pt)]
        + [np.array([[e.x0, e.y0, e.x1, e.y1, 1.0]]) for e in extra]
    )
    anchors = np.asarray(ax.transData.transform([(x, y) for x, y, _ in items] or [(0, 0)]))
    px_per_pt = renderer.points_to_pixels(1.0)
    placed = []
    for index, (x, y, text) in enumerate(items):
        probe = ax.annotate(text, (x, y), fontsize=fontsize, annotation_clip=False)
        size = probe.get_window_extent(renderer)
        probe.remove()
        w, h = size.width * 1.04, size.height * 1.1
        others = np.delete(anchors, index, axis=0)
        ox, oy = anchors[index]
        best = None
        for scale in (1.0, 1.8, 2.8):
            for dx, dy, ha, va in _OFFSETS:
                px, py = ox + dx * scale * px_per_pt, oy + dy * scale * px_per_pt
                x0 = {"left": px, "right": px - w, "center": px - w / 2}[ha]
                y0 = {"bottom": py, "top": py - h, "center": py - h / 2}[va]
                x1, y1 = x0 + w, y0 + h
                ow = np.clip(np.minimum(x1, taken[:, 2]) - np.maximum(x0, taken[:, 0]), 0, None)
                oh = np.clip(np.minimum(y1, taken[:, 3]) - np.maximum(y0, taken[:, 1]), 0, None)
                cost = float(np.sum(ow * oh * taken[:, 4]))
                inside_w = max(0.0, min(x1, frame.x1) - max(x0, frame.x0))
                inside_h = max(0.0, min(y1, frame.y1) - max(y0, frame.y0))
                cost += 20 * (w * h - inside_w * inside_h)
                mine = np.hypot(max(x0 - ox, 0, ox - x1), max(y0 - oy, 0, oy - y1))
                if len(others):
                    gx = np.maximum.reduce(
                        [x0 - others[:, 0], np.zeros(len(others)), others[:, 0] - x1]
                    )
                    gy = np.maximum.reduce(
                        [y0 - others[:, 1], np.zeros(len(others)), others[:, 1] - y1]
                    )
                    if np.any(np.hypot(gx, gy) < mine):
                        cost += 5 * w * h  # reads as another point's label
                cost += 30 * (scale - 1.0)
                if best is None or cost < best[0]:
                    best = (cost, (dx * scale, dy * scale, ha, va), (x0, y0, x1, y1))
        (dx, dy, ha, va), box = best[1], best[2]
        placed.append(
            ax.annotate(
                text,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=fontsize,
                annotation_clip=False,
            )
        )
        taken = np.vstack([taken, [[*box, 1.0]]])
    return placed


def _sources_caption(tables: Iterable[str]) -> str:
    names = sorted({t.replace("table", "Table ") for t in tables}, key=lambda s: int(s.split()[1]))
    return f"Published values as printed in the {PAPER}, {', '.join(names)}."


def _row(table: str, model: str, steps: int | None = 400_000):
    for row in ROWS:
        if (
            row.table == table
            and row.model == model
            and (steps is None or row.training_steps == steps)
        ):
            return row
    return None


def _measured_style(color: str, marker: str) -> dict:
    return {
        "marker": marker,
        "markersize": 8,
        "markerfacecolor": "none",
        "markeredgecolor": color,
        "markeredgewidth": 1.8,
        "linestyle": "none",
        "zorder": 4,
    }


def _connector(ax, start: tuple[float, float], end: tuple[float, float], color: str) -> None:
    """Dotted line from a published point to its measured counterpart."""
    if start != end:
        ax.plot(
            *zip(start, end, strict=True), ":", color=color, linewidth=1, zorder=3, gid="connector"
        )


# --- Figure 2 -------------------------------------------------------------------------------------


def draw_fig2(m: Measurements) -> Drawn:
    """FID vs GMACs at 400K iterations by scale, FCDM vs DiT (paper Fig. 2a).

    The paper's bubble area repeats FLOPs; here FLOPs are the (log) x position, which reads
    exactly, so markers have one size and a line joins each family's S, B, L, XL.
    """
    plt = _pyplot()
    fig, ax = _figure(plt, 1, 1, 7.2, 4.8)
    flops = _flops_records(m)
    labels = []
    series = 0
    published_xy: dict[str, tuple[float, float]] = {}
    for family, index, color, marker in (
        ("FCDM", 1, "tab:red", "o"),
        ("DiT", 2, "tab:blue", "s"),
    ):
        rows = [_row("table2", scale[index]) for scale in SCALES]
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
            _connector(ax, published_xy[name], (point.gmacs, published_xy[name][1]), "0.3")
        ax.plot(
            [p.gmacs for _, p in measured_gmacs],
            [published_xy[name][1] for name, _ in measured_gmacs],
            **_measured_style("k", MEASURED_MARKERS[0]),
            label="measured GMACs (flops record); FID as published",
        )
        series += 1
    evals = [
        e for e in _eval_records(m, guided=False, training_steps=400_000) if e.model in published_xy
    ]
    by_label: dict[str, list[EvalPoint]] = defaultdict(list)
    for e in evals:
        by_label[_eval_label(e)].append(e)
    for i, (label, points) in enumerate(sorted(by_label.items()), start=1):
        xs = [
            flops[e.model].gmacs if e.model in flops else published_xy[e.model][0] for e in points
        ]
        for x, e in zip(xs, points, strict=True):
            _connector(ax, published_xy[e.model], (x, e.fid), "0.3")
        ax.plot(
            xs,
            [e.fid for e in points],
            **_measured_style("tab:green", MEASURED_MARKERS[i % len(MEASURED_MARKERS)]),
            label=label,
        )
        series += 1
    ax.set_xscale("log")
    _readable_log_axis(ax.xaxis)
    ax.margins(x=0.12, y=0.1)
    ax.grid(alpha=0.3, which="major")
    ax.set_xlabel('GMACs per image (the paper\'s "FLOPs (G)", DiT convention; log scale)')
    ax.set_ylabel("FID-50K, 400K iterations, no guidance ↓")
    ax.set_title("Figure 2: FID vs compute, S to XL")
    legend = ax.legend(loc="best")
    renderer = _freeze_layout(fig)
    _place_labels(ax, renderer, labels, obstacles=[legend])
    caption = (
        "Figure 2a (rebuilt from Table 2): FID-50K without guidance at 400K iterations vs "
        "GMACs per image, FCDM and DiT at S, B, L, XL. "
        + _sources_caption(["table2"])
        + " The paper encodes FLOPs as bubble size; here they are the x position, read exactly, "
        "so all markers share one size. Hollow markers: measured values from the records given "
        "(dotted line to the published point)." + _off_protocol_note(m)
    )
    return Drawn("fig2_fid_vs_gmacs", caption, fig, (series,))


# --- Figure 5 -------------------------------------------------------------------------------------


def draw_fig5(m: Measurements) -> Drawn:
    """FID-50K vs training iterations per scale: FCDM (Table 7) and DiT's 400K point.

    One legend for the four panels (red FCDM, blue DiT); a measured series keeps its marker in
    every panel it appears in.
    """
    from matplotlib.lines import Line2D

    plt = _pyplot()
    fig, axes = _figure(plt, 2, 2, 10.0, 6.8)
    evals = [e for e in _eval_records(m, guided=False) if e.training_steps]
    markers = {
        label: MEASURED_MARKERS[i % len(MEASURED_MARKERS)]
        for i, label in enumerate(sorted({_eval_label(e) for e in evals}))
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
        dit_row = _row("table2", dit)
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
                by_series[(_eval_label(e), e.model)].append(e)
        for (label, model), points in sorted(by_series.items()):
            color = "tab:red" if model == fcdm else "tab:blue"
            (line,) = ax.plot(
                [e.training_steps / 1e3 for e in points],
                [e.fid for e in points],
                **_measured_style("k", markers[label]),
            )
            line.set_markeredgecolor(color)
            handles.setdefault(label, Line2D([], [], **_measured_style("k", markers[label])))
            count += 1
        series.append(count)
        ax.set_title(f"{scale} scale: FCDM-{scale} vs {dit_row.label if dit_row else '?'}")
        ax.grid(alpha=0.3)
        ax.margins(y=0.08)
    for ax in axes[1]:
        ax.set_xlabel("training iterations (K)")
    for ax in axes[:, 0]:
        ax.set_ylabel("FID-50K, no guidance ↓")
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="outside lower center",
        ncols=len(handles) if len(handles) <= 3 else 2,
    )
    fig.suptitle("Figure 5: FID-50K over training iterations")
    _freeze_layout(fig)
    caption = (
        "Figure 5 (rebuilt): FID-50K without guidance vs training iterations per scale; FCDM from "
        "Table 7, DiT-*/2 at 400K from Table 2 (the paper's DiT curves are not printed in its "
        "text, only this point). "
        + _sources_caption(["table2", "table7"])
        + " Hollow markers: FID from eval records."
        + _off_protocol_note(m)
    )
    return Drawn("fig5_fid_vs_iterations", caption, fig, tuple(series))


# --- Figure 6 -------------------------------------------------------------------------------------


def training_zettaflops(gmacs: float, epochs: float) -> float:
    """Training cost: epochs x ImageNet images x 3 x (2 x GMACs) FLOPs, in zettaFLOPs (1e21)."""
    return epochs * IMAGENET_TRAIN_IMAGES * TRAIN_COST_FACTOR * 2 * gmacs * 1e9 / 1e21


def _training_cost_of(row) -> float | None:
    return training_zettaflops(row.gmacs, row.epochs) if row.gmacs and row.epochs else None


def _throughput_of(row) -> float | None:
    return row.throughput_it_s


def draw_fig6(m: Measurements) -> Drawn:
    """FID vs training cost (zettaFLOPs) and FID vs throughput, Table 3 rows (with guidance).

    Measured throughput (records at 256 px) of Table 3 models is drawn at the published FID, one
    series per device, precision and batch; guided-FID eval records at the published x.
    """
    plt = _pyplot()
    fig, (left, right) = _figure(plt, 1, 2, 10.5, 5.2)
    rows = [r for r in ROWS if r.table == "table3" and r.model in ARCH_CLASS]
    by_model = {r.model: r for r in rows}
    series_256 = [s for s in throughput_series(m) if s.resolution == 256]
    measured_tp = [
        (label, s)
        for s, label in zip(series_256, _series_labels(series_256), strict=True)
        if any(name in by_model and by_model[name].fid for name in s.points)
    ]
    evals = [e for e in _eval_records(m, guided=True) if e.model in by_model]
    series = []
    label_items: list[list[tuple[float, float, str]]] = []
    for ax, x_of in ((left, _training_cost_of), (right, _throughput_of)):
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
        label_items.append([p for points in by_class.values() for p in points])
        if ax is right:
            for i, (label, s) in enumerate(measured_tp):
                pts = [
                    (name, p)
                    for name, p in s.points.items()
                    if name in by_model and by_model[name].fid
                ]
                for name, p in pts:
                    r = by_model[name]
                    if r.throughput_it_s:
                        _connector(ax, (r.throughput_it_s, r.fid), (p.img_per_s, r.fid), "0.4")
                ax.plot(
                    [p.img_per_s for _, p in pts],
                    [by_model[name].fid for name, _ in pts],
                    **_measured_style("k", MEASURED_MARKERS[i % len(MEASURED_MARKERS)]),
                    label=f"{label}; FID as published",
                )
                count += 1
        by_eval: dict[str, list[tuple[float, EvalPoint]]] = defaultdict(list)
        for e in evals:
            x = x_of(by_model[e.model])
            if x is not None:
                by_eval[_eval_label(e)].append((x, e))
        for i, (label, points) in enumerate(sorted(by_eval.items())):
            for x, e in points:
                _connector(ax, (x, by_model[e.model].fid), (x, e.fid), "0.4")
            ax.plot(
                [x for x, _ in points],
                [e.fid for _, e in points],
                **_measured_style("tab:green", MEASURED_MARKERS[-1 - i % len(MEASURED_MARKERS)]),
                label=label,
            )
            count += 1
        series.append(count)
        ax.grid(alpha=0.3, which="major")
        ax.margins(x=0.1, y=0.12)
    left.set_ylabel("FID-50K, with guidance ↓")
    left.set_xscale("log")
    _readable_log_axis(left.xaxis)
    left.set_xlabel("training cost (zettaFLOPs = 1e21 FLOPs; log scale)")
    left.set_title("FID vs training cost")
    xs = [p.img_per_s for _, s in measured_tp for p in s.points.values()]
    xs += [r.throughput_it_s for r in rows if r.throughput_it_s]
    log_right = bool(xs) and max(xs) / min(xs) > 10
    if log_right:  # a CPU or small-GPU run beside the paper's GPU figures
        right.set_xscale("log")
        _readable_log_axis(right.xaxis)
    right.set_xlabel(
        "throughput (images/s per network evaluation" + ("; log scale)" if log_right else ")")
    )
    right.set_title("FID vs throughput")
    handles = dict(zip(*reversed(left.get_legend_handles_labels()), strict=True))
    handles.update(zip(*reversed(right.get_legend_handles_labels()), strict=True))
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="outside lower center",
        ncols=len(handles) if len(handles) <= 3 else 2,
    )
    fig.suptitle("Figure 6: ImageNet 256x256, class-conditional, with guidance")
    renderer = _freeze_layout(fig)
    for ax, items in zip((left, right), label_items, strict=True):
        _place_labels(ax, renderer, items)
    no_tp = sorted(r.label for r in rows if not r.throughput_it_s)
    caption = (
        f"Figure 6 (rebuilt from Table 3): training cost = epochs x "
        f"{IMAGENET_TRAIN_IMAGES:,} images x {TRAIN_COST_FACTOR} (one training iteration "
        "~ 3x one forward: forward + backward to inputs + backward to weights) x GFLOPs, "
        "with GFLOPs = 2 x the printed GMACs. If the paper multiplied its printed "
        '"GFLOPs" (MACs) directly, its axis is half of this one. '
        + _sources_caption(["table3"])
        + f" Not on the right panel (no published throughput): {', '.join(no_tp)}."
        + (
            " Hollow markers: measured throughput from records at the published FID, each "
            "series one device, precision and batch; where these differ from the paper's "
            "(batch 64, GPU not stated), compare ratios between models, not the distance to the "
            "published point."
            if measured_tp
            else ""
        )
        + (
            " Measured guided FID (eval records) is drawn at the model's published x, whatever "
            "its training length."
            if evals
            else ""
        )
        + _off_protocol_note(m)
    )
    return Drawn("fig6_fid_vs_cost_and_throughput", caption, fig, tuple(series))


# --- Figure 9 -------------------------------------------------------------------------------------


def draw_fig9(m: Measurements) -> Drawn:
    """FID vs GMACs for the quadratic, constant and linear block-scaling strategies (Table 11)."""
    plt = _pyplot()
    fig, ax = _figure(plt, 1, 1, 7.2, 4.8)
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
    flops = _flops_records(m)
    quadratic = {r.model: r for r in by_strategy.get("quadratic", [])}
    measured = [(quadratic[name], flops[name]) for name in quadratic if name in flops]
    if measured:
        for r, p in measured:
            _connector(ax, (r.gmacs, r.fid), (p.gmacs, r.fid), "0.3")
        ax.plot(
            [p.gmacs for _, p in measured],
            [r.fid for r, _ in measured],
            **_measured_style("k", MEASURED_MARKERS[0]),
            label="measured GMACs, quadratic (flops record); FID as published",
        )
        series += 1
    ax.set_xscale("log")
    _readable_log_axis(ax.xaxis)
    ax.margins(x=0.1, y=0.1)
    ax.set_xlabel("GMACs per image (log scale)")
    ax.set_ylabel("FID-50K, 200K iterations ↓")
    ax.set_title("Figure 9: block-scaling strategies at S, B and L")
    ax.grid(alpha=0.3, which="major")
    legend = ax.legend(loc="best")
    renderer = _freeze_layout(fig)
    scale_of = {"FCDM-S": "S", "FCDM-B": "B", "FCDM-L": "L"}
    items = []
    for r in by_strategy.get("quadratic", []):
        scale = next((v for k, v in scale_of.items() if r.label.startswith(k)), None)
        if scale is not None:
            items.append((r.gmacs, r.fid, f"FCDM-{scale}"))
    _place_labels(ax, renderer, items, obstacles=[legend])
    caption = (
        "Figure 9 (rebuilt from Table 11): FID-50K at 200K iterations vs GMACs per image for "
        "three ways of distributing blocks over the U-Net levels, at S, B and L (labels mark the "
        "default quadratic points). "
        + _sources_caption(["table11"])
        + (" Hollow markers: GMACs from flops records." if measured else "")
    )
    return Drawn("fig9_block_scaling", caption, fig, (series,))


# --- throughput ---------------------------------------------------------------------------------


def _published_throughput(resolution: int) -> dict[str, Any]:
    """model -> first published row with throughput at `resolution` (Table 2 or 4)."""
    table = PUBLISHED_THROUGHPUT.get(resolution)
    out: dict[str, Any] = {}
    for r in ROWS:
        if r.table == table and r.resolution == resolution and r.throughput_it_s:
            out.setdefault(r.model, r)
    return out


def _display_name(name: str) -> str:
    """The paper's spelling (FCDM-S, DiT-XL/2) of a registered model, else the name itself."""
    from fcdmbench.errors import UnknownModelError
    from fcdmbench.registry import resolve

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
                      label="roofline bound (a model, not a measurement)")  # fmt: skip
            text += f"  ({value / bound[0]:.0%} of bound)"
        x = max(value, bound[0] if bound else 0.0)
        ax.text(x, y, text, va="center", fontsize=size)
        right = max(right, x)
    return right


def _bounds_caption(bounds: dict | None, resolution: int) -> str:
    where = sorted({w for (_, r), (_, w) in (bounds or {}).items() if r == resolution})
    if not where:
        return ""
    return (
        " Each published bar carries its roofline bound (red line: a model, not a "
        "measurement) on the device and setting fcdmbench audit finds most plausible "
        f"({'; '.join(where)})."
    )


def draw_throughput_published(bounds: dict | None = None) -> Drawn:
    plt = _pyplot()
    rows = list(_published_throughput(256).values())
    fig, ax = _figure(plt, 1, 1, 7.2, 0.26 * len(rows) + 1.6)
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
    _freeze_layout(fig)
    caption = (
        "Published throughput (Table 2, 256x256, 400K-iteration rows; batch 64, GPU and precision "
        "not stated). " + _sources_caption(["table2"]) + " No fcdmbench throughput records were "
        "given, so nothing measured is shown." + _bounds_caption(bounds, 256)
    )
    return Drawn("throughput_published", caption, fig, (1,))


def draw_throughput(m: Measurements, bounds: dict | None = None) -> list[Drawn]:
    """Throughput per resolution: a published panel and one panel per measured device.

    Each panel has its own linear axis (a CPU beside the paper's GPU is not one scale); within a
    device panel every (precision, batch, torch) series has its own bar, labelled in the legend.
    Without records: the published Table 2 chart. `bounds` ((model, resolution) -> (img/s,
    where), `fcdmbench.reporting.claims.published_bounds`) marks each published bar.
    """
    all_series = throughput_series(m)
    if not all_series:
        return [draw_throughput_published(bounds)]
    plt = _pyplot()
    labels = dict(zip(map(id, all_series), _series_labels(all_series), strict=True))
    out = []
    for resolution in sorted({s.resolution for s in all_series}):
        series = [s for s in all_series if s.resolution == resolution]
        published = _published_throughput(resolution)
        order = {name: i for i, name in enumerate(published)}
        models = sorted(
            dict.fromkeys(name for s in series for name in s.points),
            key=lambda name: (order.get(name, len(order)), name),
        )
        devices = list(dict.fromkeys(s.device_slug for s in series))
        show_published = any(name in published for name in models)
        panels: list[tuple[str, list]] = [("published", [])] if show_published else []
        panels += [(d, [s for s in series if s.device_slug == d]) for d in devices]
        widest = max(len(p[1]) for p in panels) or 1
        height = 0.22 * widest * len(models) + 0.2 * len(models) + 1.3 + 0.22 * len(series)
        fig, axes = _figure(
            plt,
            1,
            len(panels),
            1.3 + 3.1 * len(panels),
            max(height, 2.6),
            sharey=True,
            squeeze=False,
        )
        axes = axes[0]
        handles = []
        counts = []
        for ax, (panel, panel_series) in zip(axes, panels, strict=True):
            rows = panel_series or [None]
            bar_h = 0.8 / len(rows)
            top = 0.0
            for j, s in enumerate(rows):
                ys, values, errors, color = [], [], [], "0.65"
                for i, name in enumerate(models):
                    if s is None:
                        row = published.get(name)
                        value, err = (row.throughput_it_s, 0.0) if row else (None, 0.0)
                    else:
                        p = s.points.get(name)
                        value, err = (p.img_per_s, (p.iqr or 0.0) / 2) if p else (None, 0.0)
                        color = SERIES_COLORS[series.index(s) % len(SERIES_COLORS)]
                    if value is None:
                        continue
                    ys.append(i - 0.4 + bar_h * (j + 0.5))
                    values.append(value)
                    errors.append(err)
                    top = max(top, value + err)
                if s is not None:
                    color = SERIES_COLORS[series.index(s) % len(SERIES_COLORS)]
                bars = ax.barh(
                    ys,
                    values,
                    height=bar_h * 0.9,
                    xerr=errors if s is not None and any(errors) else None,
                    color=color,
                    hatch="//" if s is None else None,
                    edgecolor="0.3" if s is None else None,
                    error_kw={"ecolor": "k", "capsize": 2, "linewidth": 1},
                    label=labels[id(s)] if s is not None else "published (batch 64)",
                )
                handles.append(bars)
                if s is None:  # published: value, and the bound where the audit priced it
                    names = [n for n in models if n in published]
                    marks = [(y, v, (bounds or {}).get((n, resolution)))
                             for y, v, n in zip(ys, values, names, strict=True)]  # fmt: skip
                    top = max(top, _mark_bounds(ax, marks, bar_h * 0.9, 7.5))
                    lines = [c for c in ax.collections if c.get_label().startswith("roofline")]
                    handles += lines[:1]
                    continue
                for y, v, e in zip(ys, values, errors, strict=True):
                    ax.text(v + e, y, f" {_rate(v)}", va="center", fontsize=7.5)
            counts.append(len(rows))
            ax.set_xlim(0, top * 1.3 if top else 1)
            ax.set_title(
                f"published ({PUBLISHED_THROUGHPUT[resolution].replace('table', 'Table ')})"
                if panel == "published"
                else panel,
                fontsize=10,
            )
            ax.grid(alpha=0.3, axis="x")
            ax.set_xlabel("images/s per network evaluation", fontsize=9)
        axes[0].set_yticks(range(len(models)), [_display_name(name) for name in models])
        axes[0].set_ylim(len(models) - 0.5, -0.5)
        fig.suptitle(f"Throughput at {resolution}x{resolution}: published beside measured")
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=1,
            title="measured bars: median over timed blocks; whisker: IQR, centred on the median",
            title_fontsize=8.5,
        )
        _freeze_layout(fig)
        notes = []
        superseded = sum(s.superseded for s in series)
        if superseded:
            notes.append(
                f"{superseded} point(s) measured again in the same series were replaced by the "
                "record read last."
            )
        caption = (
            f"Throughput at {resolution}x{resolution} (images/s per network evaluation): "
            + (
                f"{PAPER} {PUBLISHED_THROUGHPUT[resolution].replace('table', 'Table ')} "
                "(batch 64, GPU and precision not stated) beside "
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
            "not share an axis. " + " ".join(notes) + _bounds_caption(bounds, resolution)
        ).strip()
        key = f"throughput_{resolution}px"
        out.append(Drawn(key, caption, fig, tuple(counts)))
    return out


# --- saving ---------------------------------------------------------------------------------------


def save(drawn: Drawn, out: Path) -> FigureResult:
    """Write `drawn` as ``<key>.png`` and ``<key>.svg`` under `out` (atomically) and close it."""
    from fcdmbench.files import atomic_output

    png, svg = out / f"{drawn.key}.png", out / f"{drawn.key}.svg"
    try:
        with atomic_output(png, make_parents=True) as tmp:
            drawn.figure.savefig(tmp, dpi=DPI, bbox_inches="tight", pad_inches=0.08)
        with atomic_output(svg, make_parents=True) as tmp:
            drawn.figure.savefig(tmp, bbox_inches="tight", pad_inches=0.08, metadata={"Date": None})
    finally:
        _pyplot().close(drawn.figure)
    return FigureResult(drawn.key, drawn.caption, png, svg, drawn.series_per_axes)


def draw_all(m: Measurements, bounds: dict | None = None) -> list[Drawn]:
    return [draw_fig2(m), draw_fig5(m), draw_fig6(m), draw_fig9(m), *draw_throughput(m, bounds)]


def build_figures(out: Path, m: Measurements, bounds: dict | None = None) -> list[FigureResult]:
    """All report figures into `out` (`bounds`: see `draw_throughput`)."""
    results = []
    drawn = draw_all(m, bounds)
    try:
        for d in drawn:
            results.append(save(d, out))
    finally:
        plt = _pyplot()
        for d in drawn:
            plt.close(d.figure)
    return results
