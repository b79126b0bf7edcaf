"""``SloChart``: one SLO's value over time as a braille line chart, with its objective line
and the fault window shaded; the title shows the current value and verdict.

:func:`plot` is the pure part (points → rows of (character, style key)); the widget maps style
keys to theme-aware component classes. Used by :class:`tui.screens.live.LiveScreen`.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.2e}"
    return f"{value:.3g}"


def plot(points: Sequence[Point], threshold: float | None, window: tuple[float, float | None] | None,
         width: int, height: int, step: float = 1.0) -> tuple[list[list[tuple[str, str]]], float, float]:
    """Rows (top first) of ``(char, style)`` cells plus the y range (lo, hi).

    One dot column per ``step`` seconds; the newest sample is at the right once the chart is full.
    Styles: ``ok``/``pending``/``breached``/``no-data`` (values), ``objective``, ``fault`` (background).
    """
    width, height = max(1, width), max(1, height)
    xs, ys = width * 2, height * 4
    values = [p.value for p in points if p.value is not None]
    lo = min([*values, threshold] if threshold is not None else values, default=0.0)
    hi = max([*values, threshold] if threshold is not None else values, default=1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 1.0, hi + 1.0
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad
    if points:
        t_last = points[-1].at
        t0 = max(points[0].at, t_last - (xs - 1) * step)
    else:
        t0 = 0.0
    bits = [[0] * width for _ in range(height)]
    rank = [[-1] * width for _ in range(height)]

    def y_of(value: float) -> int:
        return max(0, min(ys - 1, round((hi - value) / (hi - lo) * (ys - 1))))

    def dot(x: int, y: int) -> None:
        bits[y // 4][x // 2] |= _DOTS[y % 4][x % 2]

    previous: tuple[int, int] | None = None
    for p in points:
        x = round((p.at - t0) / step) if step > 0 else 0
        if x < 0 or x >= xs:
            continue
        cx = x // 2
        if p.value is None:
            y = ys - 1
            dot(x, y)
            rank[y // 4][cx] = max(rank[y // 4][cx], _RANK["no-data"])
            previous = None
            continue
        y = y_of(p.value)
        low, high = (y, y) if previous is None or previous[0] != x - 1 else sorted((previous[1], y))
        for yy in range(low, high + 1):
            dot(x, yy)
            rank[yy // 4][cx] = max(rank[yy // 4][cx], _RANK.get(p.status, 1))
        previous = (x, y)
    objective_row = y_of(threshold) if threshold is not None else None
    shaded = [False] * width
    if window is not None and points:
        start, end = window
        end = points[-1].at if end is None else end
        for cx in range(width):
            t_a, t_b = t0 + (2 * cx) * step, t0 + (2 * cx + 1) * step
            shaded[cx] = start <= t_b and t_a <= end
    names = {0: "ok", 1: "no-data", 2: "pending", 3: "breached"}
    rows: list[list[tuple[str, str]]] = []
    for cy in range(height):
        row: list[tuple[str, str]] = []
        for cx in range(width):
            b = bits[cy][cx]
            style = names[rank[cy][cx]] if rank[cy][cx] >= 0 else ""
            if objective_row is not None and objective_row // 4 == cy:
                line = _DOTS[objective_row % 4][0]
                if not b:
                    style = "objective"
                b |= line
            suffix = "+fault" if shaded[cx] else ""
            row.append((chr(0x2800 + b) if b else " ", style + suffix))
        rows.append(row)
    return rows, lo, hi


class SloChart(Widget):
    """One SLO: a title line (name, value, objective, verdict) and a braille chart below."""

    DEFAULT_CSS = """
    SloChart { height: 1fr; min-height: 4; }
    """
    COMPONENT_CLASSES = {"slo-chart--ok", "slo-chart--pending", "slo-chart--breached", "slo-chart--no-data",
                         "slo-chart--objective", "slo-chart--fault", "slo-chart--title", "slo-chart--axis"}

    def __init__(self, view: SloView, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view = view
        self.window: tuple[float, float | None] | None = None
        self.step = 1.0

    def update_view(self, view: SloView, window: tuple[float, float | None] | None, step: float) -> None:
        self.view, self.window, self.step = view, window, step
        self.refresh()

    def _style(self, key: str) -> Style:
        base, _, fault = key.partition("+")
        style = self.get_component_rich_style(f"slo-chart--{base}", partial=True) if base else Style()
        if fault:
            fault_style = self.get_component_rich_style("slo-chart--fault", partial=True)
            style = style + Style(bgcolor=fault_style.bgcolor)
        return style

    def render(self) -> Text:
        view = self.view
        width = max(1, self.size.width - GUTTER)
        height = max(1, self.size.height - 1)
        status = view.status or "no-data"
        title = Text()
        title.append(f"{view.name} ", self.get_component_rich_style("slo-chart--title", partial=True))
        title.append(f"{fmt(view.value)} {view.objective}  ")
        title.append(STATUS_ICON.get(status, status), self._style(status if status in _RANK else "no-data"))
        if status == "pending" and view.consecutive:
            title.append(f" ({view.consecutive}×)")
        rows, lo, hi = plot(list(view.points), view.threshold, self.window, width, height, self.step)
        axis = self.get_component_rich_style("slo-chart--axis", partial=True)
        out = Text(no_wrap=True, overflow="crop")
        out.append_text(title)
        for index, row in enumerate(rows):
            out.append("\n")
            label = fmt(hi) if index == 0 else fmt(lo) if index == len(rows) - 1 else ""
            out.append(f"{label:>{GUTTER - 1}}│", axis)
            for char, key in row:
                out.append(char, self._style(key) if key else None)
        return out
