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


class EngineCallFailed(Message):
    """An engine call (launch, plan, abort, history …) raised; shown as an error notification."""

    def __init__(self, what: str, error: str) -> None:
        super().__init__()
        self.what = what
        self.error = error


class LaunchRequested(Message):
    """The user confirmed a launch on the detail screen."""

    def __init__(self, loaded: Loaded) -> None:
        super().__init__()
        self.loaded = loaded


class RunLaunched(Message):
    """The engine accepted a launch and gave it this id."""

    def __init__(self, run_id: str, experiment: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.experiment = experiment
