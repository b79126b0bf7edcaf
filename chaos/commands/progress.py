"""Event printers for the CLI: plain progress lines, or NDJSON events (``--output json``).

Subscribers of the engine's event stream (``Engine.subscribe``); they print and hold no state
but the last SLO line (to avoid printing an unchanged tick every interval). ``TextPrinter`` prints
each event's own words (:func:`chaos.engine.wording.words`, as ``show``, the report and the TUI
say them) and chooses only the layout: a line each, a list's items indented, colours, stderr for
problems.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TextIO

import click

from chaos.engine import events as ev
from chaos.engine.wording import seconds, slo_line, timing_label, words
from chaos.secrets import scrub

COLOUR = {ev.RunStarted.kind: "cyan", ev.PolicyFired.kind: "magenta", ev.ActionApplied.kind: "magenta",
          ev.BreakerChanged.kind: "magenta", ev.FaultInjected.kind: "yellow", ev.FaultRemoved.kind: "yellow"}
"""Event → colour of its line where it differs from its severity's."""
SEVERITY_COLOUR = {"error": "red", "success": "green", "warning": "yellow", "info": None}


class NdjsonPrinter:
    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def __call__(self, event: ev.Event) -> None:
        self.out.write(json.dumps(event.to_dict(), default=str) + "\n")
        self.out.flush()


class TextPrinter:
    """One line per meaningful event; SLO ticks only when a status changes (or every 10 s)."""

    def __init__(self, color: bool | None = None) -> None:
        self.color = (sys.stdout.isatty() and not os.environ.get("NO_COLOR")) if color is None else color
        self._last_slo = ""
        self._last_slo_at = 0.0
        self._start: float | None = None

    def _line(self, at: float, text: str, fg: str | None = None, err: bool = False) -> None:
        """One line; problems (``err``) go to stderr so scripts can keep stdout for progress."""
        if self._start is None:
            self._start = at
        stamp = f"[{at - self._start:6.1f}s]"
        text = scrub(text)
        click.echo(f"{stamp} " + (click.style(text, fg=fg) if (self.color and fg) else text), err=err)

    def __call__(self, e: ev.Event) -> None:
        if isinstance(e, ev.SloSampled):
            statuses = ",".join(v.status for v in e.tick.verdicts)
            if statuses != self._last_slo or e.at - self._last_slo_at >= 10:
                self._last_slo, self._last_slo_at = statuses, e.at
                self._line(e.at, f"SLO {slo_line(e.tick.verdicts)}")
            return
        said = words(e)
        if said is None:
            return
        colour = COLOUR[e.kind] if e.kind in COLOUR else SEVERITY_COLOUR.get(said.severity)
        err = said.severity == "error" and isinstance(e, ev.PreflightRefused | ev.ActionFailed | ev.RunLog)
        if said.items:
            self._line(e.at, said.title, colour, err=err)
            for item in said.items:
                self._line(e.at, f"  {item}", colour if err else None, err=err)
        else:
            self._line(e.at, said.line(" — " if isinstance(e, ev.RunStarted | ev.RunFinished) else ": "), colour,
                       err=err)
        if isinstance(e, ev.RunFinished):
            for key, value in e.timings.items():
                self._line(e.at, f"  {timing_label(key)}: {seconds(value)}")
            if e.journal:
                self._line(e.at, f"journal: {e.journal}")
