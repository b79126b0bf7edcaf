"""Experiments screen: the library of the experiments directory with validation status,
target, faults, SLOs and schedule; invalid files are listed with their errors. Fuzzy filter.

Enter opens :class:`tui.screens.detail.DetailScreen`. Files are loaded in a thread worker.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.fuzzy import Matcher
from textual.widgets import DataTable, Footer, Header, Input, Static

from tui.library import Entry, scan
from tui.screens.base import AppScreen
from tui.widgets.panels import WhereBar
from tui.widgets.tables import fill_table


def rank(query: str, entries: list[Entry]) -> list[Entry]:
    """Entries matching ``query`` (fuzzy), best first: exact name, name prefix, name substring, score."""
    matcher = Matcher(query)
    lowered = query.lower()
    scored = []
    for index, entry in enumerate(entries):
        score = matcher.match(entry.haystack)
        if score <= 0:
            continue
        name = entry.name.lower()
        scored.append(((name == lowered, name.startswith(lowered), lowered in name, score), index, entry))
    scored.sort(key=lambda item: (tuple(-float(k) for k in item[0]), item[1]))
    return [entry for _, _, entry in scored]


class ExperimentsScreen(AppScreen):
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("enter", "open", "Open", show=False),
        Binding("ctrl+r", "reload", "Reload"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[Entry] = []
        self.shown: list[Entry] = []
        self.loaded = False
        self._query: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield WhereBar(self.tui.where)
        yield Input(placeholder="/ fuzzy filter: name, target, fault, SLO, file", id="filter")
        yield DataTable(id="experiments", cursor_type="row", zebra_stripes=True)
        yield Static(id="preview")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Experiments"
        self.query_one(DataTable).focus()
        self.load()

    @work(thread=True, exclusive=True, group="library")
    def load(self) -> None:
        entries = scan(self.tui.experiments_dir)
        self.app.call_from_thread(self._loaded, entries)

    def _loaded(self, entries: list[Entry]) -> None:
        self.entries = entries
        self.loaded = True
        self.refilter(force=True)

    def refilter(self, force: bool = False) -> None:
        query = self.query_one("#filter", Input).value.strip()
        if not force and query == self._query:
            return
        self._query = query
        if query:
            self.shown = rank(query, self.entries)
        else:
            self.shown = list(self.entries)
        rows: list[list[object]] = []
        for entry in self.shown:
            mark = Text("✓", "green") if entry.valid else Text("✗", "bold red")
            if entry.loaded is not None:
                faults = ", ".join(sorted({getattr(f, "type", "?") for f in entry.loaded.experiment.spec.faults}))
                schedule = entry.schedule.cron if entry.schedule else ""
                rows.append([mark, entry.name, entry.target, faults, str(len(entry.loaded.experiment.spec.slos)),
                             schedule])
            else:
                rows.append([mark, Text(entry.name, "red"), "-", Text("invalid", "red"), "", ""])
        fill_table(self.query_one(DataTable), [" ", "Name", "Target", "Faults", "SLOs", "Schedule"], rows,
                   [str(e.path) for e in self.shown])
        self.sub_title = f"Experiments · {len(self.shown)}/{len(self.entries)} in {self.tui.experiments_dir}"
        self.show_preview()

    def highlighted(self) -> Entry | None:
        table = self.query_one(DataTable)
        if not self.shown or table.cursor_row < 0 or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row]

    def show_preview(self) -> None:
        entry = self.highlighted()
        preview = self.query_one("#preview", Static)
        if entry is None:
            folder = self.tui.experiments_dir
            if self.entries:
                message = "No experiments match."
            elif not folder.is_dir():
                message = f"No folder {folder}: `aftershock init {folder}` writes the example experiments there."
            else:
                message = f"No experiment files (*.yaml) in {folder}."
            preview.update(Text(message, "dim"))
            return
        text = Text()
        text.append(f"{entry.path}\n", "dim")
        if not entry.valid:
            text.append("invalid — fix before it can run:\n", "bold red")
            for problem in entry.problems:
                text.append(f"  ✗ {problem}\n", "red")
        elif entry.loaded is not None:
            exp = entry.loaded.experiment
            text.append(exp.metadata.description or exp.name, "bold")
            text.append("\n")
            text.append("faults: ", "bold")
            text.append(entry.faults + "\n")
            text.append("SLOs: ", "bold")
            text.append(", ".join(f"{s.name} {s.objective}" for s in exp.spec.slos) + "\n")
            if entry.schedule:
                text.append("schedule: ", "bold")
                text.append(f"{entry.schedule.cron} ({entry.schedule.timezone})\n")
        preview.update(text)

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self.refilter()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(DataTable).focus()

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self.show_preview()

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_open()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        self.query_one(DataTable).focus()

    def action_reload(self) -> None:
        self.load()

    def action_open(self) -> None:
        entry = self.highlighted()
        if entry is None:
            return
        from tui.screens.detail import DetailScreen

        self.app.push_screen(DetailScreen(entry))
