"""Help screen: every key binding of the app and of each screen, read from their BINDINGS
(so the list cannot drift from the code)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from tui.screens.base import AppModal

_KEY_NAMES = {"slash": "/", "question_mark": "?", "left_square_bracket": "[", "right_square_bracket": "]",
              "escape": "esc", "enter": "enter"}


def key_text(key: str) -> str:
    return ", ".join(_KEY_NAMES.get(k.strip(), k.strip()) for k in key.split(","))


def bindings_table(sections: list[tuple[str, list[Binding]]]) -> Table:
    table = Table(show_header=True, header_style="bold", expand=True, box=None, padding=(0, 1))
    table.add_column("Where", style="bold", no_wrap=True)
    table.add_column("Key", no_wrap=True)
    table.add_column("Does")
    for title, bindings in sections:
        first = True
        for binding in bindings:
            table.add_row(title if first else "", key_text(binding.key), binding.description or binding.action)
            first = False
    return table


class HelpScreen(AppModal):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, sections: list[tuple[str, list[Binding]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(Text("Aftershock — keys (mouse works too: click rows, tabs, buttons)", "bold"))
            with VerticalScroll():
                yield Static(bindings_table(self.sections))
            yield Static(Text("esc closes", "dim"))

    def action_close(self) -> None:
        self.dismiss(False)
