"""Where a point's text label goes: beside its point, clear of markers, lines, other labels and
the legend, and nearer its own point than any other (so it cannot be read as another point's).
Deterministic: the same figure always gets the same placement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["place_labels"]

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


def place_labels(
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
