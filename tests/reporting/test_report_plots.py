"""Report figures: what they contain, and that a researcher can read them.

Records come from the real commands (`fcdmbench flops`, `fcdmbench throughput --device cpu`) run
once per module with tiny settings; the figure checks are geometric (text bounding boxes against
each other, the axes and the figure; legends against data points), so a layout regression fails.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fcdmbench.cli.main import app
from fcdmbench.paper_tables import ROWS
from fcdmbench.records.io import read_record
from fcdmbench.reporting.collect import (
    EvalPoint,
    Measurements,
    RecordSet,
    ThroughputPoint,
    load_records,
)
from fcdmbench.reporting.figures.fid_plots import draw_fig2, draw_fig5
from fcdmbench.reporting.figures.fig6_plot import ARCH_CLASS, draw_fig6, training_zettaflops
from fcdmbench.reporting.figures.plot_points import series_labels, throughput_series
from fcdmbench.reporting.figures.plot_style import MAX_WIDTH_IN, Drawn, pyplot, save
from fcdmbench.reporting.figures.plots import build_figures, draw_all
from fcdmbench.reporting.figures.throughput_plot import draw_throughput

TINY = [
    "--device",
    "cpu",
    "--warmup-calls",
    "1",
    "--warmup-s",
    "0",
    "--blocks",
    "2",
    "--min-block-s",
    "0",
    "--pause-s",
    "0",
    "--ref",
    "none",
    "--fcdm-checkpointing",
    "off",
]


@pytest.fixture(scope="module")
def real_records(tmp_path_factory) -> Path:
    """flops of fcdm-s and dit-s-2, and fcdm-s throughput on this CPU at batch 1 and 2."""
    import torch

    folder = tmp_path_factory.mktemp("records")
    runner = CliRunner()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        commands = [
            ["flops", "--models", "fcdm-s", "dit-s-2", "--json", str(folder / "flops.json")],
            ["throughput", "--models", "fcdm-s", "--batch", "1", *TINY],
            ["throughput", "--models", "fcdm-s", "--batch", "2", *TINY],
        ]
        commands[1] += ["--out", str(folder / "tp_b1.json")]
        commands[2] += ["--out", str(folder / "tp_b2.json")]
        for command in commands:
            result = runner.invoke(app, command)
            assert result.exit_code == 0, result.output
    finally:
        torch.set_num_threads(threads)
    return folder


@pytest.fixture(scope="module")
def measured(real_records) -> Measurements:
    warnings: list[str] = []
    m = Measurements(load_records([real_records], warn=warnings.append))
    assert warnings == []
    return m


#: Neutral values for the fields of a point type that a test does not set.
_NEUTRAL = {
    "key": None,
    "variant": (),
    "batch_requested": None,
    "mode": "infer",
    "cfg": False,
    "device_type": "cuda",
    "num_samples": 50_000,
    "is_paper_protocol": True,
    "ms_per_forward": None,
    "peak_mem_gb": None,
    "peak_mem_gib": None,
    "sfid": None,
    "inception_score": None,
    "precision": None,
    "recall": None,
}


def _build(cls, **values):
    """`cls(**values)`, other fields from `_NEUTRAL` (a field with neither fails loudly)."""
    import dataclasses

    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in values:
            kwargs[f.name] = values[f.name]
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            kwargs[f.name] = values.get("model") if f.name == "key" else _NEUTRAL[f.name]
    return cls(**kwargs)


def _point(model, value, slug="h100-80gb-hbm3", precision="bf16", batch=64, torch="2.13.0"):
    return _build(
        ThroughputPoint,
        model=model,
        resolution=256,
        batch=batch,
        precision=precision,
        device_slug=slug,
        device_name=slug,
        device_type="cpu" if slug.startswith("cpu") else "cuda",
        torch=torch,
        img_per_s=value,
        iqr=value / 50,
        source="t.json",
    )


def _eval(model, fid, steps, cfg=1.0, paper_protocol=True):
    return _build(
        EvalPoint,
        model=model,
        resolution=256,
        fid=fid,
        cfg_scale=cfg,
        training_steps=steps,
        sampling_steps=250,
        is_paper_protocol=paper_protocol,
        on="eval gpu",
        source="e.json",
    )


@pytest.fixture
def synthetic() -> Measurements:
    """Typed points as the plots receive them, for cases no CPU test can run (XL models, GPUs)."""
    records = RecordSet(
        throughput=[
            _point("fcdm-xl", 300.0),
            _point("dit-xl-2", 110.0),
            _point("fcdm-xl", 0.9, slug="cpu-intel-xeon", precision="fp32-strict", batch=2),
            _point("dit-xl-2", 0.4, slug="cpu-intel-xeon", precision="fp32-strict", batch=2),
        ],
        evals=[_eval("fcdm-s", 50.0, 400_000), _eval("fcdm-xl", 2.1, 2_000_000, cfg=1.5)],
    )
    return Measurements(records)


# --- readability checks, shared ----------------------------------------------------------------


def _texts(fig):
    """(what, box) for every visible text; a legend is one box (its entries are inside it)."""
    renderer = fig.canvas.get_renderer()
    out = []

    def add(text, what):
        if text is not None and text.get_visible() and text.get_text().strip():
            out.append((f"{what}: {text.get_text()!r}", text.get_window_extent(renderer)))

    for text in fig.texts:
        add(text, "figure text")
    for ax in fig.axes:
        for title in (ax.title, ax._left_title, ax._right_title):
            add(title, "title")
        add(ax.xaxis.label, "xlabel")
        add(ax.yaxis.label, "ylabel")
        for label in _drawn_tick_labels(ax.xaxis) + _drawn_tick_labels(ax.yaxis):
            add(label, "tick")
        for text in ax.texts:
            add(text, "text")
    for legend in _legends(fig):
        out.append(("legend", legend.get_window_extent(renderer)))
    return out


def _drawn_tick_labels(axis) -> list:
    """Tick labels inside the axis' view interval (the locator also returns some beyond it,
    which matplotlib does not draw)."""
    low, high = sorted(axis.get_view_interval())
    ticks = axis.get_major_ticks(len(axis.get_majorticklocs())) + axis.get_minor_ticks(
        len(axis.get_minorticklocs())
    )
    return [
        label
        for tick in ticks
        if low <= tick.get_loc() <= high
        for label in (tick.label1, tick.label2)
        if label.get_visible()
    ]


def _legends(fig):
    return [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]


def _data_points(fig):
    """Display coordinates of every marker drawn in the figure."""
    import numpy as np

    points = []
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_marker() not in (None, "None", "none", "") and len(line.get_xdata()):
                xy = np.column_stack(line.get_data()).astype(float)
                points += [tuple(p) for p in ax.transData.transform(xy)]
        for collection in ax.collections:
            offsets = collection.get_offsets()
            points += [tuple(p) for p in collection.get_offset_transform().transform(offsets)]
    return points


def _overlap(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def readability_problems(fig) -> list[str]:
    """Overlapping or clipped texts, labels off their axes, legends or labels over data."""
    renderer = fig.canvas.get_renderer()
    problems = []
    texts = _texts(fig)
    frame = fig.bbox
    for what, box in texts:
        if box.x0 < frame.x0 - 1 or box.y0 < frame.y0 - 1 or box.x1 > frame.x1 + 1:
            problems.append(f"{what} leaves the figure")
        elif box.y1 > frame.y1 + 1:
            problems.append(f"{what} leaves the figure")
    for i, (what_a, a) in enumerate(texts):
        for what_b, b in texts[i + 1 :]:
            if _overlap(a, b) > 1.0:  # px^2: touching is fine, covering is not
                problems.append(f"{what_a} overlaps {what_b}")
    for ax in fig.axes:
        inner = ax.get_window_extent(renderer)
        for text in ax.texts:
            box = text.get_window_extent(renderer)
            if _overlap(box, inner) < box.width * box.height - 1.0:
                problems.append(f"label {text.get_text()!r} is clipped by its axes")
    points = _data_points(fig)
    for legend in _legends(fig):
        box = legend.get_window_extent(renderer)
        hidden = [p for p in points if box.x0 < p[0] < box.x1 and box.y0 < p[1] < box.y1]
        if hidden:
            problems.append(f"legend covers {len(hidden)} data point(s)")
    for ax in fig.axes:
        for text in ax.texts:
            if not hasattr(text, "xyann"):  # value labels beside bars are not point labels
                continue
            box = text.get_window_extent(renderer)
            if any(box.x0 < x < box.x1 and box.y0 < y < box.y1 for x, y in points):
                problems.append(f"label {text.get_text()!r} covers a data point")
    return problems


def _labelled_ticks(axis) -> list[str]:
    return [t.get_text() for t in _drawn_tick_labels(axis) if t.get_text().strip()]


def _close(drawn):
    for d in drawn if isinstance(drawn, list) else [drawn]:
        pyplot().close(d.figure)


def _all(m: Measurements) -> dict[str, Drawn]:
    return {d.key: d for d in draw_all(m)}


# --- tests -------------------------------------------------------------------------------------


def test_overlap_check_can_fail():
    """Negative control: the checker sees overlapping, clipped and covering texts."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1], "o")
    ax.annotate("A long label here", (0.5, 0.5))
    ax.annotate("A long label too", (0.5, 0.5))
    ax.annotate("off the edge", (1.0, 1.0), xytext=(20, 20), textcoords="offset points")
    ax.legend(["points"], loc="lower left")
    fig.canvas.draw()
    problems = "\n".join(readability_problems(fig))
    plt.close(fig)
    assert "overlaps" in problems
    assert "clipped by its axes" in problems
    assert "legend covers" in problems


