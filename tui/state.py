"""What the TUI knows about runs: one :class:`~chaos.engine.fold.RunView` per run.

:class:`RunStore` is fed by the app (one :meth:`RunStore.apply` per ``EngineEvent`` message
from :mod:`tui.bridge`) and read by the live screen and its widgets. The fold itself is the
engine's (:func:`chaos.engine.fold.fold`, shared with the CLI's live view); this module keeps
the views of every run and re-exports the view types the widgets draw. Pure Python: no
Textual, no I/O.
"""

from __future__ import annotations

from chaos.engine.events import Event
from chaos.engine.fold import (
    MAX_DECISIONS,
    MAX_POINTS,
    BreakerView,
    FaultView,
    LogEntry,
    Point,
    RunView,
    SloView,
    fold,
    parse_objective,
)

__all__ = [
    "MAX_DECISIONS",
    "MAX_POINTS",
    "BreakerView",
    "FaultView",
    "LogEntry",
    "Point",
    "RunStore",
    "RunView",
    "SloView",
    "parse_objective",
]


class RunStore:
    """Every run the TUI has seen events of, in launch order."""

    def __init__(self) -> None:
        self.runs: dict[str, RunView] = {}

    def get(self, run_id: str) -> RunView | None:
        return self.runs.get(run_id)

    def alive(self) -> list[RunView]:
        return [r for r in self.runs.values() if not r.finished]

    def apply(self, event: Event) -> RunView:
        """Fold one event into its run (creating the run view on first sight)."""
        run = self.runs.get(event.run_id)
        if run is None:
            run = self.runs[event.run_id] = RunView(run_id=event.run_id, started=event.at)
        return fold(run, event)
