"""Live progress view of ``aftershock run`` on an interactive terminal (rich ``Live``).

Shows, refreshed from the event stream: each SLO's value against its objective and status,
each fault with its countdown, the circuit breakers, and the last decisions. Non-interactive
output stays plain lines (``TextPrinter``); ``--output json`` stays NDJSON. A subscriber of
``Engine.subscribe``; no engine logic here.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from chaos.engine import events as ev

STYLE = {"ok": "green", "pending": "yellow", "breached": "bold red", "no-data": "magenta", "unavailable": "bold red"}


@dataclass
class _State:
    title: str = ""
    slos: dict[str, Any] = field(default_factory=dict)
    faults: dict[str, tuple[str, float, str]] = field(default_factory=dict)
    breakers: dict[str, tuple[str, int]] = field(default_factory=dict)
    log: deque[str] = field(default_factory=lambda: deque(maxlen=8))
    verdict: str = ""


class LiveView:
    """Use as a context manager around the run; subscribe the instance to the engine."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self.state = _State()
        self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.update(self._render())
        self._live.__exit__(None, None, None)

    def __call__(self, e: ev.RunEvent) -> None:
        s = self.state
        if isinstance(e, ev.RunStarted):
            s.title = f"run {e.run_id} · {e.experiment} · {e.target}"
        elif isinstance(e, ev.SloSampled | ev.SteadyStateChecked):
            verdicts = e.tick.verdicts if isinstance(e, ev.SloSampled) else e.verdicts
            for v in verdicts:
                if v.slo != "monitor":
                    s.slos[v.slo] = v
            if isinstance(e, ev.SteadyStateChecked):
                s.log.append(f"steady state {e.phase}: {'holds' if e.holds else 'does not hold'}")
        elif isinstance(e, ev.FaultInjected):
            s.faults[e.fault] = (e.description, e.deadline, "live")
        elif isinstance(e, ev.FaultRemoved):
            desc, deadline, _ = s.faults.get(e.fault, ("", 0.0, ""))
            s.faults[e.fault] = (desc, deadline, f"removed ({e.reason})")
            s.log.append(f"removed {e.fault} ({e.reason})")
        elif isinstance(e, ev.BreakerChanged):
            s.breakers[e.service] = (e.state, e.weight)
        elif isinstance(e, ev.PolicyFired):
            s.log.append(f"policy {e.policy} → {e.action} {e.target}")
        elif isinstance(e, ev.ActionFailed):
            s.log.append(f"FAILED {e.decision_id}: {e.error}")
        elif isinstance(e, ev.Reverted):
            s.log.append(("KEPT " if e.kept else "reverted ") + e.detail)
        elif isinstance(e, ev.RunFinished):
            s.verdict = f"verdict: {e.verdict} — {e.reason}"
        self._live.update(self._render())

    def _render(self) -> Group:
        s = self.state
        slos = Table(title=s.title or "aftershock", expand=True)
        for column in ("SLO", "value", "objective", "status", "consecutive"):
            slos.add_column(column)
        for name, v in s.slos.items():
            value = "—" if v.value is None else f"{v.value:.4g}"
            slos.add_row(name, value, v.objective, Text(v.status, style=STYLE.get(v.status, "")), str(v.consecutive))
        faults = Table(expand=True)
        for column in ("fault", "what", "left", "state"):
            faults.add_column(column)
        now = time.time()
        for name, (desc, deadline, state) in s.faults.items():
            left = f"{max(0.0, deadline - now):.0f}s" if state == "live" else "—"
            faults.add_row(name, desc, left, state)
        parts: list[Any] = [slos, faults]
        if s.breakers:
            parts.append(Text("  ".join(f"circuit {k}: {st} (weight {w})" for k, (st, w) in s.breakers.items()),
                              style="magenta"))
        parts.extend(Text(line) for line in s.log)
        if s.verdict:
            parts.append(Text(s.verdict, style="bold"))
        return Group(*parts)
