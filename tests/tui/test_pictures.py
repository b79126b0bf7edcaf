"""What the live screen and its charts show, from runs built here event by event (no engine
runs): a latency breach answered by a rollback, the service recovering, at 80x24 and 140x45.

The pure chart (``tui.widgets.slo_chart.plot``) is checked for what a reader needs: the whole
run visible after it ends, a y range from the data that never goes below zero for a
non-negative series, the fault window and every policy action on the time axis, labels that
fit their gutter. The snapshot SVGs (pytest-textual-snapshot) were looked at as PNGs before
being kept; they prove sameness, not readability. Update with ``--snapshot-update``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from demo_runs import RUN, T0, StillEngine, latency_run
from textual.pilot import Pilot

from chaos.demo.story import STORIES, narrate, story_shown
from chaos.engine import events as ev
from tui.app import create_app
from tui.messages import EngineEvent
from tui.screens.live import LiveScreen
from tui.state import Point, RunStore
from tui.widgets.slo_chart import GUTTER, axis_label, plot

# ------------------------------------------------------------------ the pure chart


def test_a_finished_run_is_shown_whole() -> None:
    store = RunStore()
    for event in latency_run():
        store.apply(event)
    run = store.runs[RUN]
    view = run.slos["checkout-p95"]
    chart = plot(list(view.points), view.threshold, run.fault_window, 60, 6, start=run.started, end=run.last)
    columns = [cx for row in chart.rows for cx, (char, style) in enumerate(row)
               if char.strip() and not style.startswith("objective")]
    assert max(columns) >= 55, "the recovery at the end of the run reaches the right edge"
    assert chart.lo == 0.0, "a non-negative series starts at zero"
    assert chart.hi >= 0.59
    axis = "".join(c for c, _ in chart.axis)
    assert "━" in axis and "▲" not in axis  # no marks given
    assert chart.labels.startswith("0s") and "8s" in chart.labels


def test_axis_marks_the_fault_window_and_actions() -> None:
    points = [Point(T0 + t, 0.1 if t < 10 else 0.9, "ok") for t in range(30)]
    chart = plot(points, 0.8, (T0 + 10, T0 + 20), 40, 4, start=T0, end=T0 + 29, marks=[T0 + 20])
    axis = "".join(c for c, _ in chart.axis)
    assert axis.index("━") == pytest.approx(40 * 10 / 29, abs=1)
    assert axis.count("▲") == 1 and axis.index("▲") == pytest.approx(40 * 20 / 29, abs=1)
    # the fault window is shaded but the line inside keeps its own style
    styles = {style for row in chart.rows for _, style in row}
    assert "ok+fault" in styles and "objective" in {s.split("+")[0] for s in styles}


def test_a_young_run_is_spread_not_squeezed() -> None:
    points = [Point(T0 + t, 1.0, "ok") for t in range(5)]
    chart = plot(points, None, None, 30, 2, start=T0)
    assert chart.t1 - chart.t0 == pytest.approx(30.0)


@pytest.mark.parametrize("value", [-0.009765, 0.0001234, 123456.0, 0.62, 3.0, -1500.0])
def test_y_labels_fit_their_gutter(value: float) -> None:
    assert len(axis_label(value, GUTTER - 1)) <= GUTTER - 1


# ------------------------------------------------------------------ the demo's story


def test_narration_and_story_of_the_latency_demo() -> None:
    story = STORIES["latency"]
    lines = [line for e in latency_run() if (line := narrate(story, e))]
    assert any("Watch checkout-p95" in line for line in lines)
    assert any("Policy fast-rollback answers with rollback" in line for line in lines)
    assert lines[-1].startswith("Verdict: deviated")
    assert story_shown(story, latency_run()) == (True, "checkout-p95 breached, rollback answered it and the "
                                                       "service recovered")
    passed = ev.RunFinished(run_id=RUN, at=T0 + 9, verdict="passed", exit_code=0)
    shown, why = story_shown(story, [*latency_run()[:4], passed])
    assert not shown and "never breached" in why


# ------------------------------------------------------------------ the live screen


def live_app(events: list[ev.RunEvent], where: str = "host demo (no cluster) · prom 127.0.0.1:9090 · "
             "state /var/lib/aftershock") -> Any:
    app = create_app(StillEngine(), Path("experiments"), clock=lambda: events[-1].at, where=where)  # type: ignore[arg-type]

    async def run_before(pilot: Pilot) -> None:
        await pilot.app.switch_mode("live")  # type: ignore[attr-defined]
        for event in events:
            pilot.app.post_message(EngineEvent(event))
        await pilot.pause(0.3)
        screen = pilot.app.screen
        assert isinstance(screen, LiveScreen)
        screen.redraw()
        await pilot.pause(0.2)

    return app, run_before


@pytest.mark.parametrize("size", [pytest.param((80, 24), id="80x24"), pytest.param((140, 45), id="140x45")])
def test_live_after_a_rollback(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    app, run_before = live_app(latency_run())
    assert snap_compare(app, terminal_size=size, run_before=run_before)


async def test_live_screen_reads_at_80x24() -> None:
    app, run_before = live_app(latency_run())
    async with app.run_test(size=(80, 24)) as pilot:
        await run_before(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, LiveScreen)
        assert set(screen.charts) == {"checkout-p95", "error-rate"}, "the monitor is a status, not a chart"
        assert all(chart.size.height >= 4 for chart in screen.charts.values()), "both charts are visible"
        status = str(screen.query_one("#run-status").render())
        assert "DEVIATED" in status and "monitor ok" in status
        assert "state /var/lib/aftershock" in str(screen.query_one("WhereBar").render())
        keys = {key for key, b in pilot.app.active_bindings.items() if b.binding.show}
        assert {"question_mark", "q"} <= keys
        assert not screen.check_action("abort", ()) and not screen.check_action("rollback", ())
        tabs = [str(t.label) for t in screen.query("Tab")]
        assert any(RUN in t for t in tabs), "the whole run id in the tab"


async def test_abort_is_offered_while_the_run_is_live() -> None:
    app, run_before = live_app(latency_run(finished=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await run_before(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, LiveScreen)
        assert screen.check_action("abort", ()) and screen.check_action("rollback", ())


# ------------------------------------------------------------------ demo mode


class DemoEngine(StillEngine):
    def __init__(self) -> None:
        self.launched: list[str | None] = []

    async def launch(self, loaded: Any, *, run_id: str | None = None) -> str:
        self.launched.append(run_id)
        return run_id or "x"


class Demo:
    """What ``aftershock demo`` hands the TUI (``chaos.commands.demo.DemoSession``)."""

    def __init__(self) -> None:
        from chaos.bundled import examples_dir
        from chaos.loading import load_file

        self.story = STORIES["latency"]
        self.loaded = load_file(examples_dir() / self.story.file, environ={})
        self.run_id = RUN
        self.finished: list[dict[str, Any]] = []

    async def finish(self, journal: dict[str, Any]) -> str:
        self.finished.append(journal)
        return f"deviated — checkout-p95 breached, rollback answered it. Report: /state/reports/{RUN}.html"


def demo_app() -> tuple[Any, Demo, DemoEngine]:
    engine, demo = DemoEngine(), Demo()
    app = create_app(engine, Path("experiments"), clock=lambda: T0 + 8.0, demo=demo,  # type: ignore[arg-type]
                     where="host demo (no cluster) · prom 127.0.0.1:9090 · state /state")
    return app, demo, engine


async def test_the_demo_launches_narrates_and_finishes_by_itself() -> None:
    app, demo, engine = demo_app()
    events = latency_run()
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(100):
            if engine.launched:
                break
            await pilot.pause(0.02)
        assert engine.launched == [RUN], "launched at once, with the demo's run id, no confirmation"
        for event in events[:4]:
            pilot.app.post_message(EngineEvent(event))
        await pilot.pause(0.2)
        assert isinstance(pilot.app.screen, LiveScreen)
        assert "Watch checkout-p95 climb" in pilot.app.narration
        for event in events[4:]:
            pilot.app.post_message(EngineEvent(event))
        for _ in range(100):
            if pilot.app.narration.startswith("Done:"):
                break
            await pilot.pause(0.02)
        assert demo.finished == [{}], "the demo's finish (the report) ran once, with the journal"
        assert f"Report: /state/reports/{RUN}.html" in pilot.app.narration
        await pilot.pause(0.2)
        narration = str(pilot.app.screen.query_one("#narration").render())
        assert narration.startswith("Done: deviated")


def test_demo_at_its_end(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, _, _ = demo_app()

    async def run_before(pilot: Pilot) -> None:
        for event in latency_run():
            pilot.app.post_message(EngineEvent(event))
        for _ in range(200):
            if pilot.app.narration.startswith("Done:"):  # type: ignore[attr-defined]
                break
            await pilot.pause(0.02)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
