"""History screen: past runs (``EngineAPI.history()``) with verdicts; enter opens a run's
journal (timeline, decisions, rollbacks — whatever keys the journal has), ``x`` there exports
the HTML report through ``chaos.report.write_report`` into the state dir's ``reports/``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static

from chaos.engine.api import RunSummary
from tui.screens.base import AppScreen
from tui.widgets.panels import WhereBar
from tui.widgets.tables import fill_table

VERDICT_STYLE = {"passed": "green", "deviated": "yellow", "failed": "bold red", "aborted": "magenta",
                 "running": "bold cyan", "unsteady": "red", "invalid": "red", "error": "red"}


def when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class HistoryScreen(AppScreen):
    BINDINGS = [Binding("enter", "open", "Open", show=False), Binding("ctrl+r", "reload", "Reload")]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[RunSummary] = []
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield WhereBar(self.tui.where)
        yield DataTable(id="history", cursor_type="row", zebra_stripes=True)
        yield Static(id="history-note")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "History"
        self.tui.run_finished.subscribe(self, lambda _run_id: self.reload())
        self.reload()

    def on_screen_resume(self) -> None:
        if self.loaded:
            self.reload()

    @work(exclusive=True, group="history")
    async def reload(self) -> None:
        try:
            rows = await self.tui.bridge.call_sync(self.tui.engine.history, 100)
        except Exception as exc:
            self.query_one("#history-note", Static).update(Text(f"history unavailable: {exc}", "red"))
            return
        self.rows = list(rows)
        self.loaded = True
        cells: list[list[object]] = []
        for row in self.rows:
            verdict = Text(row.verdict + (" (live)" if row.alive and row.verdict != "running" else ""),
                           VERDICT_STYLE.get(row.verdict, ""))
            cells.append([row.run_id, row.experiment, verdict, when(row.started), duration(row.duration)])
        fill_table(self.query_one(DataTable), ["Run", "Experiment", "Verdict", "Started (UTC)", "Duration"],
                   cells, [row.run_id for row in self.rows])
        note = f"{len(self.rows)} run(s). Enter opens a run's journal." if self.rows else "No runs yet."
        self.query_one("#history-note", Static).update(Text(note, "dim"))

    @on(DataTable.RowSelected)
    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return
        self.app.push_screen(JournalScreen(self.rows[table.cursor_row].run_id))

    def action_reload(self) -> None:
        self.reload()


_SEVERITY_STYLE = {"info": "", "warning": "yellow", "error": "bold red", "success": "green"}


def render_journal(journal: dict[str, Any], run_id: str) -> Text:
    """The run as a readable timeline (``chaos.timeline``, the wording of ``aftershock show``)."""
    from chaos.engine.wording import seconds, timing_label
    from chaos.timeline import entries

    ours = journal.get("aftershock")
    ours = ours if isinstance(ours, dict) else {}
    text = Text()
    text.append(f"Run {ours.get('run_id') or run_id}", "bold")
    if ours.get("experiment"):
        text.append(f" · {ours['experiment']}")
    text.append("\n")
    run = journal.get("run")
    verdict = ours.get("verdict") or (run.get("verdict") if isinstance(run, dict) else None)
    if verdict:
        text.append("verdict ")
        text.append(str(verdict), VERDICT_STYLE.get(str(verdict), "bold"))
        if ours.get("reason"):
            text.append(f" — {ours['reason']}")
        text.append("\n")
    if journal.get("start"):
        text.append(f"{journal.get('start')} → {journal.get('end')} "
                    f"({seconds(float(journal.get('duration') or 0))})\n", "dim")
    timings = ours.get("timings") or {}
    if timings:
        text.append("timings: ", "bold")
        text.append(" · ".join(f"{timing_label(k)} {seconds(float(v))}" for k, v in timings.items()) + "\n")
    text.append("\nTimeline\n", "bold underline")
    items = entries(journal)
    if not items:
        text.append("no events recorded\n", "dim")
    for entry in items:
        text.append(f"{entry.offset:+7.1f}s ", "dim")
        text.append(entry.title, _SEVERITY_STYLE.get(entry.severity, "") or None)
        text.append("\n")
        if entry.detail:
            text.append(f"{'':9}{entry.detail}\n", "dim")
    for kept in ours.get("kept", []) or []:
        text.append(f"KEPT (not reverted): {kept}\n", "bold yellow")
    text.rstrip()
    return text


class JournalScreen(AppScreen):
    BINDINGS = [Binding("escape", "back", "Back"), Binding("x", "export", "Export HTML report")]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.journal: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(Text("loading journal…", "dim"), id="journal")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"Run {self.run_id}"
        self.load()

    @work(exclusive=True, group="journal")
    async def load(self) -> None:
        body = self.query_one("#journal", Static)
        try:
            journal = await self.tui.bridge.call_sync(self.tui.engine.journal, self.run_id)
        except Exception as exc:
            body.update(Text(f"journal unavailable: {exc!r}", "red"))
            return
        self.journal = journal if isinstance(journal, dict) else {"run": journal}
        body.update(render_journal(self.journal, self.run_id))

    @work(exclusive=True, group="export", thread=True)
    def action_export(self) -> None:
        if self.journal is None:
            self.app.call_from_thread(self.notify, "journal not loaded yet", severity="warning")
            return
        from chaos.report import report_path, write_report

        if self.tui.state_dir is None:
            self.app.call_from_thread(self.notify, "no state dir known: the report has nowhere to go",
                                      severity="warning")
            return
        path = report_path(self.tui.state_dir, self.run_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_report(self.journal, path)
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"report failed: {exc}", severity="error")
            return
        self.app.call_from_thread(self.notify, f"report written to {path}")

    def action_back(self) -> None:
        self.app.pop_screen()
