"""Snapshot tests (pytest-textual-snapshot) of every screen at 80x24 and 120x40.

Deterministic: the real engine runs over a scripted world (``world.py``) whose virtual clock
starts at 2026-01-01 10:00 UTC; runs pause at a fixed virtual second (``pause_at``), and the
experiments come from tests/tui/experiments. Update
with ``pytest tests/tui --snapshot-update`` after an intended UI change, and review the SVGs.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from world import WorldEngine

from tui.app import create_app
from tui.screens.history import HistoryScreen, JournalScreen
from tui.screens.live import LiveScreen
from tui.screens.schedules import SchedulesScreen

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


async def until(pilot: Pilot, predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out preparing the snapshot"
        await pilot.pause(0.01)
    await pilot.pause(0.1)  # let focus-driven refreshes (footer bindings) settle


async def library(pilot: Pilot) -> None:
    await until(pilot, lambda: getattr(pilot.app.screen, "loaded", False))


async def detail(pilot: Pilot, name: str = "payment-latency") -> None:
    await library(pilot)
    screen = pilot.app.screen
    row = next(i for i, e in enumerate(screen.shown) if e.name == name)  # type: ignore[attr-defined]
    screen.query_one("DataTable").move_cursor(row=row)  # type: ignore[attr-defined]
    await pilot.press("enter")
    await until(pilot, lambda: getattr(pilot.app.screen, "plan", None) is not None)
    await pilot.pause(0.05)


def live_run(name: str) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        await detail(pilot, name)
        await pilot.press("x", "y")
        engine = pilot.app.engine  # type: ignore[attr-defined]

        def paused() -> bool:
            screen = pilot.app.screen
            if not isinstance(screen, LiveScreen) or screen.run is None:
                return False
            run = screen.run
            return bool(engine.paused()) and screen.drawn == (run.run_id, run.version)

        await until(pilot, paused)
        await pilot.pause(0.2)

    return run_before


def app_for(engine: WorldEngine, theme: str | None = None):  # type: ignore[no-untyped-def]
    return create_app(engine, Path("experiments"), clock=engine.now, theme=theme)


@pytest.mark.parametrize("size", SIZES)
def test_experiments(snap_compare, size, new_engine) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app_for(new_engine()), terminal_size=size, run_before=library)


def test_experiments_light_filtered(snap_compare, new_engine) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        await library(pilot)
        await pilot.press("slash", *"pay", "enter")

    assert snap_compare(app_for(new_engine(), theme="textual-light"), run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_detail(snap_compare, size, new_engine) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app_for(new_engine()), terminal_size=size, run_before=detail)


@pytest.mark.parametrize("size", SIZES)
def test_confirm_launch(snap_compare, size, new_engine) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        await detail(pilot)
        await pilot.press("x")

    assert snap_compare(app_for(new_engine()), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_live_breach_and_rollback(snap_compare, size, new_engine) -> None:  # type: ignore[no-untyped-def]
    engine = new_engine(pause_at=9)  # held in recovery, right after the rollback
    assert snap_compare(app_for(engine), terminal_size=size, run_before=live_run("payment-latency"))


def test_live_circuit_breaker_open(snap_compare, new_engine) -> None:  # type: ignore[no-untyped-def]
    engine = new_engine(pause_at=6)  # held with the breaker open
    assert snap_compare(app_for(engine), terminal_size=(120, 40), run_before=live_run("breaker-drill"))


@pytest.mark.parametrize("size", SIZES)
def test_history(snap_compare, size, new_engine) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("h")
        await until(pilot, lambda: isinstance(pilot.app.screen, HistoryScreen) and pilot.app.screen.loaded)

    assert snap_compare(app_for(new_engine(seed_history=True)), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_journal(snap_compare, size, new_engine) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("h")
        await until(pilot, lambda: isinstance(pilot.app.screen, HistoryScreen) and pilot.app.screen.loaded)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, JournalScreen)
                    and pilot.app.screen.journal is not None)

    assert snap_compare(app_for(new_engine(seed_history=True)), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_schedules(snap_compare, size, new_engine) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("s")
        await until(pilot, lambda: isinstance(pilot.app.screen, SchedulesScreen) and pilot.app.screen.loaded)

    assert snap_compare(app_for(new_engine()), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare, size, new_engine) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        await library(pilot)
        await pilot.press("question_mark")

    assert snap_compare(app_for(new_engine()), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_detail_chaostoolkit_process(snap_compare, size, new_engine) -> None:  # type: ignore[no-untyped-def]
    """A Chaos Toolkit process action and probe: the command (credentials scrubbed) and that it runs on the
    Aftershock host; a chaosk8s action with what of it the blast radius counts."""
    engine = new_engine()
    app = create_app(engine, Path("experiments-ctk"), clock=engine.now)
    assert snap_compare(app, terminal_size=size, run_before=lambda pilot: detail(pilot, "queue-freeze"))