@pytest.mark.parametrize("which", ["published", "measured", "synthetic"])
def test_every_figure_is_readable(which, request):
    m = Measurements() if which == "published" else request.getfixturevalue(which)
    drawn = _all(m)
    try:
        for key, d in drawn.items():
            assert readability_problems(d.figure) == [], key
            width, _ = d.figure.get_size_inches()
            assert width <= MAX_WIDTH_IN, key  # shown unscaled in the 1200 px HTML page
    finally:
        _close(list(drawn.values()))


def test_log_axes_have_readable_tick_labels():
    drawn = _all(Measurements())
    try:
        fig6_left = drawn["fig6_fid_vs_cost_and_throughput"].figure.axes[0]
        assert _labelled_ticks(fig6_left.xaxis) == ["0.2", "0.5", "1", "2"]
        assert _labelled_ticks(drawn["fig9_block_scaling"].figure.axes[0].xaxis) == [
            "5",
            "10",
            "20",
            "50",
        ]
        assert len(_labelled_ticks(drawn["fig2_fid_vs_gmacs"].figure.axes[0].xaxis)) >= 4
    finally:
        _close(list(drawn.values()))


def test_fig2_published_points_exact_one_marker_size_and_labels(measured, real_records):
    d = draw_fig2(measured)
    try:
        ax = d.figure.axes[0]
        lines = {line.get_label(): line for line in ax.get_lines() if not line.get_gid()}
        fcdm = lines["FCDM (published, Table 2)"]
        table2 = {(r.model, r.training_steps): r for r in ROWS if r.table == "table2"}
        expected = [table2[(name, 400_000)] for name in ("fcdm-s", "fcdm-b", "fcdm-l", "fcdm-xl")]
        assert list(fcdm.get_xdata()) == [r.gmacs for r in expected]
        assert list(fcdm.get_ydata()) == [r.fid for r in expected]
        assert len(ax.collections) == 0  # no bubbles: GMACs is the x position, not also the area
        assert sorted(t.get_text() for t in ax.texts) == sorted(
            r.label
            for r in ROWS
            if r.table == "table2"
            and r.training_steps == 400_000
            and r.model
            in {
                "fcdm-s",
                "fcdm-b",
                "fcdm-l",
                "fcdm-xl",
                "dit-s-2",
                "dit-b-2",
                "dit-l-2",
                "dit-xl-2",
            }
        )
        # Measured: the flops record's GMACs, hollow, at the published FID, named as such.
        gmacs = {r.model: r.gmacs for r in read_record(real_records / "flops.json").results}
        measured_line = lines["measured GMACs (flops record); FID as published"]
        assert measured_line.get_markerfacecolor() == "none"
        assert sorted(measured_line.get_xdata()) == pytest.approx(sorted(gmacs.values()))
        assert sorted(measured_line.get_ydata()) == sorted(
            [table2[("fcdm-s", 400_000)].fid, table2[("dit-s-2", 400_000)].fid]
        )
        assert d.series_per_axes == (3,)
    finally:
        _close(d)


