"""SVG charts for the run reports: bars, lines and the curate funnel, drawn as text.

Pure functions from numbers to an `<svg>` string: no scripts, nothing fetched, every label
escaped (sources and step names are untrusted input). The report data (what a summary holds,
its validation, the page around the charts) is assay.pipelines.reports.summary.

Example:
    >>> nice_ticks(0, 37)
    [0.0, 10.0, 20.0, 30.0, 40.0]
    >>> svg = bar_chart_svg([("web", AFTER, [3, 1])], ["easy", "hard"], "rows <by> level")
    >>> svg.startswith("<svg") and "rows &lt;by&gt; level" in svg
    True
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

# Colours, named once so the charts, their legends and the screenshot test agree.
BEFORE = "#9fb3c8"  # difficulty before filtering
AFTER = "#2563eb"  # difficulty after filtering; rows kept in the funnel


def e(value: Any) -> str:
    """Text for HTML and SVG, escaped (quotes too: it may land in an attribute)."""
    return html.escape(str(value), quote=True)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi].

    >>> nice_ticks(0, 37)
    [0.0, 10.0, 20.0, 30.0, 40.0]
    """
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    # Rounded so 0.30000000000000004 prints as 0.3.
    return [round(i * step, 12) for i in range(first, last + 1)]


def fmt(value: float) -> str:
    """A number as a label: thousands separators for whole numbers, else up to 3 significant digits."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Frame:
    """A chart's plot area inside its SVG, in SVG units."""

    width: float
    height: float
    left: float
    top: float
    right: float
    bottom: float

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom

    @property
    def base(self) -> float:  # y of the x axis
        return self.height - self.bottom


def _svg(frame: Frame, label: str, parts: list[str]) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {frame.width:g} {frame.height:g}' role='img' "
            f"aria-label='{e(label)}'>" + "".join(parts) + "</svg>")


def _y_axis(frame: Frame, ticks: list[float]) -> list[str]:
    """Grid lines and labels for ticks spanning ticks[0] (bottom) to ticks[-1] (top)."""
    parts = []
    for t in ticks:
        y = frame.base - (t - ticks[0]) / (ticks[-1] - ticks[0]) * frame.plot_h
        parts.append(f"<line x1='{frame.left:g}' x2='{frame.width - frame.right:g}' y1='{y:.2f}' y2='{y:.2f}' "
                     f"stroke='#e4e9f0'/><text x='{frame.left - 6:g}' y='{y + 3.5:.2f}' text-anchor='end'>"
                     f"{e(fmt(t))}</text>")
    return parts


def _x_label(x: float, frame: Frame, text: str) -> str:
    return f"<text x='{x:.2f}' y='{frame.base + 15:g}' text-anchor='middle'>{e(text)}</text>"


def bar_chart_svg(series: Sequence[tuple[str, str, Sequence[int]]], x_labels: Sequence[str],
                  label: str, frame: Frame = Frame(360, 190, 52, 12, 8, 26)) -> str:
    """Grouped vertical bars of row counts: `series` is [(name, colour, count per group)], all
    of one length n.

    `x_labels` has n entries (placed under each group) or n + 1 (placed on the group
    boundaries: bin edges of a histogram). Bar heights are proportional to the counts, on a
    y axis from 0 to the first round tick at or above the largest count (at least 5, so the
    ticks of small counts are whole numbers).
    """
    n = len(series[0][2])
    ticks = nice_ticks(0.0, max([v for _, _, values in series for v in values] + [5]))
    group = frame.plot_w / n
    width = group * 0.8 / len(series)
    parts = _y_axis(frame, ticks)
    for s, (name, colour, values) in enumerate(series):
        for i, value in enumerate(values):
            h = value / ticks[-1] * frame.plot_h
            x = frame.left + group * (i + 0.1) + width * s
            where = x_labels[i] if len(x_labels) == n else f"{x_labels[i]}\u2013{x_labels[i + 1]}"
            parts.append(f"<rect class='bar' data-series='{e(name)}' data-value='{value:g}' x='{x:.2f}' "
                         f"y='{frame.base - h:.2f}' width='{width:.2f}' height='{h:.2f}' fill='{colour}'>"
                         f"<title>{e(name)} {e(where)}: {e(fmt(value))}</title></rect>")
    step = max(1, math.ceil(len(x_labels) / 11))  # at most about 11 labels fit under the axis
    for i in range(0, len(x_labels), step):
        offset = 0.5 if len(x_labels) == n else 0.0
        parts.append(_x_label(frame.left + group * (i + offset), frame, x_labels[i]))
    parts.append(f"<line x1='{frame.left:g}' x2='{frame.width - frame.right:g}' y1='{frame.base:g}' "
                 f"y2='{frame.base:g}' stroke='#7b8794'/>")
    return _svg(frame, label, parts)


