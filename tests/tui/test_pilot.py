"""Pilot tests of the TUI against the real engine over a scripted world (``world.py``): browse,
filter, detail, launch with confirmation, a run that breaches and recovers, abort, rollback now,
history, schedules, help."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input
from world import WorldEngine

from tui.screens.detail import ConfirmLaunch, DetailScreen
from tui.screens.experiments import ExperimentsScreen
from tui.screens.help import HelpScreen
from tui.screens.history import HistoryScreen, JournalScreen
from tui.screens.live import LiveScreen
from tui.screens.schedules import SchedulesScreen
from tui.widgets.decision_log import DecisionLog
from tui.widgets.slo_chart import SloChart

wait_for = None


@pytest.fixture(autouse=True)
def _waiter(wait_for):  # type: ignore[no-untyped-def]
    globals()["wait_for"] = wait_for


async def _library(pilot) -> ExperimentsScreen:  # type: ignore[no-untyped-def]
    screen = pilot.app.screen
    assert isinstance(screen, ExperimentsScreen)
    await wait_for(pilot, lambda: screen.loaded, "the experiment library")
    return screen


async def _open(pilot, name: str) -> DetailScreen:  # type: ignore[no-untyped-def]
    screen = await _library(pilot)
    row = next(i for i, e in enumerate(screen.shown) if e.name == name)
    screen.query_one(DataTable).move_cursor(row=row)
    assert screen.highlighted().name == name
    await pilot.press("enter")
    detail = pilot.app.screen
    assert isinstance(detail, DetailScreen)
    await wait_for(pilot, lambda: detail.plan is not None, "the plan")
    return detail


async def _launch(pilot, name: str) -> LiveScreen:  # type: ignore[no-untyped-def]
    await _open(pilot, name)
    await pilot.press("x")
    assert isinstance(pilot.app.screen, ConfirmLaunch)
    await pilot.press("y")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, LiveScreen) and pilot.app.screen.run is not None,
                   "the live screen")
    return pilot.app.screen


async def test_browse_lists_valid_and_invalid_files(engine: WorldEngine, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _library(pilot)
        names = [e.name for e in screen.shown]
        assert names == ["breaker-drill", "broken", "demo-payment-latency", "payment-latency", "pod-kill"]
        broken = next(e for e in screen.entries if e.name == "broken")
        assert not broken.valid and "network-delya" in broken.problems[0]
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=1)
        await pilot.pause()
        preview = str(app.screen.query_one("#preview").render())
        assert "invalid" in preview and "did you mean 'network-delay'" in preview


async def test_fuzzy_filter(engine: WorldEngine, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _library(pilot)
        await pilot.press("slash", *"pmtlat")
        assert [e.name for e in screen.shown][:2] == ["payment-latency", "demo-payment-latency"]
        await pilot.press("escape")
        assert app.screen.query_one("#filter", Input).value == ""
        assert len(screen.shown) == 5


async def test_detail_shows_plan_slo_values_and_applies_overrides(engine: WorldEngine, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        detail = await _open(pilot, "payment-latency")
        assert "NetworkChaos" in detail.plan.faults[0].manifest
        slos = str(detail.query_one("#slos").render())
        assert "checkout-p95 0.4 < 0.8  ok" in slos
        box = detail.query_one("#param-0", Input)
        box.value = "900ms"
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: detail.plan is not None and "900ms" in detail.plan.faults[0].manifest,
                       "a re-plan with the override")
        box.value = "fast"
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: detail.loaded is None, "the refused override")
        assert detail.query_one("#launch").disabled
        assert "not a duration" in " ".join(detail.problems)


async def test_dry_run_injects_nothing(engine: WorldEngine, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        detail = await _open(pilot, "pod-kill")
        await pilot.press("d")
        await wait_for(pilot, lambda: "Dry run" in str(detail.query_one("#plan-status").render()), "dry run")
        assert [c for c, _ in engine.calls] == ["plan", "plan"]


async def test_launch_asks_first_and_cancel_launches_nothing(engine: WorldEngine, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot, "payment-latency")
        await pilot.press("x")
        confirm = app.screen
        assert isinstance(confirm, ConfirmLaunch)
        body = str(confirm.query_one("#confirm-body Static").render())
        assert "maxTargets 2" in body and "resolved at launch" in body
        await pilot.press("enter")  # focus starts on Cancel: enter must not launch
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("x", "n")
        assert isinstance(app.screen, DetailScreen)
        assert not [c for c in engine.calls if c[0] == "launch"]


async def test_watch_a_run_breach_and_recover(new_engine, make_app) -> None:  # type: ignore[no-untyped-def]
    engine = new_engine(step_delay=0.005)
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        live = await _launch(pilot, "payment-latency")
        run_id = live.run_id
        assert engine.calls[-1] == ("launch", run_id)
        seen: set[str] = set()

        def breached_then_done() -> bool:
            run = app.store.get(run_id)
            seen.add(run.slos["checkout-p95"].status)
            return run.finished and live.drawn == (run_id, run.version)

        await wait_for(pilot, breached_then_done, "the run to finish on screen")
        run = app.store.get(run_id)
        assert run.verdict == "deviated"
        statuses = [p.status for p in run.slos["checkout-p95"].points]
        assert "breached" in statuses and statuses[-1] == "ok"
        log = live.query_one(DecisionLog)
        text = " ".join(" ".join(str(line.text) for line in log.lines).split())
        assert "policy fast-rollback fired → rollback" in text
        assert "evidence: checkout-p95 was 1.2 (objective < 0.8)" in text
        assert "verdict: deviated" in text
        charts = live.query(SloChart)
        assert [c.view.name for c in charts] == ["checkout-p95", "error-rate", "payment-timeouts"]
        assert "deviated".upper() in str(live.query_one("#run-status").render())


async def test_abort_removes_faults_at_once_without_asking(new_engine, make_app) -> None:  # type: ignore[no-untyped-def]
    engine = new_engine(pause_at=3)
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await _launch(pilot, "payment-latency")
        run_id = live.run_id
        await wait_for(pilot, lambda: engine.active_faults(run_id) == ["payment-delay"], "injection")
        await wait_for(pilot, lambda: app.store.get(run_id).live_faults(), "the fault on screen")
        await pilot.press("a")
        await wait_for(pilot, lambda: ("abort", run_id) in engine.calls, "the abort call")
        assert isinstance(app.screen, LiveScreen)  # no question asked
        await wait_for(pilot, lambda: not engine.alive(run_id), "the end of the run")
        assert engine.active_faults(run_id) == []
        await wait_for(pilot, lambda: app.store.get(run_id).verdict == "aborted", "the aborted verdict")
        assert app.store.get(run_id).faults["payment-delay"].reason == "abort"


async def test_rollback_now_key(new_engine, make_app) -> None:  # type: ignore[no-untyped-def]
    engine = new_engine(pause_at=2)
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await _launch(pilot, "pod-kill")
        run_id = live.run_id
        await wait_for(pilot, lambda: app.store.get(run_id).live_faults(), "the fault on screen")
        await pilot.press("r")
        await wait_for(pilot, lambda: ("rollback_now", run_id) in engine.calls, "the rollback call")
        await wait_for(pilot, lambda: engine.active_faults(run_id) == [], "the removal")
        engine.release()
        await wait_for(pilot, lambda: app.store.get(run_id).finished, "the end of the run")
        assert app.store.get(run_id).faults["kill-order-pod"].reason == "rollback"


async def test_several_runs_switchable(new_engine, make_app) -> None:  # type: ignore[no-untyped-def]
    engine = new_engine(pause_at=3)
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        first = (await _launch(pilot, "pod-kill")).run_id
        await pilot.press("e", "escape")
        second = (await _launch(pilot, "breaker-drill")).run_id
        live = app.screen
        assert live.run_id == second
        await pilot.press("left_square_bracket")
        assert live.run_id == first
        await pilot.press("right_square_bracket")
        assert live.run_id == second
        await pilot.press("a")
        await wait_for(pilot, lambda: not engine.alive(second), "abort of the second run")
        assert engine.alive(first)
        engine.release()
        await wait_for(pilot, lambda: not engine.alive(first), "the first run to finish")


async def test_history_lists_the_run_and_opens_its_journal(engine: WorldEngine, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await _launch(pilot, "breaker-drill")
        run_id = live.run_id
        await wait_for(pilot, lambda: app.store.get(run_id).finished, "the end of the run")
        await pilot.press("h")
        history = app.screen
        assert isinstance(history, HistoryScreen)
        await wait_for(pilot, lambda: history.rows and history.rows[0].run_id == run_id, "the run in history")
        assert history.rows[0].verdict == "deviated"
        await pilot.press("enter")
        journal = app.screen
        assert isinstance(journal, JournalScreen)
        await wait_for(pilot, lambda: journal.journal is not None, "the journal")
        text = str(journal.query_one("#journal").render())
        assert "verdict deviated" in text and "policy " in text and "circuit breaker" in text
        await pilot.press("x")
        await wait_for(pilot, lambda: any("report written to" in n.message for n in app._notifications),
                       "the export notification")
        assert (engine.store.dir / "reports" / f"{run_id}.html").is_file()


async def test_schedules_next_fire_times(engine: WorldEngine, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s")
        screen = app.screen
        assert isinstance(screen, SchedulesScreen)
        await wait_for(pilot, lambda: screen.loaded, "schedules")
        table = screen.query_one(DataTable)
        assert table.row_count == 1
        row = table.get_row_at(0)
        assert row[0] == "payment-latency"
        assert row[3] == "Fri 2026-01-02 10:00 CET"  # the virtual clock is 2026-01-01 10:00 UTC


async def test_help_theme_and_quit_with_live_runs(new_engine, make_app) -> None:  # type: ignore[no-untyped-def]
    engine = new_engine(pause_at=2)
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await _library(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        dark = app.current_theme.dark
        await pilot.press("t")
        assert app.current_theme.dark is not dark
        live = await _launch(pilot, "pod-kill")
        await pilot.press("q")
        assert app.is_running  # asks first
        await pilot.press("y")
        await wait_for(pilot, lambda: not engine.alive(live.run_id), "abort on quit")
        assert ("abort", live.run_id) in engine.calls


async def test_the_end_of_a_run_reaching_a_closing_app_is_no_error(engine, make_app) -> None:  # type: ignore[no-untyped-def]
    """A run the closing app stopped ends after the app's screens are gone: its last events are
    recorded, and no toast is attempted (there is no screen to show it on)."""
    from demo_runs import RUN, latency_run

    from tui.messages import EngineEvent

    app = make_app(engine)
    async with app.run_test(size=(80, 24)):
        pass
    assert not app.screen_stack
    for event in latency_run():
        app.on_engine_event(EngineEvent(event))
    assert app.store.get(RUN).finished