def test_throughput_batches_never_merge_and_bars_equal_the_records(measured, real_records):
    """A batch-1 and a batch-2 run of one model are two bars, each the record's median."""
    [d] = draw_throughput(measured)
    try:
        assert d.key == "throughput_256px"
        published_ax, cpu_ax = d.figure.axes
        assert d.series_per_axes == (1, 2)
        containers = {c.get_label(): c for c in cpu_ax.containers}
        for batch in (1, 2):
            record = read_record(real_records / f"tp_b{batch}.json")
            slug = record.env.device_slug
            label = f"measured ({slug}, paper-default, batch {batch})"
            assert label in containers, list(containers)
            [bar] = containers[label].patches
            assert bar.get_width() == record.median_img_per_s("fcdm-s")
            assert label in d.caption
        assert cpu_ax.get_title() == slug
        # The published panel shows Table 2's value, exactly, hatched and named.
        [published] = published_ax.containers
        assert published.get_label() == "published (batch 64)"
        fcdm_s = next(r for r in ROWS if r.table == "table2" and r.model == "fcdm-s")
        assert [p.get_width() for p in published.patches] == [fcdm_s.throughput_it_s]
        assert "Table 2" in d.caption and "GPU and precision not stated" in d.caption
        legend_texts = [t.get_text() for t in d.figure.legends[0].get_texts()]
        assert len(legend_texts) == 3
    finally:
        _close(d)


