"""Live progress view of ``aftershock run`` on an interactive terminal (rich ``Live``).

Shows, refreshed from the event stream: each SLO's value against its objective and status,
each fault with its countdown, the circuit breakers, and the last decisions. The events are
folded by the engine's one fold (:func:`chaos.engine.fold.fold`, the TUI's too); this module only
renders. Non-interactive output stays plain lines (``TextPrinter``); ``--output json`` stays
NDJSON. A subscriber of ``Engine.subscribe``; no engine logic here.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from chaos.engine import events as ev
from chaos.engine.fold import RunView, fold

STYLE = {"ok": "green", "pending": "yellow", "breached": "bold red", "no-data": "magenta", "unavailable": "bold red"}


class LiveView:
    """Use as a context manager around the run; subscribe the instance to the engine."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self.run: RunView | None = None
        self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.update(self._render())
        self._live.__exit__(None, None, None)

    def __call__(self, e: ev.Event) -> None:
        if self.run is None or self.run.run_id != e.run_id:
            self.run = RunView(run_id=e.run_id, started=e.at)
        fold(self.run, e)
        self._live.update(self._render())

    def _render(self) -> Group:
        run = self.run
        title = f"run {run.run_id} · {run.experiment} · {run.target}" if run is not None else "aftershock"
        slos = Table(title=title, expand=True)
        for column in ("SLO", "value", "objective", "status", "consecutive"):
            slos.add_column(column)
        faults = Table(expand=True)
        for column in ("fault", "what", "left", "state"):
            faults.add_column(column)
        parts: list[Any] = [slos, faults]
        if run is None:
            return Group(*parts)
        for name, v in run.slos.items():
            value = "—" if v.value is None else f"{v.value:.4g}"
            slos.add_row(name, value, v.objective, Text(v.status, style=STYLE.get(v.status, "")), str(v.consecutive))
        now = time.time()
        for name, f in run.faults.items():
            state = "live" if f.live else f"removed ({f.reason})" if f.removed_at is not None else "planned"
            left = f"{max(0.0, f.deadline - now):.0f}s" if f.live else "—"
            faults.add_row(name, f.description, left, state)
        if run.breakers:
            parts.append(Text("  ".join(f"circuit {b.service}: {b.state} (weight {b.weight})"
                                        for b in run.breakers.values()), style="magenta"))
        parts.extend(Text(f"{d.title}  {d.detail}".rstrip()) for d in list(run.decisions)[-8:])
        if run.finished:
            parts.append(Text(f"verdict: {run.verdict} — {run.reason}", style="bold"))
        return Group(*parts)
