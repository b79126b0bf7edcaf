"""The TUI's Schedules screen over a real state directory: next fires, last outcome, skips and state
from ``aftershock gameday list``; ``p`` pauses and resumes; ``n`` runs the game day now (a real
``aftershock gameday run`` process, which claims its row in the state DB)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from textual.widgets import DataTable

from chaos.clients.schedule_store import ScheduleStore
from chaos.engine.driver import Engine
from chaos.engine.settings import EngineSettings
from tui.app import create_app
from tui.screens.schedules import SchedulesScreen

from .helpers import utc, write_gameday


async def until(pilot, predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def test_schedules_screen_shows_outcomes_and_pauses_resumes_runs_now(tmp_path: Path) -> None:
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    write_gameday(experiments, '{cron: "30 2 * * *", timezone: Europe/Berlin}')
    state = tmp_path / "state"
    store = ScheduleStore(state)
    store.register("drill", str(experiments / "drill.gameday.yaml"), utc("2026-01-01T00:00:00Z"))
    store.claim("drill", utc("2026-01-01T01:30:00Z"), "gd000001", utc("2026-01-01T01:30:00Z"))
    store.finish("drill", utc("2026-01-01T01:30:00Z"), "deviated", 67, "/r.html", "", [], utc("2026-01-01T01:40:00Z"))
    store.skip("drill", utc("2026-01-02T01:30:00Z"), "gate closed: burning", utc("2026-01-02T01:30:00Z"))
    engine = Engine(EngineSettings(state_dir=tmp_path / "engine"))  # the real one; nothing is launched through it
    app = create_app(engine, experiments, state_dir=state, clock=lambda: utc("2027-03-27T12:00:00Z"))
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("s")
        screen = app.screen
        assert isinstance(screen, SchedulesScreen)
        await until(pilot, lambda: screen.loaded, "schedules")
        row = [str(c) for c in screen.query_one(DataTable).get_row_at(0)]
        assert row[0] == "drill" and row[3] == "Sun 2027-03-28 03:00 CEST"  # the DST gap: 02:30 → 03:00
        assert row[5:] == ["deviated (67)", "1: gate closed: burning", "active"]
        await pilot.press("p")
        await until(pilot, lambda: store.schedule("drill").paused, "paused")  # type: ignore[union-attr]
        await until(pilot, lambda: screen.status.get("drill", {}).get("paused"), "the table to reload")
        await pilot.press("p")
        await until(pilot, lambda: not store.schedule("drill").paused, "resumed")  # type: ignore[union-attr]
        await pilot.press("n")
        await until(pilot, lambda: any(f.trigger == "manual" and f.state == "finished" for f in store.fires("drill")),
                    "the game day run now to finish", timeout=90)
    assert (state / "gamedays" / "drill" / "run-now.log").read_text().count("game day drill:") == 1


async def test_schedules_screen_shows_due_times_a_blackout_skips(tmp_path: Path) -> None:
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    write_gameday(experiments, '{cron: "0 10 * * 5", timezone: Europe/Berlin}',
                  extra='  blackouts:\n    - {from: "2026-12-20", to: "2027-01-06", reason: holidays}')
    engine = Engine(EngineSettings(state_dir=tmp_path / "engine"))
    shots = Path(os.environ.get("AFTERSHOCK_SCREENSHOTS", tmp_path))
    for size in ((80, 24), (140, 45)):
        app = create_app(engine, experiments, clock=lambda: utc("2026-12-19T12:00:00Z"))
        async with app.run_test(size=size) as pilot:
            await pilot.press("s")
            screen = app.screen
            assert isinstance(screen, SchedulesScreen)
            await until(pilot, lambda s=screen: s.loaded, "schedules")
            row = [str(c) for c in screen.query_one(DataTable).get_row_at(0)]
            assert row[3] == "Fri 2027-01-08 10:00 CET"  # 25 Dec and 1 Jan are in the blackout: not fires
            assert row[6].startswith("next 2 in blackout (12-25…01-01)")
            note = str(screen.query_one("#schedules-note").render())
            assert "drill: 12-25 10:00, 01-01 10:00 skipped (blackout)" in note  # visible at 80x24 too
            app.save_screenshot(f"schedules-blackout-{size[0]}x{size[1]}.svg", str(shots))
