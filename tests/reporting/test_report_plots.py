"""Every figure is written (PNG + SVG, non-empty) with the expected number of series."""

from __future__ import annotations

from fcdmbench.reporting.collect import Measurements
from fcdmbench.reporting.plots import build_figures, training_zettaflops


def test_figures_with_records(tmp_path, measurements):
    figures = {f.key: f for f in build_figures(tmp_path, measurements)}
    assert set(figures) == {
        "fig2_fid_vs_gmacs",
        "fig5_fid_vs_iterations",
        "fig6_fid_vs_cost_and_throughput",
        "fig9_block_scaling",
        "throughput_synthetic-gpu_bf16_256",
        "throughput_synthetic-gpu_tf32_256",
    }
    for figure in figures.values():
        assert figure.png.stat().st_size > 5_000 and figure.svg.stat().st_size > 5_000
        assert figure.png.read_bytes()[:4] == b"\x89PNG"
    assert figures["fig2_fid_vs_gmacs"].series_per_axes == (2,)
    assert figures["fig5_fid_vs_iterations"].series_per_axes == (2, 2, 2, 3)  # XL: + eval record
    assert figures["fig6_fid_vs_cost_and_throughput"].series_per_axes == (3, 2)
    assert figures["fig9_block_scaling"].series_per_axes == (3,)


def test_throughput_without_records_is_labelled_published(tmp_path):
    figures = build_figures(tmp_path, Measurements())
    assert figures[-1].key == "throughput_published"


def test_training_cost_convention():
    # DiT-XL/2, 1400 epochs, 118.6 GMACs: 1400 * 1,281,167 * 3 * 237.2 GFLOPs = 1.276 ZFLOPs
    assert abs(training_zettaflops(118.6, 1400) - 1.2763) < 1e-3


def test_figure6_models_all_exist_in_table3():
    """A renamed paper-table row must not silently drop out of Figure 6."""
    from fcdmbench.paper_tables import ROWS
    from fcdmbench.reporting.plots import ARCH_CLASS

    table3 = {r.model for r in ROWS if r.table == "table3"}
    assert set(ARCH_CLASS) <= table3, sorted(set(ARCH_CLASS) - table3)
