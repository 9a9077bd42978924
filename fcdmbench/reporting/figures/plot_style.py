"""What every report figure shares: the matplotlib set-up (Agg, fonts, deterministic SVG), the
figure size cap, the measured-point style, captions naming the published source, and saving.

Every ``draw_*`` function of the figure modules returns a `Drawn` (the open figure, for tests to
inspect); `save` writes it as PNG (110 dpi) and SVG, deterministically (fixed ``svg.hashsalt``, no
dates).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcdmbench.files import atomic_output

__all__ = [
    "DPI",
    "MAX_WIDTH_IN",
    "MEASURED_MARKERS",
    "PAPER",
    "SERIES_COLORS",
    "Drawn",
    "FigureResult",
    "connector",
    "figure_legend",
    "freeze_layout",
    "measured_style",
    "new_figure",
    "pyplot",
    "readable_log_axis",
    "save",
    "sources_caption",
]

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


def pyplot():
    """matplotlib.pyplot on the Agg backend with the report's fonts and deterministic SVG."""
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


def new_figure(plt, nrows: int, ncols: int, width: float, height: float, **kw):
    """(figure, axes) with constrained layout, no wider than `MAX_WIDTH_IN`."""
    return plt.subplots(
        nrows, ncols, figsize=(min(width, MAX_WIDTH_IN), height), layout="constrained", **kw
    )


def freeze_layout(fig) -> Any:
    """Run the constrained layout once and fix it, so labels can be placed in display space."""
    fig.canvas.draw()
    fig.set_layout_engine("none")
    return fig.canvas.get_renderer()


def readable_log_axis(axis) -> None:
    """Log axis with labelled ticks at 1, 2, 5 x 10^k printed plainly (0.2, 5, 50), no minor
    labels: matplotlib's default prints one label per decade, or colliding 3x10^0 minors."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(LogLocator(base=10, subs=(3.0, 4.0, 6.0, 7.0, 8.0, 9.0)))
    axis.set_minor_formatter(NullFormatter())


def measured_style(color: str, marker: str) -> dict:
    """Keyword arguments of `Axes.plot` for measured points: hollow `marker`, no line."""
    return {
        "marker": marker,
        "markersize": 8,
        "markerfacecolor": "none",
        "markeredgecolor": color,
        "markeredgewidth": 1.8,
        "linestyle": "none",
        "zorder": 4,
    }


def connector(ax, start: tuple[float, float], end: tuple[float, float], color: str) -> None:
    """Dotted line from a published point to its measured counterpart."""
    if start != end:
        ax.plot(
            *zip(start, end, strict=True), ":", color=color, linewidth=1, zorder=3, gid="connector"
        )


def figure_legend(fig, handles: dict[str, Any]) -> None:
    """One legend (label -> handle) under all panels: a row of up to three, else two columns."""
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="outside lower center",
        ncols=len(handles) if len(handles) <= 3 else 2,
    )


def sources_caption(tables: Iterable[str]) -> str:
    names = sorted({t.replace("table", "Table ") for t in tables}, key=lambda s: int(s.split()[1]))
    return f"Published values as printed in the {PAPER}, {', '.join(names)}."


def save(drawn: Drawn, out: Path) -> FigureResult:
    """Write `drawn` as ``<key>.png`` and ``<key>.svg`` under `out` (atomically) and close it."""
    png, svg = out / f"{drawn.key}.png", out / f"{drawn.key}.svg"
    try:
        with atomic_output(png, make_parents=True) as tmp:
            drawn.figure.savefig(tmp, dpi=DPI, bbox_inches="tight", pad_inches=0.08)
        with atomic_output(svg, make_parents=True) as tmp:
            drawn.figure.savefig(tmp, bbox_inches="tight", pad_inches=0.08, metadata={"Date": None})
    finally:
        pyplot().close(drawn.figure)
    return FigureResult(drawn.key, drawn.caption, png, svg, drawn.series_per_axes)
