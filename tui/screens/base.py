"""Base class of the TUI's screens: typed access to the app's attributes (engine bridge, run
store, clock, experiments directory). Attributes go down from the app; messages go up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import ModalScreen, Screen

if TYPE_CHECKING:
    from tui.app import AftershockApp


class AppScreen(Screen[None]):
    @property
    def tui(self) -> AftershockApp:
        return cast("AftershockApp", self.app)


class AppModal(ModalScreen[bool]):
    @property
    def tui(self) -> AftershockApp:
        return cast("AftershockApp", self.app)
