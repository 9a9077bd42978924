"""The report's published throughput bars carry their roofline bounds: the audit's output (its
most plausible device and setting), fed into the figure, one marker per bar at the bound."""

from __future__ import annotations

import pytest

from fcdmbench.perfmodel.audit import AuditConfig, run_audit
from fcdmbench.reporting.claims import published_bounds
from fcdmbench.reporting.collect import Measurements
from fcdmbench.reporting.figures import plot_points, plot_style, throughput_plot


@pytest.fixture(scope="module")
def bounds():
    audit = run_audit(AuditConfig(tables=("table2",), devices=("a100-80gb-sxm", "h100-sxm")))
    return published_bounds(audit)


def _markers(figure) -> dict[float, float]:
    """y -> x of every bound marker in the figure's axes."""
    out = {}
    for ax in figure.axes:
        for collection in ax.collections:
            if collection.get_label().startswith("roofline bound"):
                for (x0, y0), (_, y1) in collection.get_segments():
                    out[round((y0 + y1) / 2, 6)] = x0
    return out


def test_every_published_bar_marked_at_its_bound(bounds):
    drawn = throughput_plot.draw_throughput_published(bounds)
    try:
        rows = list(plot_points.published_throughput(256).values())
        marks = _markers(drawn.figure)
        assert len(marks) == len(rows) == 20
        for i, row in enumerate(rows):
            assert marks[float(i)] == pytest.approx(bounds[(row.model, 256)][0])
        texts = [t.get_text() for t in drawn.figure.axes[0].texts]
        assert sum("of bound)" in t for t in texts) == 20
        assert "most plausible (a100-80gb-sxm, paper setting)" in drawn.caption
    finally:
        plot_style.pyplot().close(drawn.figure)


def test_published_panel_beside_records_is_marked(bounds, measurements):
    drawn = throughput_plot.draw_throughput(measurements, bounds)
    try:
        (panel,) = [d for d in drawn if d.key == "throughput_256px"]
        assert len(_markers(panel.figure)) == len(
            {name for s in plot_points.throughput_series(measurements) for name in s.points}
            & set(plot_points.published_throughput(256))
        )
        assert "roofline bound" in panel.caption
    finally:
        for d in drawn:
            plot_style.pyplot().close(d.figure)


def test_no_bounds_no_markers():
    drawn = throughput_plot.draw_throughput(Measurements())
    try:
        assert _markers(drawn[0].figure) == {}
        assert "roofline bound" not in drawn[0].caption
    finally:
        plot_style.pyplot().close(drawn[0].figure)
