"""Schedules screen: every schedule of the experiments folder (experiments with ``spec.schedule``)
and of the ``gamedays`` folder beside it (GameDay files): next fire times by Aftershock's DST rules
(from the app's clock), the last outcome, skipped due times and their last reason, and whether the
schedule is active, paused or suspended. ``p`` pauses / resumes, ``n`` runs the game day now.

State comes from the ``aftershock gameday`` commands (``list -o json``, ``pause``, ``resume``,
``run``) in the engine's state directory — the TUI never opens the state database itself; without
a state directory only the files are shown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from chaos.errors import InvalidExperiment
from chaos.gameday.decide import upcoming
from chaos.gameday.loading import LoadedGameDay, as_gameday, load_document
from tui.screens.base import AppScreen
from tui.widgets.panels import WhereBar
from tui.widgets.tables import fill_table

CLI = [sys.executable, "-c", "from chaos.cli import main; main()"]


@dataclass
class ScheduleEntry:
    path: Path
    gameday: LoadedGameDay


def scan_schedules(directories: list[Path]) -> list[ScheduleEntry]:
    out: list[ScheduleEntry] = []
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()):
            try:
                doc = load_document(path)
            except InvalidExperiment:
                continue  # the experiments screen lists invalid files with their problems
            lgd = doc if isinstance(doc, LoadedGameDay) else as_gameday(doc)
            if lgd.gameday.spec.schedule is not None:
                out.append(ScheduleEntry(path, lgd))
    return out


class SchedulesScreen(AppScreen):
    BINDINGS = [Binding("ctrl+r", "reload", "Reload"), Binding("p", "toggle_pause", "Pause/resume"),
                Binding("n", "run_now", "Run now")]

    def __init__(self) -> None:
        super().__init__()
        self.loaded = False
        self.entries: dict[str, ScheduleEntry] = {}
        self.status: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield WhereBar(self.tui.where)
        yield DataTable(id="schedules", cursor_type="row", zebra_stripes=True)
        yield Static(id="schedules-note")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Schedules"
        self.reload()

    @property
    def state_dir(self) -> Path | None:
        """The engine's state directory (None when neither the app nor the engine has one)."""
        if self.tui.state_dir is not None:
            return self.tui.state_dir
        store = getattr(self.tui.engine, "store", None)
        directory = getattr(store, "dir", None)
        return Path(directory) if directory is not None else None

    def _cli(self, *args: str, detach_log: Path | None = None) -> str:
        state = self.state_dir
        assert state is not None
        argv = [*CLI, *args, "--state-dir", str(state)]
        if detach_log is not None:
            detach_log.parent.mkdir(parents=True, exist_ok=True)
            with open(detach_log, "ab") as log:
                subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, env=dict(os.environ))
            return ""
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
        return done.stdout

    @work(thread=True, exclusive=True, group="schedules")
    def reload(self) -> None:
        experiments = self.tui.experiments_dir
        entries = scan_schedules([experiments, experiments.parent / "gamedays"])
        status: dict[str, dict[str, Any]] = {}
        if self.state_dir is not None:
            try:
                status = {r["name"]: r for r in json.loads(self._cli("gameday", "list", "-o", "json"))}
            except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired):
                status = {}
        self.app.call_from_thread(self._show, entries, status)

    def _show(self, entries: list[ScheduleEntry], status: dict[str, dict[str, Any]]) -> None:
        now = self.tui.clock()
        rows: list[list[object]] = []
        keys: list[str] = []
        blackout_notes: list[str] = []
        self.entries = {}
        self.status = status
        for entry in entries:
            schedule = entry.gameday.gameday.spec.schedule
            assert schedule is not None
            name = entry.gameday.name
            if name in self.entries:
                continue
            self.entries[name] = entry
            zone = ZoneInfo(schedule.timezone)
            found = upcoming(schedule, entry.gameday.gameday.spec.blackouts, now, 3)
            fires = [datetime.fromtimestamp(t, tz=zone) for t in found.fires]
            blacked = [datetime.fromtimestamp(t, tz=zone) for t, _ in found.skipped]
            st = status.get(name, {})
            last = st.get("last")
            last_text = Text(f"{last['verdict']} ({last['score'] if last['score'] is not None else 'n/a'})"
                             if last else "—", style=_style(last["verdict"] if last else ""))
            skipped = st.get("skipped", 0)
            skip_text: str | Text = (f"{skipped}: {st['last_skip']['reason']}"[:48] if skipped and st.get("last_skip")
                                     else str(skipped) if st else "—")
            if blacked:
                blackout_notes.append(f"{name}: {', '.join(d.strftime('%m-%d %H:%M') for d in blacked[:3])}"
                                      f"{'…' if len(blacked) > 3 else ''} skipped (blackout)")
            if blacked:  # due times a blackout will skip before the next fire: said, never listed as fires
                skip_text = Text(f"next {len(blacked)} in blackout ({blacked[0].strftime('%m-%d')}"
                                 f"{'…' + blacked[-1].strftime('%m-%d') if len(blacked) > 1 else ''})"[:48], "yellow")
            state = "suspended" if st.get("suspended") else ("paused" if st.get("paused") else
                                                             ("running" if st.get("running") else "active"))
            rows.append([name, schedule.cron, schedule.timezone,
                         fires[0].strftime("%a %Y-%m-%d %H:%M %Z") if fires else "— (blackout)",
                         ", ".join(f.strftime("%m-%d %H:%M") for f in fires[1:]), last_text, skip_text,
                         Text(state if st else "—", style="red" if state == "suspended" else "")])
            keys.append(name)
        fill_table(self.query_one(DataTable), ["Schedule", "Cron", "Time zone", "Next fire", "Then", "Last",
                                               "Skipped", "State"], rows, keys)
        count = len(rows)
        note = f"{count} schedule(s)." if count else "No schedule: add spec.schedule or a GameDay file."
        if blackout_notes:
            note += " " + "; ".join(blackout_notes) + "."
        if self.state_dir is None:
            note += " Outcomes and skips need the real engine's state directory."
        else:
            note += " p: pause/resume · n: run now · ctrl+r: reload. `aftershock gameday serve` fires them."
        self.query_one("#schedules-note", Static).update(Text(note, "dim"))
        self.loaded = True

    def _selected(self) -> str | None:
        table = self.query_one(DataTable)
        if not self.entries or table.cursor_row < 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    def action_reload(self) -> None:
        self.reload()

    def action_toggle_pause(self) -> None:
        name = self._selected()
        if name is None:
            return
        if self.state_dir is None:
            self.notify("pause/resume needs the real engine's state directory", severity="warning")
            return
        st = self.status.get(name, {})
        self._change(name, "resume" if st.get("paused") or st.get("suspended") else "pause")

    @work(thread=True, group="schedule-change")
    def _change(self, name: str, verb: str) -> None:
        try:
            out = self._cli("gameday", verb, name).strip()
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            self.app.call_from_thread(self.notify, f"{verb} {name}: {exc}", severity="error")
            return
        self.app.call_from_thread(self.notify, out or f"{name}: {verb}d")
        self.reload()

    def action_run_now(self) -> None:
        name = self._selected()
        if name is None:
            return
        state = self.state_dir
        if state is None:
            self.notify("run now needs the real engine's state directory", severity="warning")
            return
        entry = self.entries[name]
        log = state / "gamedays" / name / "run-now.log"
        try:
            self._cli("gameday", "run", str(entry.path), detach_log=log)
        except OSError as exc:
            self.notify(f"run {name}: {exc}", severity="error")
            return
        self.notify(f"game day {name} started now; progress in {log}")


def _style(verdict: str) -> str:
    return {"passed": "green", "deviated": "yellow"}.get(verdict, "red" if verdict else "")