def test_series_split_by_device_precision_batch_and_torch():
    records = RecordSet(
        throughput=[
            _point("fcdm-s", 1.0),
            _point("fcdm-s", 2.0, batch=4),
            _point("fcdm-s", 3.0, precision="tf32"),
            _point("fcdm-s", 4.0, slug="a100-sxm4-80gb"),
            _point("fcdm-s", 5.0, torch="2.12.0"),
            _point("fcdm-s", 6.0, torch="2.12.0"),  # same series again: the later one is shown
        ]
    )
    series = throughput_series(Measurements(records))
    assert len(series) == 5
    assert sorted(s.points["fcdm-s"].img_per_s for s in series) == [1.0, 2.0, 3.0, 4.0, 6.0]
    assert sum(s.superseded for s in series) == 1
    labels = series_labels(series)
    assert len(set(labels)) == len(labels)
    assert "measured (h100-80gb-hbm3, bf16, batch 64, torch 2.12.0)" in labels
    assert "measured (h100-80gb-hbm3, bf16, batch 4)" in labels
    [d] = draw_throughput(Measurements(records))
    try:
        assert [ax.get_title() for ax in d.figure.axes] == [
            "published (Table 2)",
            "a100-sxm4-80gb",
            "h100-80gb-hbm3",
        ]
        assert d.series_per_axes == (1, 1, 4)
        assert "replaced by the record read last" in d.caption
    finally:
        _close(d)


def test_fig6_measured_throughput_and_eval_are_marked_apart(synthetic):
    d = draw_fig6(synthetic)
    try:
        left, right = d.figure.axes
        labels = [t.get_text() for t in d.figure.legends[0].get_texts()]
        assert "measured (h100-80gb-hbm3, bf16, batch 64); FID as published" in labels
        assert "measured (cpu-intel-xeon, fp32-strict, batch 2); FID as published" in labels
        assert "measured FID (eval gpu, 250 sampling steps, cfg 1.5)" in labels
        assert right.get_xscale() == "log"  # 0.4 img/s beside 272.7 needs it
        gpu = next(
            line for line in right.get_lines() if line.get_label().startswith("measured (h100")
        )
        assert sorted(gpu.get_xdata()) == [110.0, 300.0]
        assert gpu.get_markerfacecolor() == "none"
        assert d.series_per_axes == (4, 5)  # 3 classes + eval; 2 classes + 2 devices + eval
    finally:
        _close(d)
    d = draw_fig6(Measurements())
    try:
        assert d.figure.axes[1].get_xscale() == "linear"
        assert d.series_per_axes == (3, 2)
        assert "ADM-U" in d.caption and "LDM-4" in d.caption  # named: no published throughput
    finally:
        _close(d)


