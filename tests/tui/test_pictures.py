"""What the live screen and its charts show of a latency breach answered by a rollback, the
service recovering, at 80x24 and 140x45, and the demo mode's narration.

Every run here is a run of the real engine (:class:`chaos.engine.driver.Engine`) over the
scripted world of ``world.py`` (virtual clock, scripted Prometheus), on
tests/tui/experiments/demo-payment-latency.yaml: the screens get their events through the app's
engine bridge as ``aftershock tui`` and ``aftershock demo`` do.

The pure chart (``tui.widgets.slo_chart.plot``) is checked for what a reader needs: the whole
run visible after it ends, a y range from the data that never goes below zero for a
non-negative series, the fault window and every policy action on the time axis, labels that
fit their gutter. The snapshot SVGs (pytest-textual-snapshot) were looked at as PNGs before
being kept; they prove sameness, not readability. Update with ``--snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from world import WorldEngine

from chaos.demo.story import STORIES, narrate, story_shown
from chaos.engine import events as ev
from chaos.loading import Loaded, load_file
from tui.app import AftershockApp, create_app
from tui.messages import LaunchRequested
from tui.screens.live import LiveScreen
from tui.state import Point, RunStore
from tui.widgets.slo_chart import GUTTER, axis_label, plot

T0 = 1_800_000_000.0
STORY = STORIES["latency"]
WHERE = "host demo (no cluster) · prom 127.0.0.1:9090 · state /var/lib/aftershock"
HELD = 2.0
"""Virtual second a live run is held at: the fault injected, checkout-p95 climbing, no breach yet."""


def demo_experiment() -> Loaded:
    """The latency demo's experiment (tests/tui/experiments: its monitor interval is 500 ms)."""
    return load_file(Path("experiments") / STORY.file, environ={})


async def engine_run(engine: WorldEngine) -> list[ev.RunEvent]:
    """Every event of one whole run of the latency demo on the real engine."""
    events: list[ev.RunEvent] = []
    engine.subscribe(events.append)
    await engine.wait(await engine.launch(demo_experiment()))
    return events


# ------------------------------------------------------------------ the pure chart


async def test_a_finished_run_is_shown_whole(new_engine: Callable[..., WorldEngine]) -> None:
    store = RunStore()
    events = await engine_run(new_engine())
    for event in events:
        store.apply(event)
    run = store.runs[events[0].run_id]
    assert run.finished
    view = run.slos["checkout-p95"]
    points = list(view.points)
    chart = plot(points, view.threshold, run.fault_window, 60, 6, start=run.started, end=run.last)
    assert (chart.t0, chart.t1) == (run.started, run.last), "the x axis spans the whole run"
    columns = [cx for row in chart.rows for cx, (char, style) in enumerate(row)
               if char.strip() and not style.startswith("objective")]
    last_column = (points[-1].at - run.started) / (run.last - run.started) * 59
    assert max(columns) == pytest.approx(last_column, abs=1), "the latest sample is drawn where it belongs"
    values = [p.value for p in points if p.value is not None]
    assert 0.0 <= chart.lo <= min(values) and chart.hi >= max(values) >= 0.3, "the range holds the breach"
    low = plot([Point(T0, 0.01, "ok"), Point(T0 + 1, 0.5, "ok")], 0.3, None, 20, 4)
    assert low.lo == 0.0, "a non-negative series never goes below zero"
    axis = "".join(c for c, _ in chart.axis)
    assert "━" in axis and "▲" not in axis  # no marks given
    assert chart.labels.split() == [f"{s}s" for s in range(int(run.last - run.started) + 1)]


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


async def test_narration_and_story_of_the_latency_demo(new_engine: Callable[..., WorldEngine]) -> None:
    events = await engine_run(new_engine())
    lines = [line for e in events if (line := narrate(STORY, e))]
    assert any("Watch checkout-p95" in line for line in lines)
    assert any("Policy fast-rollback answers with rollback" in line for line in lines)
    assert lines[-1].startswith("Verdict: deviated")
    assert story_shown(STORY, events) == (True, "checkout-p95 breached, rollback answered it and the "
                                                "service recovered")
    injected = next(i for i, e in enumerate(events) if isinstance(e, ev.FaultInjected))
    passed = ev.RunFinished(run_id=events[0].run_id, at=events[injected].at + 1, verdict="passed", exit_code=0)
    shown, why = story_shown(STORY, [*events[:injected + 1], passed])
    assert not shown and "never breached" in why


# ------------------------------------------------------------------ the live screen


def shown(pilot: Pilot, engine: WorldEngine, *, finished: bool) -> bool:
    """The live screen shows its run drawn in its latest version, finished or held at ``HELD``."""
    screen = pilot.app.screen
    if not isinstance(screen, LiveScreen) or screen.run is None:
        return False
    run = screen.run
    ready = run.finished if finished else engine.paused()
    return bool(ready) and screen.drawn == (run.run_id, run.version)


