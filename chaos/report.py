"""A self-contained HTML report of one run: the verdict in words, the faults, the timings, a
plot per SLO and the timeline.

Each plot shows the run before, during and after the fault: the SLO's value (the monitor's
samples, the steady-state checks before and after, and — when the caller has them — the
Prometheus samples around the run, ``context``), the objective line, the fault window shaded,
every policy action marked and labelled (labels are staggered, never clipped), a time axis in
seconds since the run started and a y axis from the data (never below zero for non-negative
series). Inline SVG, no scripts, no external assets: the file can be mailed or attached to a
ticket. The page is a Jinja2 template with autoescape (``chaos/templates/run-report.html.j2``);
the SVG plots are built here (every text in them escaped) and passed in as markup. Pure (journal
dict → HTML string); ``write_report`` is the one function that writes a file (0600). Called by ``aftershock report``, the demo and the TUI's journal screen.
"""

from __future__ import annotations

import functools
import html
import itertools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from chaos.engine.wording import evidence_text, number, seconds, timing_label
from chaos.timeline import entries

W, H = 760, 272
LEFT, RIGHT, TOP, BOTTOM = 58, 16, 52, 34
"""Plot margins: y labels left, action labels on top (three rows), time axis below."""
LABEL_ROW = 13
LABEL_ROWS = 3
CHAR_W = 6.2
"""Approximate width of one character of the 11 px labels (for overlap and edge checks)."""

Context = Mapping[str, Sequence[tuple[float, float | None]]]
"""Per SLO name: (epoch seconds, value) samples around the run, e.g. from a Prometheus range query."""


def report_path(state_dir: str | Path, run_id: str) -> Path:
    """Where reports of the state dir live (the demo, the TUI export and ``report`` without -o)."""
    return Path(state_dir) / "reports" / f"{run_id}.html"


def action_label(decision: dict[str, Any]) -> str:
    """What a decision did, in a word or two: ``rollback``, ``degrade``, ``circuit open``,
    ``circuit half-open``."""
    action = str(decision.get("action", ""))
    summary = str((decision.get("evidence") or {}).get("summary", ""))
    if action == "circuit-break" and summary.startswith("circuit "):
        return summary.split(":", 1)[0]
    return action


