"""Event printers for the CLI: plain progress lines, or NDJSON events (``--output json``).

Subscribers of the engine's event stream (``Engine.subscribe``); they print and hold no state
but the last SLO line (to avoid printing an unchanged tick every interval). ``TextPrinter`` matches
the closed event union (``assert_never``): a new event type must be given its line here.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TextIO, assert_never

import click

from chaos.engine import events as ev
from chaos.secrets import scrub
from chaos.timeline import seconds, timing_label

STATUS_MARK = {"ok": "✓", "pending": "…", "breached": "✗", "no-data": "?", "unavailable": "!"}


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
        match e:
            case ev.RunStarted():
                self._line(e.at, f"run {e.run_id}: {e.experiment} on {e.target}"
                           f"{' (dry run)' if e.dry_run else ''} — faults {', '.join(e.faults)}", "cyan")
            case ev.PreflightPassed():
                for check in e.checks:
                    self._line(e.at, f"pre-flight ✓ {check}")
                for target in e.targets:
                    self._line(e.at, f"target: {target}")
            case ev.PreflightRefused():
                self._line(e.at, f"pre-flight refused: {e.reason}", "red", err=True)
                for d in e.details:
                    self._line(e.at, f"  {d}", "red", err=True)
            case ev.SteadyStateChecked():
                verdicts = ", ".join(f"{v.slo}={_fmt(v.value)} {STATUS_MARK.get(v.status, v.status)}" for v in e.verdicts)
                self._line(e.at, f"steady state {e.phase}: {'holds' if e.holds else 'does NOT hold'} ({verdicts})",
                           "green" if e.holds else "red")
            case ev.FaultRecorded():
                self._line(e.at, f"recorded {e.fault} (write-ahead), deadline in {e.deadline - e.at:.0f}s")
            case ev.FaultInjected():
                self._line(e.at, f"injected {e.fault}: {e.description}", "yellow")
            case ev.SloSampled():
                text = "  ".join(f"{v.slo} {_fmt(v.value)} {v.objective} {STATUS_MARK.get(v.status, v.status)}"
                                 for v in e.tick.verdicts if v.slo != "monitor")
                statuses = ",".join(v.status for v in e.tick.verdicts)
                if statuses != self._last_slo or e.at - self._last_slo_at >= 10:
                    self._last_slo, self._last_slo_at = statuses, e.at
                    self._line(e.at, f"SLO {text}")
            case ev.PolicyFired():
                self._line(e.at, f"policy {e.policy} fired → {e.action} {e.target} "
                           f"({e.evidence.get('reason') or e.evidence.get('summary', '')})", "magenta")
            case ev.ActionApplied():
                self._line(e.at, f"applied {e.decision_id}: {e.detail}", "magenta")
            case ev.ActionFailed():
                self._line(e.at, f"action {e.decision_id} FAILED: {e.error}", "red", err=True)
            case ev.BreakerChanged():
                self._line(e.at, f"circuit {e.service}: {e.state} (weight {e.weight})", "magenta")
            case ev.FaultShrunk():
                self._line(e.at, f"shrunk {e.fault}: {e.params}")
            case ev.FaultRemoved():
                self._line(e.at, f"removed {e.fault} ({e.reason})", "yellow")
            case ev.Reverted():
                self._line(e.at, ("KEPT (not reverted): " if e.kept else "reverted: ") + e.detail,
                           "red" if e.kept else None)
            case ev.SteadyStateRestored():
                self._line(e.at, f"steady state restored after {e.seconds:.1f}s", "green")
            case ev.RunLog():
                self._line(e.at, f"{e.level}: {e.message}", "red" if e.level == "error" else None,
                           err=e.level == "error")
            case ev.RunFinished():
                colour = {"passed": "green", "deviated": "yellow", "aborted": "magenta"}.get(e.verdict, "red")
                self._line(e.at, f"verdict: {e.verdict} — {e.reason}", colour)
                for key, value in e.timings.items():
                    self._line(e.at, f"  {timing_label(key)}: {seconds(value)}")
                if e.journal:
                    self._line(e.at, f"journal: {e.journal}")
            case _:
                assert_never(e)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"

