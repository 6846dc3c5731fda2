"""Small SVG charts written as text (no script, no library): horizontal bars for a ranking,
a line (with dots) for a figure per run. Every label is escaped: task names are data."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

BAR = "#4a90d9"
ROW = 22  # pixels per bar
LABEL = 220  # pixels for the labels left of the bars
WIDTH = 720


def bars(title: str, rows: Sequence[tuple[str, float, str]], colour: str = BAR) -> str:
    """A ranking: one bar per (label, value, value as text), longest value the full width."""
    top = max((value for _, value, _ in rows), default=0.0) or 1.0
    span = WIDTH - LABEL - 90
    height = 28 + ROW * len(rows)
    parts = [_open(title, height)]
    for i, (label, value, text) in enumerate(rows):
        y = 24 + i * ROW
        length = max(span * value / top, 1.0)
        parts.append(
            f'<g class="bar"><text x="{LABEL - 6}" y="{y + 14}" text-anchor="end">'
            f'{escape(label)}</text><rect x="{LABEL}" y="{y + 3}" width="{length:.1f}" '
            f'height="{ROW - 6}" fill="{colour}"><title>{escape(label)}: {escape(text)}'
            f'</title></rect><text x="{LABEL + length + 6:.1f}" y="{y + 14}">{escape(text)}'
            "</text></g>")
    return "".join([*parts, "</svg>"])


def line(title: str, points: Sequence[tuple[str, float, str]], colour: str = BAR) -> str:
    """A figure per run, oldest first: (run label, value, value as text), joined by a line;
    the largest value and zero are marked on the left."""
    height, left, bottom = 200, 70, 170
    top = max((value for _, value, _ in points), default=0.0) or 1.0
    step = (WIDTH - left - 20) / max(len(points) - 1, 1)
    xy = [(left + i * step, bottom - (bottom - 30) * value / top)
          for i, (_, value, _) in enumerate(points)]
    parts = [_open(title, height),
             f'<line x1="{left}" y1="{bottom}" x2="{WIDTH - 10}" y2="{bottom}" stroke="#999"/>',
             f'<text x="{left - 6}" y="{bottom}" text-anchor="end">0</text>',
             f'<text x="{left - 6}" y="34" text-anchor="end">'
             f'{escape(_short(max(points, key=lambda p: p[1])[2])) if points else ""}</text>']
    if len(xy) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                     'stroke-width="2"/>')
    for (label, _, text), (x, y) in zip(points, xy, strict=True):
        parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
                     f'<title>{escape(label)}: {escape(text)}</title></circle>')
    if points:
        parts.append(f'<text x="{left}" y="{bottom + 18}">{escape(points[0][0])}</text>')
        parts.append(f'<text x="{WIDTH - 10}" y="{bottom + 18}" text-anchor="end">'
                     f'{escape(points[-1][0])}</text>')
    return "".join([*parts, "</svg>"])


def _open(title: str, height: int) -> str:
    """The <svg> element with its title, sized for the page."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{WIDTH}" '
            f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" font-size="12" '
            f'font-family="sans-serif"><title>{escape(title)}</title>'
            f'<text x="4" y="14" font-weight="bold">{escape(title)}</text>')


def _short(text: str) -> str:
    """A value's text without its note in brackets: `50.0%` of `50.0% (1 of 2)`."""
    return text.split(" (", 1)[0]
