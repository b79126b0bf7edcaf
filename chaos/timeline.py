"""A run's journal as a readable event list: time offset, what happened, evidence in words.

Pure (journal dict → :class:`Entry` list). The words are each event's own
(:func:`chaos.engine.wording.words`, the same the live views use); this only places them in time for
the three places that show a run's history: ``aftershock show`` (text), the HTML report
(``chaos.report``) and the TUI's journal screen (``tui.screens.history``). ``--output json``
keeps the raw journal; nothing here is meant for machines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chaos.engine.wording import words


@dataclass(frozen=True)
class Entry:
    offset: float
    """Seconds since the run started."""
    title: str
    detail: str = ""
    severity: str = "info"
    """info, warning, error, success."""


def entries(journal: dict[str, Any]) -> list[Entry]:
    """The run's events, in order, as readable entries (SLO ticks are in the plots, not here)."""
    ours = journal.get("aftershock")
    events = ours.get("events", []) if isinstance(ours, dict) else []
    if not events and isinstance(ours, dict) and isinstance(ours.get("timeline"), list):
        events = [e for e in ours["timeline"] if isinstance(e, dict) and "event" in e]  # events kept inline
    events = [e for e in events if isinstance(e, dict)]
    if not events:
        return []
    start = next((float(e["at"]) for e in events if isinstance(e.get("at"), int | float)), 0.0)
    out: list[Entry] = []
    for event in events:
        said = words(event)
        if said is None:
            continue
        at = event.get("at")
        offset = float(at) - start if isinstance(at, int | float) else 0.0
        out.append(Entry(offset, said.title, said.detail, said.severity))
    return out
