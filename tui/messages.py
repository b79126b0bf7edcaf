"""Textual messages of the TUI (messages go up; attributes go down).

``EngineEvent`` is posted by :mod:`tui.bridge` (from the engine's thread; ``post_message`` is
thread-safe) to the app, which folds it into :class:`tui.state.RunStore` and tells the live
screen. The others are posted by screens to the app (launch requests, opening things).
"""

from __future__ import annotations

from textual.message import Message

from chaos.engine.events import Event
from chaos.loading import Loaded


class EngineEvent(Message):
    """One engine event, as is."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class LaunchRequested(Message):
    """The user confirmed a launch on the detail screen."""

    def __init__(self, loaded: Loaded, run_id: str | None = None) -> None:
        super().__init__()
        self.loaded = loaded
        self.run_id = run_id
        """A run id chosen by the caller (the demo knows its run's id before launching it)."""