def test_fig5_eval_points_and_shared_legend(synthetic):
    d = draw_fig5(synthetic)
    try:
        assert d.series_per_axes == (3, 2, 2, 2)
        s_axes = d.figure.axes[0]
        [measured] = [line for line in s_axes.get_lines() if line.get_markerfacecolor() == "none"]
        assert list(measured.get_xdata()) == [400.0] and list(measured.get_ydata()) == [50.0]
        labels = [t.get_text() for t in d.figure.legends[0].get_texts()]
        assert labels == [
            "FCDM (published, Table 7)",
            "DiT-*/2 at 400K (published, Table 2)",
            "measured FID (eval gpu, 250 sampling steps)",
        ]
    finally:
        _close(d)


def test_files_are_valid_and_deterministic(tmp_path, synthetic):
    first = build_figures(tmp_path / "a", synthetic)
    # Determinism: the labelled figure (label placement) and the throughput chart, drawn again.
    second = [save(draw_fig6(synthetic), tmp_path / "b")]
    second += [save(d, tmp_path / "b") for d in draw_throughput(synthetic)]
    assert [f.key for f in first] == [
        "fig2_fid_vs_gmacs",
        "fig5_fid_vs_iterations",
        "fig6_fid_vs_cost_and_throughput",
        "fig9_block_scaling",
        "throughput_256px",
    ]
    again = {f.key: f for f in second}
    assert set(again) == {"fig6_fid_vs_cost_and_throughput", "throughput_256px"}
    for a in first:
        assert a.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if a.key in again:
            assert a.png.read_bytes() == again[a.key].png.read_bytes(), a.key
            assert a.svg.read_bytes() == again[a.key].svg.read_bytes(), a.key
        root = ET.parse(a.svg).getroot()
        assert root.tag.endswith("svg")
        assert "Published values as printed" in a.caption or a.key == "throughput_256px"
    svg_text = first[0].svg.read_text()
    assert "FCDM-XL" in svg_text and "measured FID" in svg_text  # text stays text
    assert list(tmp_path.glob("*/.*tmp*")) == []


def test_throughput_without_records_is_labelled_published():
    drawn = draw_throughput(Measurements())
    try:
        assert [d.key for d in drawn] == ["throughput_published"]
        assert "nothing measured" in drawn[0].figure.axes[0].get_title()
    finally:
        _close(drawn)


def test_training_cost_convention():
    # DiT-XL/2, 1400 epochs, 118.6 GMACs: 1400 * 1,281,167 * 3 * 237.2 GFLOPs = 1.276 ZFLOPs
    assert abs(training_zettaflops(118.6, 1400) - 1.2763) < 1e-3


def test_figure6_models_all_exist_in_table3():
    """A renamed paper-table row must not silently drop out of Figure 6."""
    table3 = {r.model for r in ROWS if r.table == "table3"}
    assert set(ARCH_CLASS) <= table3, sorted(set(ARCH_CLASS) - table3)


def test_off_protocol_evals_stay_off_fid50k_axes():
    smoke = _eval("fcdm-s", 380.0, 400_000, paper_protocol=False)
    d = draw_fig2(Measurements(RecordSet(evals=[smoke])))
    try:
        assert d.series_per_axes == (2,)
        assert "Not drawn: 1 eval record(s) not at the paper's protocol" in d.caption
    finally:
        _close(d)


def test_cfg_throughput_is_its_own_series():
    import dataclasses

    plain = _point("fcdm-s", 100.0)
    guided = dataclasses.replace(plain, cfg=True, img_per_s=60.0)
    series = throughput_series(Measurements(RecordSet(throughput=[plain, guided])))
    assert [s.label() for s in series] == [
        "measured (h100-80gb-hbm3, bf16, batch 64)",
        "measured (h100-80gb-hbm3, bf16, batch 64, with cfg)",
    ]