def _num(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(float(value)):
        return float(value)
    return None


def _nice_step(span: float, count: int) -> float:
    raw = span / max(1, count)
    if raw <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= m * mag:
            return float(m * mag)
    return float(10 * mag)


def _threshold(objective: str) -> float | None:
    try:
        return float(objective.split()[-1])
    except (ValueError, IndexError):
        return None


def series_of(slo: str, journal: dict[str, Any], context: Context | None = None
              ) -> list[tuple[float, float | None, str]]:
    """(t, value, status) of one SLO over the whole run: context before, the steady-state check
    before, the monitor's samples, the check after, context after."""
    ours = journal.get("aftershock", {})
    monitored: list[tuple[float, float | None, str]] = []
    for tick in ours.get("timeline", []):
        for v in tick.get("verdicts", []):
            if v.get("slo") == slo:
                monitored.append((float(tick["at"]), _num(v.get("value")), str(v.get("status", ""))))
    checks: list[tuple[float, float | None, str]] = []
    for event in ours.get("events", []):
        if event.get("event") == "SteadyStateChecked":
            for v in event.get("verdicts", []):
                if v.get("slo") == slo:
                    checks.append((float(event["at"]), _num(v.get("value")), str(v.get("status", ""))))
    points = sorted(monitored + checks, key=lambda p: p[0])
    if context and context.get(slo):
        first = monitored[0][0] if monitored else math.inf
        last = monitored[-1][0] if monitored else -math.inf
        taken = [p[0] for p in checks]
        extra = [(float(t), _num(v), "") for t, v in context[slo]
                 if (t < first - 0.5 or t > last + 0.5) and all(abs(t - c) > 0.5 for c in taken)]
        points = sorted(points + extra, key=lambda p: p[0])
    return points


GAP_STEPS = 2.5
"""Two samples further apart than this many usual steps (the median) are not joined by a line."""


def series_gap(times: list[float]) -> float:
    """The longest interval a line may bridge: :data:`GAP_STEPS` times the median step between samples."""
    steps = sorted(b - a for a, b in itertools.pairwise(times) if b > a)
    if not steps:
        return math.inf
    return GAP_STEPS * steps[len(steps) // 2]


def plot_slo(slo: dict[str, Any], journal: dict[str, Any], context: Context | None = None) -> str:
    """One SLO's plot (SVG in HTML): its series with the fault window, objective and policy actions.
    Used by the run report and the game-day report (``chaos.gameday.report``)."""
    ours = journal.get("aftershock", {})
    points = series_of(slo["name"], journal, context)
    if not points:
        return f"<p class=muted>No samples for {html.escape(slo['name'])}.</p>"
    events = ours.get("events", [])
    start = next((float(e["at"]) for e in events if isinstance(e.get("at"), int | float)), points[0][0])
    objective = str(slo.get("objective", ""))
    threshold = _threshold(objective)
    t0 = min(points[0][0], start)
    t1 = max(points[-1][0], t0 + 1.0)
    for e in events:
        if isinstance(e.get("at"), int | float):
            t1 = max(t1, float(e["at"]))
    values = [p[1] for p in points if p[1] is not None]
    scale = values + ([threshold] if threshold is not None else [])
    lo, hi = (min(scale), max(scale)) if scale else (0.0, 1.0)
    if hi - lo < 1e-9:
        hi = lo + (abs(lo) or 1.0)
    pad = (hi - lo) * 0.08
    non_negative = all(v >= 0 for v in values) and (threshold is None or threshold >= 0)
    lo, hi = lo - pad, hi + pad
    if non_negative:
        lo = max(lo, 0.0)
    step = _nice_step(hi - lo, 4)
    lo = math.floor(lo / step) * step if not non_negative or lo > 0 else 0.0
    hi = math.ceil(hi / step) * step
    px0, px1, py0, py1 = LEFT, W - RIGHT, TOP, H - BOTTOM

    def x(t: float) -> float:
        return px0 + (t - t0) / (t1 - t0) * (px1 - px0)

    def y(v: float) -> float:
        return py1 - (v - lo) / (hi - lo) * (py1 - py0)

    esc = html.escape
    parts = [f'<svg viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{esc(slo["name"])} over time" '
             f'font-family="system-ui,sans-serif">']
    # fault windows
    for fault in ours.get("faults", []):
        a = max(float(fault.get("injected", t0)), t0)
        b = min(float(fault.get("removed", fault.get("deadline", t1))), t1)
        if b > a:
            parts.append(f'<rect x="{x(a):.1f}" y="{py0}" width="{max(1.0, x(b) - x(a)):.1f}" '
                         f'height="{py1 - py0}" class="fault"><title>fault {esc(str(fault["fault"]))} live: '
                         f'{esc(str(fault.get("description", "")))}</title></rect>')
    # grid and y labels
    v = lo
    while v <= hi + step / 2:
        parts.append(f'<line x1="{px0}" x2="{px1}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
                     f'<text x="{px0 - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="axis">{number(v)}</text>')
        v += step
    # time axis: seconds since the run started
    tstep = _nice_step(t1 - t0, 8)
    tick = math.ceil((t0 - start) / tstep) * tstep
    while start + tick <= t1 + 1e-9:
        tx = x(start + tick)
        parts.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{py1}" y2="{py1 + 4}" class="axisline"/>'
                     f'<text x="{tx:.1f}" y="{py1 + 16}" text-anchor="middle" class="axis">{tick:+g}</text>')
        tick += tstep
    parts.append(f'<line x1="{px0}" x2="{px1}" y1="{py1}" y2="{py1}" class="axisline"/>'
                 f'<text x="{px1}" y="{H - 2}" text-anchor="end" class="axis">seconds since the run started</text>')
    # objective
    if threshold is not None and lo <= threshold <= hi:
        ty = y(threshold)
        parts.append(f'<line x1="{px0}" x2="{px1}" y1="{ty:.1f}" y2="{ty:.1f}" class="objective"/>'
                     f'<text x="{px0 + 4}" y="{ty - 4:.1f}" class="objlabel">objective {esc(objective)}</text>')
    # the series: a line only between neighbouring samples; no data, or a gap much longer than the
    # usual step between samples, is left as a gap (nothing was measured there), and every sample a dot
    path, pen = [], "M"
    measured = [t for t, value, _ in points if value is not None]
    gap = series_gap(measured)
    last_t: float | None = None
    for t, value, _status in points:
        if value is None:
            pen = "M"
            continue
        if last_t is not None and t - last_t > gap:
            pen = "M"
        path.append(f"{pen}{x(t):.1f},{y(value):.1f}")
        pen, last_t = "L", t
    parts.append(f'<path d="{" ".join(path)}" class="series"/>')
    for t, value, status in points:
        if value is not None and status not in ("breached", "pending"):
            parts.append(f'<circle cx="{x(t):.1f}" cy="{y(value):.1f}" r="1.6" class="sample">'
                         f'<title>{number(value)} at {t - start:+.1f} s</title></circle>')
    for t, value, status in points:
        if value is not None and status in ("breached", "pending"):
            parts.append(f'<circle cx="{x(t):.1f}" cy="{y(value):.1f}" r="2.8" class="{status}">'
                         f'<title>{number(value)} at {t - start:+.1f} s ({status})</title></circle>')
    # policy actions: a line each; "k short" labels over LABEL_ROWS rows, a bare number when no row
    # has room (the decisions table has the same numbers); always inside the plot's width
    rows_end = [-math.inf] * LABEL_ROWS
    for k, d in enumerate(ours.get("decisions", []), start=1):
        at = _num(d.get("at"))
        if at is None:
            continue
        ax = x(at)
        placed = None
        for label in (f"{k} {action_label(d)}", str(k)):
            width = len(label) * CHAR_W
            anchor_x = min(max(ax, px0 + width / 2), px1 - width / 2)
            row = next((r for r in range(LABEL_ROWS) if anchor_x - width / 2 > rows_end[r] + 4), None)
            if row is not None:
                placed = (label, anchor_x, width, row)
                break
        if placed is None:
            row = min(range(LABEL_ROWS), key=lambda r: rows_end[r])
            label, width = str(k), len(str(k)) * CHAR_W
            placed = (label, min(max(ax, px0 + width / 2), px1 - width / 2), width, row)
        label, anchor_x, width, row = placed
        rows_end[row] = anchor_x + width / 2
        ly = py0 - 6 - row * LABEL_ROW
        parts.append(f'<line x1="{ax:.1f}" x2="{ax:.1f}" y1="{ly + 3:.1f}" y2="{py1}" class="action">'
                     f'<title>{k}: {esc(str(d.get("policy")))} → {esc(action_label(d))} at {at - start:+.1f} s'
                     f'</title></line><text x="{anchor_x:.1f}" y="{ly:.1f}" text-anchor="middle" '
                     f'class="actlabel">{esc(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


CSS = """
body{font:14px/1.45 system-ui,sans-serif;max-width:840px;margin:2em auto;color:#1d232a;padding:0 1em}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}h3{font-size:1em;margin:1.2em 0 .2em}
.verdict{display:inline-block;padding:.1em .6em;border-radius:4px;color:#fff;font-size:.8em;vertical-align:middle}
.passed{background:#2e7d32}.deviated{background:#ef6c00}.failed,.error,.unsteady,.invalid{background:#c62828}
.aborted{background:#6a1b9a}.muted{color:#666}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
svg .fault{fill:#ffb74d;opacity:.25}svg .objective{stroke:#c62828;stroke-width:1.5;stroke-dasharray:6 4}
svg .series{fill:none;stroke:#1565c0;stroke-width:2.2;stroke-linejoin:round}svg .sample{fill:#1565c0}
svg .action{stroke:#6a1b9a;stroke-width:1.5;stroke-dasharray:2 2}
svg .breached{fill:#c62828}svg .pending{fill:#ef6c00}svg .axis{font-size:11px;fill:#555}
svg .grid{stroke:#eee}svg .axisline{stroke:#999}svg .objlabel{font-size:11px;fill:#c62828}
svg .actlabel{font-size:11px;fill:#6a1b9a}
.legend span{margin-right:1.2em;white-space:nowrap}.sw{display:inline-block;width:1.6em;height:.7em;
vertical-align:middle;margin-right:.3em}.sw.series{border-top:2.5px solid #1565c0;height:0}
.sw.objective{border-top:2px dashed #c62828;height:0}.sw.fault{background:#ffb74d;opacity:.4}
.sw.action{border-left:2px dashed #6a1b9a;width:0;height:1em}
code{background:#f3f3f3;padding:0 .2em;word-break:break-all}
.sev-error td:nth-child(2){color:#c62828}.sev-success td:nth-child(2){color:#2e7d32}
.sev-warning td:nth-child(2){color:#a15c00}
"""

LEGEND = ('<p class="legend muted"><span><i class="sw series"></i>SLO value</span>'
          '<span><i class="sw objective"></i>objective</span><span><i class="sw fault"></i>fault live</span>'
          '<span><i class="sw action"></i>policy action</span></p>')


_REMOVED_REASON = {"rollback": "by the rollback", "end": "at the end of its duration", "abort": "by the abort",
                   "error": "after an error"}


@functools.cache
def templates() -> jinja2.Environment:
    """The report templates (``chaos/templates``), autoescaped: a value is text unless the code marks
    it :class:`markupsafe.Markup` (the SVG plots, built and escaped here, the CSS and the legend)."""
    return jinja2.Environment(loader=jinja2.PackageLoader("chaos", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _fault_view(fault: dict[str, Any], start: float) -> dict[str, Any]:
    injected = _num(fault.get("injected"))
    removed = _num(fault.get("removed"))
    return {"name": str(fault.get("fault")), "type": str(fault.get("type", "")),
            "description": str(fault.get("description", "")),
            "injected": None if injected is None else injected - start,
            "removed": None if removed is None else removed - start,
            "reason": _REMOVED_REASON.get(str(fault.get("removed_reason")), ""),
            "live": seconds(removed - injected) if removed is not None and injected is not None else ""}


def render_report(journal: dict[str, Any], context: Context | None = None) -> str:
    ours = journal.get("aftershock", {})
    events = ours.get("events", [])
    start = next((float(e["at"]) for e in events if isinstance(e.get("at"), int | float)), 0.0)
    decisions = [{"number": k, "offset": float(d["at"]) - start, "policy": str(d.get("policy")),
                  "action": action_label(d), "target": str(d.get("target") or ""),
                  "outcome": str((d.get("outcome") or {}).get("status", "not recorded")),
                  "why": evidence_text(d.get("evidence") or {})}
                 for k, d in enumerate(ours.get("decisions", []), start=1) if _num(d.get("at")) is not None]
    slos = [{"name": s["name"], "objective": s["objective"], "query": s.get("query", ""), "probe": s.get("probe"),
             "plot": Markup(plot_slo(s, journal, context))} for s in ours.get("slos", [])]
    return templates().get_template("run-report.html.j2").render(
        css=Markup(CSS), legend=Markup(LEGEND), run_id=str(ours.get("run_id", "")),
        experiment=str(ours.get("experiment", "")), verdict=str(ours.get("verdict", "?")),
        reason=str(ours.get("reason", "")), started=str(journal.get("start", "")), ended=str(journal.get("end", "")),
        duration=seconds(float(journal.get("duration") or 0)), target=str(ours.get("target", "")),
        source=str(ours.get("source", "")), faults=[_fault_view(f, start) for f in ours.get("faults", [])],
        kept=[str(k) for k in ours.get("kept", [])],
        timings=[(timing_label(k), seconds(float(v))) for k, v in (ours.get("timings") or {}).items()
                 if _num(v) is not None],
        slos=slos, context=bool(context), decisions=decisions, timeline=entries(journal))


def write_report(journal: dict[str, Any], path: str | Path, context: Context | None = None) -> Path:
    out = Path(path)
    text = render_report(journal, context)
    try:  # a report is 0600 like everything in the state dir (its own path if the user chose one)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    except OSError:
        out.write_text(text, encoding="utf-8")  # the caller's error handling, unchanged
        return out
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return out