def live_app(engine: WorldEngine, wait_for: Any, *, finished: bool = True
             ) -> tuple[AftershockApp, Callable[[Pilot], Awaitable[None]]]:
    """The app over ``engine``; ``run_before`` launches the latency demo as the detail screen's
    confirmation does and waits until the live screen shows it finished (or held)."""
    app = create_app(engine, Path("experiments"), state_dir=engine.store.dir, clock=engine.now, where=WHERE)

    async def run_before(pilot: Pilot) -> None:
        pilot.app.post_message(LaunchRequested(demo_experiment()))
        await wait_for(pilot, lambda: shown(pilot, engine, finished=finished), "the run on the live screen")
        await pilot.pause(0.2)

    return app, run_before


@pytest.mark.parametrize("size", [pytest.param((80, 24), id="80x24"), pytest.param((140, 45), id="140x45")])
def test_live_after_a_rollback(snap_compare, size, new_engine, wait_for) -> None:  # type: ignore[no-untyped-def]
    app, run_before = live_app(new_engine(), wait_for)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


async def test_live_screen_reads_at_80x24(new_engine, wait_for) -> None:  # type: ignore[no-untyped-def]
    engine = new_engine()
    app, run_before = live_app(engine, wait_for)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_before(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, LiveScreen) and screen.run is not None
        run_id = screen.run.run_id
        assert engine.calls == [("launch", run_id)]
        assert set(screen.charts) == {"checkout-p95", "error-rate"}, "the monitor is a status, not a chart"
        assert all(chart.size.height >= 4 for chart in screen.charts.values()), "both charts are visible"
        status = str(screen.query_one("#run-status").render())
        assert "DEVIATED" in status and "monitor ok" in status
        assert "state /var/lib/aftershock" in str(screen.query_one("WhereBar").render())
        keys = {key for key, b in pilot.app.active_bindings.items() if b.binding.show}
        assert {"question_mark", "q"} <= keys
        assert not screen.check_action("abort", ()) and not screen.check_action("rollback", ())
        tabs = [str(t.label) for t in screen.query("Tab")]
        assert any(run_id in t for t in tabs), "the whole run id in the tab"


async def test_abort_is_offered_while_the_run_is_live(new_engine, wait_for) -> None:  # type: ignore[no-untyped-def]
    engine = new_engine(pause_at=HELD)
    app, run_before = live_app(engine, wait_for, finished=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_before(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, LiveScreen) and screen.run is not None
        assert engine.active_faults(screen.run.run_id) == ["payment-delay"]
        assert screen.check_action("abort", ()) and screen.check_action("rollback", ())
        engine.release()
        await wait_for(pilot, lambda: screen.run is not None and screen.run.finished, "the run's end")
        assert not screen.check_action("abort", ())


# ------------------------------------------------------------------ demo mode

DEMO_RUN = "a1448eff"


class Demo:
    """What ``aftershock demo`` hands the TUI (``chaos.commands.demo.DemoSession``)."""

    def __init__(self) -> None:
        self.story = STORY
        self.loaded = demo_experiment()
        self.run_id = DEMO_RUN
        self.finished: list[dict[str, Any]] = []

    async def finish(self, journal: dict[str, Any]) -> str:
        self.finished.append(journal)
        return f"deviated — checkout-p95 breached, rollback answered it. Report: /state/reports/{DEMO_RUN}.html"


def demo_app(engine: WorldEngine) -> tuple[AftershockApp, Demo]:
    demo = Demo()
    app = create_app(engine, Path("experiments"), state_dir=engine.store.dir, clock=engine.now, demo=demo,
                     where="host demo (no cluster) · prom 127.0.0.1:9090 · state /state")
    return app, demo


async def test_the_demo_launches_narrates_and_finishes_by_itself(new_engine, wait_for) -> None:  # type: ignore[no-untyped-def]
    engine = new_engine(pause_at=HELD)
    app, demo = demo_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: engine.paused(), "the demo's run held with its fault live")
        assert engine.calls == [("launch", DEMO_RUN)], "launched at once, with the demo's run id, no confirmation"
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, LiveScreen)
                       and "Watch checkout-p95 climb" in pilot.app.narration, "the narration of the fault")
        engine.release()
        await wait_for(pilot, lambda: pilot.app.narration.startswith("Done:"), "the demo's end")
        assert [j["aftershock"]["run_id"] for j in demo.finished] == [DEMO_RUN], "the demo's finish ran once, with the journal"
        assert demo.finished[0]["aftershock"]["verdict"] == "deviated"
        assert f"Report: /state/reports/{DEMO_RUN}.html" in pilot.app.narration
        await pilot.pause(0.2)
        narration = str(pilot.app.screen.query_one("#narration").render())
        assert narration.startswith("Done: deviated")


def test_demo_at_its_end(snap_compare, new_engine, wait_for) -> None:  # type: ignore[no-untyped-def]
    app, _ = demo_app(new_engine())

    async def run_before(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.narration.startswith("Done:"), "the demo's end")  # type: ignore[attr-defined]
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
