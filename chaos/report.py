"""A self-contained HTML report of one run: a plot per SLO (value over time, the objective
line, the fault window shaded, policy actions marked), the verdict, timings and decisions.

Inline SVG, no scripts, no external assets: the file can be mailed or attached to a ticket.
Pure (journal dict → HTML string); ``write_report`` is the one function that writes a file.
Called by ``aftershock report``, the demo and the TUI history.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

W, H, PAD = 760, 220, 46


def _num(value: Any) -> float | None:
    if isinstance(value, int | float) and math.isfinite(float(value)):
        return float(value)
    return None


def _plot(slo: dict[str, Any], journal: dict[str, Any]) -> str:
    ours = journal.get("aftershock", {})
    points = [(t["at"], _num(v.get("value")), v.get("status")) for t in ours.get("timeline", [])
              for v in t.get("verdicts", []) if v.get("slo") == slo["name"]]
    if not points:
        return f"<p class=muted>No samples for {html.escape(slo['name'])}.</p>"
    objective = slo.get("objective", "")
    try:
        threshold: float | None = float(objective.split()[-1])
    except (ValueError, IndexError):
        threshold = None
    t0: float = float(min(p[0] for p in points))
    t1: float = float(max(max(p[0] for p in points), t0 + 1))
    values = [p[1] for p in points if p[1] is not None] + ([threshold] if threshold is not None else [])
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-9:
        hi = lo + 1.0
    lo, hi = lo - (hi - lo) * 0.05, hi + (hi - lo) * 0.1

    def x(t: float) -> float:
        return PAD + (t - t0) / (t1 - t0) * (W - PAD - 10)

    def y(v: float) -> float:
        return H - 24 - (v - lo) / (hi - lo) * (H - 34)

    parts = [f'<svg viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{html.escape(slo["name"])}">']
    for fault in ours.get("faults", []):
        a = max(fault.get("injected", t0), t0)
        b = min(fault.get("removed", fault.get("deadline", t1)), t1)
        if b > a:
            parts.append(f'<rect x="{x(a):.1f}" y="10" width="{x(b) - x(a):.1f}" height="{H - 34}" '
                         f'class="fault"><title>fault {html.escape(fault["fault"])}</title></rect>')
    if threshold is not None:
        parts.append(f'<line x1="{PAD}" x2="{W - 10}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" '
                     f'class="objective"/><text x="{W - 12}" y="{y(threshold) - 4:.1f}" text-anchor="end" '
                     f'class="label">objective {html.escape(objective)}</text>')
    path, pen = [], "M"
    for t, v, _status in points:
        if v is None:
            pen = "M"
            continue
        path.append(f"{pen}{x(t):.1f},{y(v):.1f}")
        pen = "L"
    parts.append(f'<path d="{" ".join(path)}" class="series"/>')
    for t, v, status in points:
        if v is not None and status in ("breached", "pending"):
            parts.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5" class="{status}"/>')
    for d in ours.get("decisions", []):
        parts.append(f'<line x1="{x(d["at"]):.1f}" x2="{x(d["at"]):.1f}" y1="10" y2="{H - 24}" class="action">'
                     f'<title>{html.escape(d["policy"])}: {html.escape(d["action"])}</title></line>'
                     f'<text x="{x(d["at"]) + 3:.1f}" y="20" class="label">{html.escape(d["action"])}</text>')
    for frac in (0.0, 0.5, 1.0):
        v = lo + (hi - lo) * frac
        parts.append(f'<text x="{PAD - 4}" y="{y(v) + 4:.1f}" text-anchor="end" class="axis">{v:.3g}</text>')
    parts.append(f'<text x="{PAD}" y="{H - 6}" class="axis">0 s</text><text x="{W - 10}" y="{H - 6}" '
                 f'text-anchor="end" class="axis">{t1 - t0:.0f} s</text></svg>')
    return "".join(parts)


CSS = """
body{font:14px/1.45 system-ui,sans-serif;max-width:820px;margin:2em auto;color:#1d232a;padding:0 1em}
h1{font-size:1.4em}.verdict{display:inline-block;padding:.1em .6em;border-radius:4px;color:#fff}
.passed{background:#2e7d32}.deviated{background:#ef6c00}.failed,.error,.unsteady,.invalid{background:#c62828}
.aborted{background:#6a1b9a}.muted{color:#777}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.3em;text-align:left;vertical-align:top}
svg .fault{fill:#ffcdd2;opacity:.6}svg .objective{stroke:#c62828;stroke-dasharray:5 4}
svg .series{fill:none;stroke:#1565c0;stroke-width:2}svg .action{stroke:#6a1b9a;stroke-width:1.5}
svg .breached{fill:#c62828}svg .pending{fill:#ef6c00}svg .label,svg .axis{font-size:11px;fill:#555}
code{background:#f3f3f3;padding:0 .2em}
"""


def render_report(journal: dict[str, Any]) -> str:
    ours = journal.get("aftershock", {})
    verdict = str(ours.get("verdict", "?"))
    esc = html.escape
    rows = "".join(f"<tr><td>{esc(k.replace('_', ' '))}</td><td>{v} s</td></tr>"
                   for k, v in ours.get("timings", {}).items())
    decisions = "".join(
        f"<tr><td>{esc(d['policy'])}</td><td>{esc(d['action'])}</td><td>{esc(str(d.get('target', '')))}</td>"
        f"<td>{esc(str((d.get('outcome') or {}).get('status', '')))}</td>"
        f"<td><code>{esc(str(d.get('evidence', {}))[:300])}</code></td></tr>"
        for d in ours.get("decisions", []))
    plots = "".join(f"<h3>{esc(s['name'])} <span class=muted>{esc(s['objective'])}</span></h3>"
                    f"<p class=muted><code>{esc(s['query'])}</code></p>{_plot(s, journal)}"
                    for s in ours.get("slos", []))
    kept = "".join(f"<li><b>KEPT, not reverted:</b> {esc(k)}</li>" for k in ours.get("kept", []))
    faults = "".join(f"<li>{esc(f['fault'])}: {esc(f.get('description', ''))} "
                     f"(removed: {esc(str(f.get('removed_reason', 'not recorded')))})</li>"
                     for f in ours.get("faults", []))
    return f"""<!doctype html><html lang=en><head><meta charset=utf-8>
<title>Aftershock run {esc(str(ours.get('run_id', '')))}</title><style>{CSS}</style></head><body>
<h1>{esc(str(ours.get('experiment', '')))} — run {esc(str(ours.get('run_id', '')))}
 <span class="verdict {esc(verdict)}">{esc(verdict)}</span></h1>
<p>{esc(str(ours.get('reason', '')))}</p>
<p class=muted>{esc(journal.get('start', ''))} → {esc(journal.get('end', ''))} ({journal.get('duration', 0)} s),
target {esc(str(ours.get('target', '')))}, source {esc(str(ours.get('source', '')))}</p>
<ul>{faults}{kept}</ul>
<h2>Timings</h2><table>{rows or '<tr><td class=muted>no breach</td></tr>'}</table>
<h2>SLOs</h2>{plots}
<h2>Decisions</h2><table><tr><th>policy</th><th>action</th><th>target</th><th>outcome</th><th>evidence</th></tr>
{decisions or '<tr><td colspan=5 class=muted>none</td></tr>'}</table>
</body></html>
"""


def write_report(journal: dict[str, Any], path: str | Path) -> Path:
    out = Path(path)
    out.write_text(render_report(journal), encoding="utf-8")
    return out
