"""Charts for the console, drawn on the server as inline SVG (no script, no CDN).

Pure functions of their numbers: a column chart (calls per hour) and a stacked bar
chart (pool utilisation). Every label goes through :func:`markupsafe.escape`; every
bar carries a ``<title>`` so hovering it tells its exact value, and the chart as a whole
an ``aria-label`` summary for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

AXIS = "#6b7280"
GRID = "#e5e7eb"
COLOURS = {"in_use": "#2563eb", "free": "#93c5fd", "draining": "#f59e0b", "bar": "#2563eb"}


def nice_ceiling(value: float) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def column_chart(
    points: Sequence[tuple[str, int]],
    *,
    title: str,
    width: int = 720,
    height: int = 200,
    every: int = 3,
) -> Markup:
    """Columns for ``(label, value)`` points; every ``every``-th label is written."""
    left, right, top, bottom = 36, 8, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = nice_ceiling(max((v for _, v in points), default=0))
    n = max(1, len(points))
    slot = plot_w / n
    bar = max(1.0, slot * 0.7)
    total = sum(v for _, v in points)
    most = max((v for _, v in points), default=0)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}: {total} in all, at most {most} in one">'
    ]
    for tick in (0, peak / 2, peak):
        y = top + plot_h - plot_h * tick / peak
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_fmt(y)}" y2="{_fmt(y)}" '
            f'stroke="{GRID}"/>'
            f'<text x="{left - 4}" y="{_fmt(y + 4)}" text-anchor="end" font-size="11" '
            f'fill="{AXIS}">{_fmt(tick)}</text>'
        )
    for i, (label, value) in enumerate(points):
        h = plot_h * value / peak
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h - h
        parts.append(
            f'<rect class="bar" x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(bar)}" '
            f'height="{_fmt(h)}" fill="{COLOURS["bar"]}" data-value="{value}">'
            f"<title>{escape(label)}: {value}</title></rect>"
        )
        if i % every == 0:
            parts.append(
                f'<text x="{_fmt(x + bar / 2)}" y="{height - 6}" text-anchor="middle" '
                f'font-size="11" fill="{AXIS}">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Stack:
    """One bar of a stacked chart: a label and its segments ``(kind, value)``."""

    label: str
    segments: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(v for _, v in self.segments)


def stacked_bars(stacks: Sequence[Stack], *, title: str, width: int = 720, row: int = 26) -> Markup:
    """Horizontal bars, one per stack, segments coloured by kind (see ``COLOURS``)."""
    label_w, right, top = 200, 60, 6
    plot_w = width - label_w - right
    height = top * 2 + row * max(1, len(stacks)) + 18
    peak = max((s.total for s in stacks), default=0) or 1
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}">'
    ]
    for i, stack in enumerate(stacks):
        y = top + i * row
        parts.append(
            f'<text x="{label_w - 8}" y="{y + row / 2 + 4:.0f}" text-anchor="end" '
            f'font-size="12" fill="#111827">{escape(stack.label)}</text>'
        )
        x = float(label_w)
        for kind, value in stack.segments:
            w = plot_w * value / peak
            if value:
                parts.append(
                    f'<rect class="segment {escape(kind)}" x="{_fmt(x)}" y="{y + 3}" '
                    f'width="{_fmt(w)}" height="{row - 6}" '
                    f'fill="{COLOURS.get(kind, AXIS)}" data-value="{value}">'
                    f"<title>{escape(stack.label)}: {value} {escape(kind.replace('_', ' '))}"
                    f"</title></rect>"
                )
            x += w
        parts.append(
            f'<text x="{_fmt(x + 6)}" y="{y + row / 2 + 4:.0f}" font-size="12" '
            f'fill="{AXIS}">{stack.total}</text>'
        )
    legend_y = height - 6
    lx = label_w
    for kind in ("in_use", "free", "draining"):
        parts.append(
            f'<rect x="{lx}" y="{legend_y - 9}" width="10" height="10" '
            f'fill="{COLOURS[kind]}"/><text x="{lx + 14}" y="{legend_y}" font-size="11" '
            f'fill="{AXIS}">{kind.replace("_", " ")}</text>'
        )
        lx += 90
    parts.append("</svg>")
    return Markup("".join(parts))