def line_chart_svg(steps: Sequence[int], series: Sequence[tuple[str, str, Sequence[float | None]]],
                   y_range: tuple[float, float] | None, label: str,
                   frame: Frame = Frame(540, 230, 48, 14, 14, 40)) -> str:
    """Lines over training steps: `series` is [(name, colour, value per step or None)].

    A None is a step with no value (no evaluation ran then): the line joins the steps that
    have one, and a sparse series gets a marker on each value. The y axis covers `y_range`
    when given (rates: 0 to 1), else round ticks around the data.
    """
    present = [v for _, _, values in series for v in values if v is not None]
    lo, hi = y_range if y_range else (min(present, default=0.0), max(present, default=1.0))
    if y_range is None and hi - lo < 1e-9:  # a flat line: give it room above and below
        lo, hi = lo - 0.5, hi + 0.5
    y_ticks = nice_ticks(lo, hi)
    # One logged step: a range around it, so it sits in the middle.
    x_lo, x_hi = (min(steps), max(steps)) if max(steps) > min(steps) else (steps[0] - 1, steps[0] + 1)
    x_ticks = [t for t in nice_ticks(x_lo, x_hi, count=6) if t.is_integer()]  # steps are whole numbers

    def x_of(step: float) -> float:
        return frame.left + (step - x_lo) / (x_hi - x_lo) * frame.plot_w

    def y_of(value: float) -> float:
        return frame.base - (value - y_ticks[0]) / (y_ticks[-1] - y_ticks[0]) * frame.plot_h

    parts = _y_axis(frame, y_ticks)
    parts += [_x_label(x_of(t), frame, fmt(t)) for t in x_ticks if x_lo <= t <= x_hi]
    parts.append(f"<text x='{frame.left + frame.plot_w / 2:.2f}' y='{frame.height - 4:g}' text-anchor='middle'>step</text>")
    parts.append(f"<line x1='{frame.left:g}' x2='{frame.width - frame.right:g}' y1='{frame.base:g}' "
                 f"y2='{frame.base:g}' stroke='#7b8794'/>")
    for name, colour, values in series:
        points = [(x_of(s), y_of(v), s, v) for s, v in zip(steps, values) if v is not None]
        if not points:
            continue
        path = " ".join(f"{x:.2f},{y:.2f}" for x, y, _, _ in points)
        parts.append(f"<polyline class='line' data-series='{e(name)}' points='{path}' fill='none' "
                     f"stroke='{colour}' stroke-width='2' stroke-linejoin='round'/>")
        if len(points) <= 40 or len(points) < len(values):
            parts += [f"<circle cx='{x:.2f}' cy='{y:.2f}' r='3' fill='{colour}'><title>{e(name)} at step {s}: "
                      f"{e(fmt(v))}</title></circle>" for x, y, s, v in points]
    if not present:
        parts.append(f"<text x='{frame.left + frame.plot_w / 2:.2f}' y='{frame.top + frame.plot_h / 2:.2f}' "
                     "text-anchor='middle'>no values yet</text>")
    return _svg(frame, label, parts)


def funnel_svg(funnel: Sequence[Mapping[str, Any]], colours: Mapping[str, str], width: float = 1100) -> str:
    """One horizontal bar per step, its length proportional to the step's rows_in: the kept
    rows (rows_out) then one segment per drop reason, all on the scale of the largest rows_in."""
    row_h, label_w, text_w = 34, 210, 230
    bar_w = width - label_w - text_w
    scale = max([s["rows_in"] for s in funnel] + [1])
    frame = Frame(width, row_h * len(funnel) + 8, label_w, 4, text_w, 4)
    parts = []
    for i, step in enumerate(funnel):
        y = 4 + i * row_h
        name = step["step"] if len(step["step"]) <= 30 else step["step"][:29] + "\u2026"
        parts.append(f"<text x='{label_w - 10}' y='{y + 17}' text-anchor='end' style='font-size:12.5px;fill:#1f2933'>"
                     f"{e(name)}<title>{e(step['step'])}</title></text>")
        segments = [("kept", "kept", AFTER, step["rows_out"])]
        segments += [("dropped", f"dropped: {r}", colours[r], n) for r, n in step["dropped"].items()]
        x = float(label_w)
        for kind, what, colour, rows in segments:
            w = rows / scale * bar_w
            parts.append(f"<rect class='{kind}' data-rows='{rows}' x='{x:.2f}' y='{y + 4}' width='{w:.2f}' height='20' "
                         f"fill='{colour}'><title>{e(step['step'])}, {e(what)}: {rows:,}</title></rect>")
            x += w
        dropped = step["rows_in"] - step["rows_out"]
        parts.append(f"<text x='{label_w + bar_w + 10}' y='{y + 18}' style='font-size:12.5px;fill:#1f2933'>"
                     f"{step['rows_in']:,} \u2192 {step['rows_out']:,}"
                     f"<tspan style='fill:#616e7c'>  (\u2212{dropped:,})</tspan></text>")
    return _svg(frame, "rows per step", parts)
