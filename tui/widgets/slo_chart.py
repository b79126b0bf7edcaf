"""``SloChart``: one SLO's value over time as a braille line chart, with its objective line
and the fault window shaded; the title shows the current value and verdict.

:func:`plot` is the pure part (points → rows of (character, style key)); the widget maps style
keys to theme-aware component classes. Used by :class:`tui.screens.live.LiveScreen`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from tui.state import Point, SloView

_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
"""Braille dot bits by [row 0..3][column 0..1]."""
_RANK = {"ok": 0, "no-data": 1, "unavailable": 1, "pending": 2, "breached": 3}
STATUS_ICON = {"ok": "● ok", "pending": "◐ pending", "breached": "✖ BREACHED", "no-data": "○ no data",
               "unavailable": "○ unavailable"}
GUTTER = 7
"""Columns left of the chart: a y label of up to 6 characters and the axis line."""


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.2e}"
    return f"{value:.3g}"


def axis_label(value: float, width: int) -> str:
    """A y-axis label that fits ``width`` characters (``0.62``, ``1.2k``, ``3e-04``)."""
    if value == 0:
        return "0"
    for text in (f"{value:.3g}", f"{value:.2g}", f"{value:.1g}"):
        if len(text) <= width:
            return text
    for suffix, scale in (("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            text = f"{value / scale:.0f}{suffix}"
            if len(text) <= width:
                return text
    text = f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return text[:width]


MIN_SPAN_S = 30.0
"""A young run still gets a chart this many seconds wide (samples spread out, not squeezed left)."""


@dataclass
class Chart:
    rows: list[list[tuple[str, str]]]
    """Data rows, top first: ``(character, style key)`` cells."""
    axis: list[tuple[str, str]]
    """The time axis: ``━`` over the fault window, ``▲`` at each policy action, ``─`` elsewhere."""
    labels: str
    """Seconds since the start under the axis (as wide as the axis)."""
    lo: float
    hi: float
    t0: float
    t1: float


def _y_range(values: list[float], threshold: float | None) -> tuple[float, float]:
    scale = [*values, threshold] if threshold is not None else list(values)
    lo, hi = min(scale, default=0.0), max(scale, default=1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - (abs(lo) or 1.0) * 0.5, hi + (abs(hi) or 1.0) * 0.5
    pad = (hi - lo) * 0.08
    non_negative = all(v >= 0 for v in scale)
    lo, hi = lo - pad, hi + pad
    if non_negative:
        lo = max(lo, 0.0)
    return lo, hi


def _time_labels(width: int, t0: float, t1: float, origin: float) -> str:
    """``0s      10s      20s``: offsets from ``origin`` at nice steps, never overlapping."""
    cells = [" "] * width
    span = max(t1 - t0, 1e-9)
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if width * step / span >= 8:  # at least 8 columns between labels
            break
    first = math.ceil((t0 - origin) / step) * step
    tick = first
    while origin + tick <= t1 + 1e-9:
        col = round((origin + tick - t0) / span * (width * 2 - 1)) // 2
        text = f"{tick:.0f}s" if tick < 600 else f"{tick / 60:.0f}m"
        col = min(col, width - len(text))
        if col >= 0 and all(c == " " for c in cells[max(0, col - 1):col + len(text) + 1]):
            cells[col:col + len(text)] = list(text)
        tick += step
    return "".join(cells)


def plot(points: Sequence[Point], threshold: float | None, window: tuple[float, float | None] | None,
         width: int, height: int, *, start: float | None = None, end: float | None = None,
         marks: Sequence[float] = ()) -> Chart:
    """The chart of one SLO: data rows, time axis and its labels, and the y range.

    The x axis spans ``start`` (default: the first sample) to ``end`` (default: the last sample,
    at least :data:`MIN_SPAN_S` after the start): a finished run is shown whole. The y range comes
    from the data and the objective, never below zero for a non-negative series. Styles:
    ``ok``/``pending``/``breached``/``no-data`` (values), ``objective``, ``+fault`` (cells of the
    fault window), and on the axis ``axis``, ``fault-axis``, ``action``.
    """
    width, height = max(1, width), max(1, height)
    xs, ys = width * 2, height * 4
    values = [p.value for p in points if p.value is not None]
    lo, hi = _y_range(values, threshold)
    t0 = start if start is not None else (points[0].at if points else 0.0)
    last = points[-1].at if points else t0
    t1 = end if end is not None else max(last, t0 + MIN_SPAN_S)
    t1 = max(t1, t0 + 1e-6)
    bits = [[0] * width for _ in range(height)]
    rank = [[-1] * width for _ in range(height)]

    def x_of(at: float) -> int:
        return round((at - t0) / (t1 - t0) * (xs - 1))

    def y_of(value: float) -> int:
        return max(0, min(ys - 1, round((hi - value) / (hi - lo) * (ys - 1))))

    def dot(x: int, y: int, status: str) -> None:
        if 0 <= x < xs:
            bits[y // 4][x // 2] |= _DOTS[y % 4][x % 2]
            rank[y // 4][x // 2] = max(rank[y // 4][x // 2], _RANK.get(status, 1))

    # only measured points are drawn: two samples further apart than a few typical sample intervals
    # (the monitor was not sampling in between) are not joined by a line — a gap stays a gap
    steps = sorted(b.at - a.at for a, b in itertools.pairwise(points) if b.at > a.at)
    gap_s = 3 * steps[len(steps) // 2] if steps else math.inf
    previous: tuple[int, int] | None = None
    previous_at = -math.inf
    for p in points:
        x = x_of(p.at)
        if x < 0 or x >= xs:
            continue
        if p.value is None:
            dot(x, ys - 1, "no-data")
            previous = None
            continue
        y = y_of(p.value)
        if p.at - previous_at > gap_s:
            previous = None
        previous_at = p.at
        if previous is None or x <= previous[0]:
            dot(x, y, p.status)
        else:
            px, py = previous
            last_y = py
            for xx in range(px + 1, x + 1):
                yy = round(py + (y - py) * (xx - px) / (x - px))
                for fill in range(min(last_y, yy), max(last_y, yy) + 1):
                    dot(xx, fill, p.status)
                last_y = yy
        previous = (x, y)
    objective_row = y_of(threshold) if threshold is not None and lo <= threshold <= hi else None
    shaded = [False] * width
    if window is not None:
        w_start, w_end = window
        w_end = max(last, w_start) if w_end is None else w_end
        x_start, x_end = x_of(w_start), x_of(w_end)
        for cx in range(width):
            shaded[cx] = x_start <= 2 * cx + 1 and 2 * cx <= x_end
    names = {0: "ok", 1: "no-data", 2: "pending", 3: "breached"}
    rows: list[list[tuple[str, str]]] = []
    for cy in range(height):
        row: list[tuple[str, str]] = []
        for cx in range(width):
            b = bits[cy][cx]
            style = names[rank[cy][cx]] if rank[cy][cx] >= 0 else ""
            if objective_row is not None and objective_row // 4 == cy:
                if not b:
                    style = "objective"
                b |= _DOTS[objective_row % 4][0] | _DOTS[objective_row % 4][1]
            suffix = "+fault" if shaded[cx] else ""
            row.append((chr(0x2800 + b) if b else " ", style + suffix))
        rows.append(row)
    axis = [("━", "fault-axis") if shaded[cx] else ("─", "axis") for cx in range(width)]
    for at in marks:
        cx = x_of(at) // 2
        if 0 <= cx < width:
            axis[cx] = ("▲", "action")
    origin = start if start is not None else t0
    return Chart(rows, axis, _time_labels(width, t0, t1, origin), lo, hi, t0, t1)


class SloChart(Widget):
    """One SLO: a title line (name, value, objective, verdict), a braille chart with the objective
    line, and a time axis marking the fault window and the policy actions."""

    DEFAULT_CSS = """
    SloChart { height: 1fr; min-height: 5; }
    """
    COMPONENT_CLASSES = {"slo-chart--ok", "slo-chart--pending", "slo-chart--breached", "slo-chart--no-data",
                         "slo-chart--objective", "slo-chart--fault", "slo-chart--title", "slo-chart--axis",
                         "slo-chart--fault-axis", "slo-chart--action"}

    def __init__(self, view: SloView, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view = view
        self.window: tuple[float, float | None] | None = None
        self.start: float | None = None
        self.end: float | None = None
        self.marks: tuple[float, ...] = ()

    def update_view(self, view: SloView, window: tuple[float, float | None] | None, *,
                    start: float | None = None, end: float | None = None, marks: Sequence[float] = ()) -> None:
        """Show ``view``; the x axis runs from ``start`` to ``end`` (None: the samples), ``marks``
        are the times of policy actions."""
        self.view, self.window, self.start, self.end, self.marks = view, window, start, end, tuple(marks)
        self.refresh()

    def _style(self, key: str) -> Style:
        base, _, fault = key.partition("+")
        style = self.get_component_rich_style(f"slo-chart--{base}", partial=True) if base else Style()
        if fault:
            fault_style = self.get_component_rich_style("slo-chart--fault", partial=True)
            style = style + Style(bgcolor=fault_style.bgcolor)
        return style

    def _cached(self, styles: dict[str, Style], key: str) -> Style | None:
        if not key:
            return None
        style = styles.get(key)
        if style is None:
            style = styles[key] = self._style(key)
        return style

    def render(self) -> Text:
        view = self.view
        width = max(1, self.size.width - GUTTER)
        with_labels = self.size.height >= 6
        height = max(1, self.size.height - (3 if with_labels else 2))
        status = view.status or "no-data"
        title = Text()
        title.append(f"{view.name} ", self.get_component_rich_style("slo-chart--title", partial=True))
        title.append(f"{fmt(view.value)}  objective {view.objective}  ")
        title.append(STATUS_ICON.get(status, status), self._style(status if status in _RANK else "no-data"))
        if status == "pending" and view.consecutive:
            title.append(f" ({view.consecutive}×)")
        chart = plot(list(view.points), view.threshold, self.window, width, height, start=self.start,
                     end=self.end, marks=self.marks)
        axis = self.get_component_rich_style("slo-chart--axis", partial=True)
        styles: dict[str, Style] = {}
        out = Text(no_wrap=True, overflow="crop")
        out.append_text(title)
        rows = chart.rows
        for index, row in enumerate(rows):
            out.append("\n")
            label = axis_label(chart.hi, GUTTER - 1) if index == 0 else \
                axis_label(chart.lo, GUTTER - 1) if index == len(rows) - 1 else ""
            out.append(f"{label:>{GUTTER - 1}}│", axis)
            self._append_cells(out, row, styles)
        out.append("\n")
        out.append(" " * (GUTTER - 1) + "└", axis)
        self._append_cells(out, chart.axis, styles)
        if with_labels:
            out.append("\n")
            out.append(" " * GUTTER + chart.labels, axis)
        return out

    def _append_cells(self, out: Text, cells: list[tuple[str, str]], styles: dict[str, Style]) -> None:
        run_chars: list[str] = []
        run_key = cells[0][1] if cells else ""
        for char, key in cells:
            if key != run_key:
                out.append("".join(run_chars), self._cached(styles, run_key))
                run_chars, run_key = [], key
            run_chars.append(char)
        if run_chars:
            out.append("".join(run_chars), self._cached(styles, run_key))
