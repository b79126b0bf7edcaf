"""``DecisionLog``: the run's decisions with their evidence (PolicyFired, ActionApplied,
ActionFailed, Reverted, breaker changes, removed faults), newest at the bottom.

Fed by the live screen from :class:`tui.state.RunView`; :func:`format_decision` is pure and lays out
the event's own words (:mod:`chaos.engine.wording`, as ``show`` and the report say them).
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import RichLog

from tui.state import LogEntry, RunView

_MARK = {"info": ("·", ""), "warning": ("▲", "bold yellow"), "error": ("✖", "bold red"),
         "success": ("✔", "green")}


def format_decision(decision: LogEntry, started: float) -> Table:
    """One decision: its time and mark in their own columns, its words beside them (a wrapped line
    stays under the words, not under the time)."""
    mark, style = _MARK.get(decision.severity, ("·", ""))
    body = Text()
    body.append(decision.title, style or None)
    if decision.evidence and decision.detail:  # a fired policy: why, on its own line
        body.append(f"\nevidence: {decision.detail}", "italic")
    elif decision.detail:
        body.append(f"  {decision.detail}", "dim")
    row = Table.grid(padding=(0, 1, 0, 0), expand=True)
    row.add_column(width=8, justify="right", style="dim", no_wrap=True)
    row.add_column(width=1, no_wrap=True)
    row.add_column(ratio=1)
    row.add_row(f"{decision.at - started:+.1f}s", Text(mark, style or ""), body)
    return row


class DecisionLog(RichLog):
    DEFAULT_CSS = """
    DecisionLog { height: 7; border-top: solid $primary 50%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=True, markup=False, max_lines=1000, auto_scroll=True)
        self.run_id: str | None = None
        self.written = 0

    def show(self, run: RunView | None) -> None:
        """Show ``run``'s decisions (rewriting the log when the run changed, appending otherwise)."""
        if run is None:
            if self.run_id is not None:
                self.clear()
            self.run_id, self.written = None, 0
            return
        if run.run_id != self.run_id:
            self.clear()
            self.run_id, self.written = run.run_id, 0
        new = run.decision_total - self.written
        if new <= 0:
            return
        for decision in list(run.decisions)[-min(new, len(run.decisions)):]:
            self.write(format_decision(decision, run.started), expand=True)
        self.written = run.decision_total
