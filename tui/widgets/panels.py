"""Side panels of the live screen: run status line, faults with countdowns, circuit breakers.

Pure render functions over :class:`tui.state.RunView` plus thin ``Static`` subclasses; the
countdown uses the app's clock (injected, so tests on a virtual clock are deterministic).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.state import RunView

_VERDICT_STYLE = {"passed": "bold green", "deviated": "bold yellow", "failed": "bold red",
                  "aborted": "bold magenta", "unsteady": "bold red", "invalid": "bold red", "error": "bold red"}


def countdown(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.999))
    return f"{seconds // 60}:{seconds % 60:02d}"


def status_text(run: RunView, now: float) -> Text:
    """One line (80 columns): verdict or phase, elapsed time, live faults, the monitor's health.

    The experiment and run id are on the run's tab just above; the finish reason comes last
    (the decision log has it whole)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if run.finished:
        text.append(run.verdict.upper(), _VERDICT_STYLE.get(run.verdict, "bold"))
        text.append(f" (exit {run.exit_code})")
    else:
        phase = {"recovering": "recovering: awaiting the steady state",
                 "steady-state": "checking the steady state", "injecting": "watching the SLOs"}.get(run.phase, run.phase)
        text.append(phase, "bold cyan")
        live = len(run.live_faults())
        text.append(f" · +{max(0.0, max(now, run.last) - run.started):.0f}s · {live} fault{'' if live == 1 else 's'} live")
    monitor = run.monitor
    if monitor is not None:
        text.append(" · ")
        if monitor.status == "ok":
            text.append("monitor ok", "green")
        else:
            polls = "" if monitor.value is None else f": {monitor.value:g} failed poll(s)"
            text.append(f"monitor {monitor.status}{polls} (allowed: {monitor.objective})", "bold red")
    if run.finished and run.reason:
        text.append(f" · {run.reason}", "dim")
    return text


def where_text(where: str) -> Text:
    return Text(where, style="dim", no_wrap=True, overflow="ellipsis")


def faults_text(run: RunView, now: float) -> Text:
    """Per fault: its name, then its state and what it is on lines of their own (the side panel
    is ~24 columns at 80x24: wrapped lines start at the left edge, never mid-indent)."""
    text = Text()
    text.append("Faults\n", "bold underline")
    if not run.faults:
        text.append("none yet\n", "dim")
    for fault in run.faults.values():
        if fault.live:
            text.append("● ", "bold red")
            text.append(f"{fault.name}\n")
            text.append(f"{countdown(fault.deadline - now)} left\n", "bold")
        elif fault.removed_at is not None:
            text.append("○ ", "green")
            text.append(f"{fault.name}\n")
            text.append(f"removed ({fault.reason})\n", "dim")
        else:
            text.append("◌ ", "dim")
            text.append(f"{fault.name}\npending\n", "dim")
        if fault.description:
            text.append(f"{fault.description}\n", "dim")
        if fault.shrunk:
            text.append("shrunk: " + ", ".join(f"{k}={v}" for k, v in fault.shrunk.items()) + "\n", "yellow")
    return text


def breakers_text(run: RunView) -> Text:
    text = Text()
    text.append("Circuit breakers\n", "bold underline")
    if not run.breakers:
        text.append("none\n", "dim")
    for breaker in run.breakers.values():
        style = {"open": "bold red", "half-open": "bold yellow", "closed": "green"}.get(breaker.state, "")
        text.append(f"{breaker.service} ")
        text.append(breaker.state.upper(), style)
        text.append(f" weight {breaker.weight}\n")
        text.append(f"  policy {breaker.policy}\n", "dim")
    return text


class WhereBar(Static):
    """One dim line: where the TUI points (kube context/namespace, Prometheus URL, state dir)."""

    DEFAULT_CSS = "WhereBar { height: 1; padding: 0 1; }"

    def __init__(self, where: str) -> None:
        super().__init__(where_text(where or "where: not known"))


class FaultsPanel(Static):
    pass


class BreakersPanel(Static):
    pass
