"""Report figures (matplotlib, Agg): the seed paper's Figures 2, 5, 6 and 9 from its published
rows, with measured points from records drawn on top, plus a throughput chart.

Published points are filled markers, exactly at the printed values; the caption names the table
they come from. A measured point is a hollow marker of its own shape, in a legend entry that says
what was measured and where ("measured (cpu-intel-xeon, fp32-strict, batch 4)"); a coordinate the
record does not hold (the FID of a throughput run) stays the published one, and the legend says
so. Records of different device, precision, batch or torch never merge: each is its own series.

One module per figure family (`fid_plots`: Figures 2, 5, 9; `fig6_plot`; `throughput_plot`), over
shared pieces (`plot_style`, `plot_points`, `plot_labels`). `build_figures` saves them all as PNG
(110 dpi) and SVG, deterministically. Units: GMACs (DiT convention), GFLOPs = 2 x GMACs,
zettaFLOPs = 1e21 FLOPs.
"""

from __future__ import annotations

from pathlib import Path

from fcdmbench.reporting.collect import Measurements
from fcdmbench.reporting.figures.fid_plots import draw_fig2, draw_fig5, draw_fig9
from fcdmbench.reporting.figures.fig6_plot import draw_fig6
from fcdmbench.reporting.figures.plot_style import Drawn, FigureResult, pyplot, save
from fcdmbench.reporting.figures.throughput_plot import Bounds, draw_throughput

__all__ = ["build_figures", "draw_all"]


def draw_all(m: Measurements, bounds: Bounds | None = None) -> list[Drawn]:
    """Every report figure, unsaved (`bounds`: see `draw_throughput`)."""
    return [draw_fig2(m), draw_fig5(m), draw_fig6(m), draw_fig9(m), *draw_throughput(m, bounds)]


def build_figures(out: Path, m: Measurements, bounds: Bounds | None = None) -> list[FigureResult]:
    """All report figures into `out` (`bounds`: see `draw_throughput`)."""
    results = []
    drawn = draw_all(m, bounds)
    try:
        for d in drawn:
            results.append(save(d, out))
    finally:
        plt = pyplot()
        for d in drawn:
            plt.close(d.figure)
    return results
