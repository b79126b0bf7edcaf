"""Schedules screen: experiments with ``spec.schedule`` and their next fire times (croniter in
the schedule's time zone, from the app's clock).
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from tui.library import Entry, next_fires, scan
from tui.screens.base import AppScreen
from tui.widgets.tables import fill_table


class SchedulesScreen(AppScreen):
    BINDINGS = [Binding("ctrl+r", "reload", "Reload")]

    def __init__(self) -> None:
        super().__init__()
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="schedules", cursor_type="row", zebra_stripes=True)
        yield Static(id="schedules-note")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Schedules"
        self.reload()

    @work(thread=True, exclusive=True, group="schedules")
    def reload(self) -> None:
        entries = scan(self.tui.experiments_dir)
        self.app.call_from_thread(self._show, entries)

    def _show(self, entries: list[Entry]) -> None:
        now = self.tui.clock()
        rows: list[list[object]] = []
        keys: list[str] = []
        for entry in entries:
            schedule = entry.schedule
            if schedule is None:
                continue
            fires = next_fires(schedule, now, 3)
            rows.append([entry.name, schedule.cron, schedule.timezone, fires[0].strftime("%a %Y-%m-%d %H:%M %Z"),
                         ", ".join(f.strftime("%m-%d %H:%M") for f in fires[1:])])
            keys.append(str(entry.path))
        fill_table(self.query_one(DataTable), ["Experiment", "Cron", "Time zone", "Next fire", "Then"], rows, keys)
        count = len(rows)
        note = f"{count} scheduled experiment(s)." if count else "No experiment has spec.schedule."
        self.query_one("#schedules-note", Static).update(Text(note, "dim"))
        self.loaded = True

    def action_reload(self) -> None:
        self.reload()
