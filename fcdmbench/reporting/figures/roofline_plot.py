"""The roofline figure: one point per operator group (an operator in one module pattern, summed
over repeated blocks), placed at its arithmetic intensity and the FLOP/s it attains at the
bound, sized by its share of the predicted time; the device's roofs as lines. Operators with no
counted FLOPs (copies, adds, activations) have no place on a log intensity axis: a side panel
shows their summed share of the time per model, so the memory-bound time they carry stays
visible.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["plot_roofline"]

_COLORS = ("tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown")
_UNIT_STYLE = {
    "fp32-simt": ":",
    "tf32-tc": "--",
    "tf32x3-tc": (0, (5, 2, 1, 2)),
    "bf16-tc": "-",
    "fp16-tc": "-.",
    "cpu-fp32": "-",
}
_AREA = 2500  # marker area (pt^2) of an operator group taking all of the time


def plot_roofline(record, path: Path, make_parents: bool = False) -> Path:
    """Write the roofline figure of `record` (a `fcdmbench.records.RooflineRecord`) to `path`
    (.png, .svg or .pdf; the format follows the suffix)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from fcdmbench.files import atomic_output

    reports, device = record.results, record.device
    groups = [(i, r, g) for i, r in enumerate(reports) for g in r.ops]
    drawn = [(i, r, g) for i, r, g in groups if g.flops > 0 and g.time_s > 0]
    intensities = [g.intensity for _, _, g in drawn]
    x_lo = min(intensities, default=1.0) / 10
    x_hi = max(intensities, default=10.0) * 10
    y_lo = min((g.flops / g.time_s / 1e12 for _, _, g in drawn), default=1e-3) / 4
    y_hi = max(device.units_tflops.values()) * 3
    fig, (side, ax) = plt.subplots(
        1, 2, figsize=(10, 5.8), sharey=True, gridspec_kw={"width_ratios": [1, 9], "wspace": 0.03}
    )
    _draw_roofs(ax, device, sorted({o.unit for r in reports for o in r.ops}), x_lo, x_hi)
    for index, report, group in drawn:
        ax.scatter(
            [group.intensity],
            [group.flops / group.time_s / 1e12],
            s=12 + _AREA * group.time_s / report.time_s,
            color=_COLORS[index % len(_COLORS)],
            alpha=0.45,
            edgecolors="black",
            linewidths=0.4,
        )
    for index, report in enumerate(reports):
        color = _COLORS[index % len(_COLORS)]
        zero = sum(o.time_s for o in report.ops if o.flops == 0) / (report.time_s or 1.0)
        y = y_lo * 10 * 8.0**index
        side.scatter([0], [y], s=12 + _AREA * zero, color=color, alpha=0.45, marker="s")
        side.annotate(f"{zero:.0%}", (0, y), ha="center", va="center", fontsize=8)
        ax.scatter(
            [],
            [],
            color=color,
            alpha=0.6,
            label=f"{report.display_name}: {report.img_per_s:,.0f} img/s bound, "
            f"{report.memory_bound_share:.0%} of time memory-bound ({zero:.0%} in 0-FLOP ops)",
        )
    side.set_xlim(-1, 1)
    side.set_xticks([])
    side.set_xlabel("0-FLOP ops\n(time share)", fontsize=8)
    side.set_ylabel("attained TFLOP/s at the bound")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_xlabel("arithmetic intensity (FLOP per byte, unfused)")
    first = reports[0]
    ax.set_title(
        f"Roofline model on {device.name}, {first.precision}, batch {first.batch}, "
        f"{first.resolution} px\npredicted upper bound (a model, not a measurement); "
        "point area = share of predicted time",
        fontsize=10,
    )
    ax.grid(True, which="major", alpha=0.25)
    ax.legend(loc="lower right", fontsize=7.5, framealpha=0.9)
    path = Path(path)
    with atomic_output(path, make_parents=make_parents) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def _draw_roofs(ax, device, units: list[str], x_lo: float, x_hi: float) -> None:
    """One roof per compute unit: the memory slope up to its ridge point, then its peak."""
    bandwidth = device.bandwidth_gbs * 1e9
    for unit in units:
        peak = device.units_tflops[unit] * 1e12
        ridge = peak / bandwidth
        xs = [x_lo, ridge, x_hi]
        ax.plot(
            xs,
            [min(peak, bandwidth * x) / 1e12 for x in xs],
            linestyle=_UNIT_STYLE.get(unit, "-"),
            color="0.35",
            lw=1.2,
            label=f"roof {unit}: {device.units_tflops[unit]:g} TFLOP/s, ridge {ridge:.0f} FLOP/B",
        )
