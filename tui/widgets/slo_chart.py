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


MIN_WINDOW_STEPS = 30
"""A young run still gets a chart this many ticks wide (samples spread out, not squeezed left)."""


def plot(points: Sequence[Point], threshold: float | None, window: tuple[float, float | None] | None,
         width: int, height: int, step: float = 1.0) -> tuple[list[list[tuple[str, str]]], float, float]:
    """Rows (top first) of ``(char, style)`` cells plus the y range (lo, hi).

    The x axis spans ``max(MIN_WINDOW_STEPS, ticks so far)`` ticks, at most one tick per dot
    column (then it scrolls: the newest sample is at the right edge). Consecutive samples are
    joined. Styles: ``ok``/``pending``/``breached``/``no-data`` (values), ``objective``, ``fault``
    (background of the fault window), combined as ``ok+fault``.
    """
    width, height = max(1, width), max(1, height)
    xs, ys = width * 2, height * 4
    step = step if step > 0 else 1.0
    values = [p.value for p in points if p.value is not None]
    lo = min([*values, threshold] if threshold is not None else values, default=0.0)
    hi = max([*values, threshold] if threshold is not None else values, default=1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 1.0, hi + 1.0
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad
    span = (points[-1].at - points[0].at) / step if points else 0.0
    steps = min(max(float(MIN_WINDOW_STEPS), span), float(max(1, xs - 1)))
    t0 = points[-1].at - steps * step if points and span > steps else (points[0].at if points else 0.0)
    scale = (xs - 1) / steps
    bits = [[0] * width for _ in range(height)]
    rank = [[-1] * width for _ in range(height)]

    def x_of(at: float) -> int:
        return round((at - t0) / step * scale)

    def y_of(value: float) -> int:
        return max(0, min(ys - 1, round((hi - value) / (hi - lo) * (ys - 1))))

    def dot(x: int, y: int, status: str) -> None:
        if 0 <= x < xs:
            bits[y // 4][x // 2] |= _DOTS[y % 4][x % 2]
            rank[y // 4][x // 2] = max(rank[y // 4][x // 2], _RANK.get(status, 1))

    previous: tuple[int, int] | None = None
    for p in points:
        x = x_of(p.at)
        if x >= xs:
            continue
        if p.value is None:
            dot(x, ys - 1, "no-data")
            previous = None
            continue
        y = y_of(p.value)
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
    objective_row = y_of(threshold) if threshold is not None else None
    shaded = [False] * width
    if window is not None and points:
        start, end = window
        end = points[-1].at if end is None else end
        x_start, x_end = x_of(start), x_of(end)
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
        styles: dict[str, Style] = {}
        out = Text(no_wrap=True, overflow="crop")
        out.append_text(title)
        for index, row in enumerate(rows):
            out.append("\n")
            label = fmt(hi) if index == 0 else fmt(lo) if index == len(rows) - 1 else ""
            out.append(f"{label:>{GUTTER - 1}}│", axis)
            run_chars: list[str] = []
            run_key = row[0][1] if row else ""
            for char, key in row:
                if key != run_key:
                    out.append("".join(run_chars), self._cached(styles, run_key))
                    run_chars, run_key = [], key
                run_chars.append(char)
            if run_chars:
                out.append("".join(run_chars), self._cached(styles, run_key))
        return out
