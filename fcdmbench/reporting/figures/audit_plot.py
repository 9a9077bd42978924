"""The audit figure: published throughput / roofline bound for every printed figure (rows, grouped
by table) under every setting (columns), on each table's most plausible device. A cell above
100 % is a figure that cannot be true there; the bound is a model, not a measurement."""

from __future__ import annotations

from pathlib import Path

__all__ = ["plot_audit"]

_VMAX = 1.25  # fractions above this share the darkest red


def _rows(record) -> list[tuple[str, list[float | None], str]]:
    """(label, fraction per setting, table) for every modelled figure, tables in order."""
    rows = []
    for table in record.tables:
        plausible = record.plausible_for(table)
        if plausible is None:
            continue
        for f in record.figures:
            if f.table != table or not f.modelled:
                continue
            label = f"{f.label} {f.resolution}px" if f.resolution != 256 else f.label
            values = [
                b.fraction if (b := f.bound(plausible.device, s.key)) else None
                for s in record.settings
            ]
            rows.append((label, values, table))
    return rows


def plot_audit(record, path: Path, make_parents: bool = False) -> Path:
    """Write the audit heatmap of `record` (a `fcdmbench.records.audit.AuditRecord`) to `path`
    (.png, .svg or .pdf)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import numpy as np

    from fcdmbench.files import atomic_output

    rows = _rows(record)
    data = np.array([[np.nan if v is None else v for v in r[1]] for r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(3.2 + 1.2 * len(record.settings), 1.8 + 0.24 * len(rows)))
    cmap = matplotlib.colormaps["RdYlGn_r"].with_extremes(bad="0.85")
    image = ax.imshow(np.minimum(data, _VMAX), cmap=cmap, vmin=0.0, vmax=_VMAX, aspect="auto")
    for i, j in np.ndindex(data.shape):
        value = data[i, j]
        text = "n/a" if np.isnan(value) else f"{value:.0%}"
        if 0.995 <= value < 1.005:
            text = f"{value:.1%}"  # never "100%" for a figure above its bound
        weight = "bold" if not np.isnan(value) and value > 1.0 else "normal"
        ax.text(j, i, text, ha="center", va="center", fontsize=7, fontweight=weight)
    ax.set_xticks(range(len(record.settings)))
    ax.set_xticklabels([s.key for s in record.settings], fontsize=8)
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in rows], fontsize=7)
    starts = [i for i, r in enumerate(rows) if i == 0 or rows[i - 1][2] != r[2]]
    for i in starts:
        table = rows[i][2]
        device = record.plausible_for(table).device
        if i:
            ax.axhline(i - 0.5, color="black", lw=1.2)
        ax.text(len(record.settings) - 0.45, i - 0.45, f"{table.replace('table', 'Table ')} on "
                f"{device}", ha="left", va="top", fontsize=7.5, fontweight="bold")  # fmt: skip
    bar = fig.colorbar(image, ax=ax, orientation="horizontal", fraction=0.025, pad=0.02)
    bar.set_label("published / bound (above 100 %: cannot be true)", fontsize=8)
    ax.set_title(
        "Published throughput / roofline upper bound, batch "
        f"{record.batch}\n(bound = a model, not a measurement; each table on its most "
        "plausible device)",
        fontsize=9,
        pad=28,
    )
    path = Path(path)
    with atomic_output(path, make_parents=make_parents) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
