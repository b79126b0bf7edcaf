"""History screen: past runs (``EngineAPI.history()``) with verdicts; enter opens a run's
journal (timeline, decisions, rollbacks — whatever keys the journal has), ``x`` there exports
the HTML report through ``chaos.report.write_report`` when that module exists.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static

from chaos.engine.api import RunSummary
from tui.screens.base import AppScreen
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


def render_journal(journal: dict[str, Any], run_id: str) -> Text:
    """Whatever the journal has, robustly: status, run, rollbacks, aftershock.timeline/decisions."""
    text = Text()
    text.append(f"Run {run_id}\n", "bold")
    status = journal.get("status")
    if status is not None:
        text.append(f"status: {status}\n")
    run = journal.get("run")
    ours = journal.get("aftershock")
    ours = ours if isinstance(ours, dict) else {}
    verdict = run.get("verdict") if isinstance(run, dict) else ours.get("verdict")
    if verdict:
        text.append("verdict: ")
        text.append(f"{verdict}\n", VERDICT_STYLE.get(str(verdict), "bold"))
    if isinstance(run, dict):
        for key, value in run.items():
            if key != "verdict":
                text.append(f"{key}: {_value(value)}\n", "dim")
    elif run is not None:
        text.append(f"run: {_value(run)}\n")
    events = ours.get("events") or ours.get("timeline")  # the engine's journal keeps its events in "events"
    start = _start_of(events)
    for title, items in (("Timeline", events), ("Decisions", ours.get("decisions")),
                         ("Rollbacks", journal.get("rollbacks"))):
        text.append(f"\n{title}\n", "bold underline")
        if not items:
            text.append("none recorded\n", "dim")
            continue
        if not isinstance(items, list):
            text.append(f"{_value(items)}\n")
            continue
        for item in items:
            text.append_text(_item(item, start))
            text.append("\n")
    return text


def _start_of(timeline: Any) -> float | None:
    if isinstance(timeline, list) and timeline and isinstance(timeline[0], dict):
        at = timeline[0].get("at")
        return float(at) if isinstance(at, int | float) else None
    return None


def _item(item: Any, start: float | None) -> Text:
    if not isinstance(item, dict):
        return Text(f"• {_value(item)}")
    out = Text()
    at = item.get("at")
    if isinstance(at, int | float):
        out.append(f"{at - start:+7.1f}s " if start is not None else f"{when(at)} ", "dim")
    name = item.get("event") or item.get("kind") or item.get("type") or "entry"
    out.append(str(name), "bold")
    rest = {k: v for k, v in item.items() if k not in ("event", "kind", "type", "at", "run_id")}
    if rest:
        out.append("  " + ", ".join(f"{k}={_value(v)}" for k, v in rest.items() if v not in ("", None, {}, [])))
    return out


def _value(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        from chaos.report import write_report

        path = Path(self.tui.state_dir or ".") / "reports" / f"{self.run_id}.html"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_report(self.journal, path)
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"report failed: {exc}", severity="error")
            return
        self.app.call_from_thread(self.notify, f"report written to {path}")

    def action_back(self) -> None:
        self.app.pop_screen()
