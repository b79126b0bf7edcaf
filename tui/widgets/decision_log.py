"""``DecisionLog``: the run's decisions with their evidence (PolicyFired, ActionApplied,
ActionFailed, Reverted, breaker changes, removed faults), newest at the bottom.

Fed by the live screen from :class:`tui.state.RunView`; :func:`format_decision` is pure.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import RichLog

from tui.state import Decision, RunView
from tui.widgets.slo_chart import fmt

_MARK = {"info": ("·", ""), "warning": ("▲", "bold yellow"), "error": ("✖", "bold red"),
         "success": ("✔", "green")}


def format_evidence(evidence: dict[str, Any]) -> str:
    if not evidence:
        return ""
    slo = evidence.get("slo")
    if slo is not None and "value" in evidence:
        value = evidence.get("value")
        text = f"{slo} = {fmt(value) if isinstance(value, int | float) else value}"
        if evidence.get("objective"):
            text += f" (objective {evidence['objective']})"
        if evidence.get("consecutive"):
            text += f", {evidence['consecutive']} tick(s) breaching"
        return text
    return ", ".join(f"{k}={v}" for k, v in evidence.items() if k not in ("query",))


def format_decision(decision: Decision, started: float) -> Text:
    mark, style = _MARK.get(decision.severity, ("·", ""))
    text = Text(no_wrap=False)
    text.append(f"{decision.at - started:+7.1f}s ", "dim")
    text.append(f"{mark} ", style)
    text.append(decision.title, style or None)
    if decision.detail:
        text.append(f"  {decision.detail}", "dim")
    evidence = format_evidence(decision.evidence)
    if evidence:
        text.append(f"\n{'':11}evidence: {evidence}", "italic")
    return text


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
            self.write(format_decision(decision, run.started))
        self.written = run.decision_total
