"""The Aftershock TUI app: screens (as modes), global bindings and the engine wiring.

Demo mode (``aftershock demo`` with a terminal, ``demo=``): the app launches the demo's run by
itself on the live screen, narrates it (``chaos.demo.story.narrate``) in the live screen's
narration bar, and when the run ends awaits the demo's ``finish`` (which writes the report)
and shows the verdict, the report path and the keys.

:func:`create_app` is the factory used by ``aftershock tui`` (``chaos.commands.tui``), the
tests and the benchmark (the real engine over the scripted world of ``tests/tui/world.py``).
Engine events arrive only through :class:`tui.bridge.EngineBridge` as ``EngineEvent`` messages, are folded
into :class:`tui.state.RunStore` and published on ``run_changed``; engine calls run in workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.signal import Signal

from chaos.demo.story import KEYS_DONE, Story, narrate
from chaos.engine.api import EngineAPI
from chaos.engine.events import RunFinished
from chaos.loading import Loaded
from tui.bridge import EngineBridge
from tui.messages import EngineEvent, LaunchRequested
from tui.screens.confirm import Confirm
from tui.screens.detail import ConfirmLaunch, DetailScreen
from tui.screens.experiments import ExperimentsScreen
from tui.screens.help import HelpScreen
from tui.screens.history import HistoryScreen, JournalScreen
from tui.screens.live import LiveScreen
from tui.screens.schedules import SchedulesScreen
from tui.state import RunStore, RunView


class DemoScript(Protocol):
    """What the TUI needs of ``aftershock demo`` (``chaos.commands.demo.DemoSession``)."""

    story: Story
    loaded: Loaded
    run_id: str

    async def finish(self, journal: dict[str, Any]) -> str:
        """Write the report; the closing line (verdict, whether the story was shown, report path)."""
        ...


class AftershockApp(App[None]):
    CSS_PATH = "aftershock.tcss"
    TITLE = "Aftershock"
    MODES = {"experiments": ExperimentsScreen, "live": LiveScreen, "history": HistoryScreen,
             "schedules": SchedulesScreen}
    DEFAULT_MODE = "experiments"
    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("e", "mode('experiments')", "Experiments"),
        Binding("l", "mode('live')", "Live"),
        Binding("h", "mode('history')", "History"),
        Binding("s", "mode('schedules')", "Schedules", show=False),
        Binding("t", "toggle_theme", "Theme", show=False),
    ]

    def __init__(self, engine: EngineAPI, experiments_dir: Path, *, state_dir: Path | None = None,
                 clock: Callable[[], float] = time.time, theme: str | None = None,
                 open_experiment: Path | None = None, demo: DemoScript | None = None, where: str = "") -> None:
        super().__init__()
        self.open_experiment = open_experiment
        """Open this experiment's detail screen at start."""
        self.demo = demo
        self.where = where or (f"state dir {state_dir}" if state_dir else "")
        """Where the TUI points (kube context/namespace, Prometheus, state dir): shown on every screen."""
        self.narration = ""
        """The demo's latest sentence (demo mode only), shown by the live screen."""
        self.engine = engine
        self.experiments_dir = Path(experiments_dir)
        self.state_dir = state_dir
        self.clock = clock
        self.store = RunStore()
        self.bridge = EngineBridge(engine, self)
        self.run_changed: Signal[RunView] = Signal(self, "run-changed")
        self.run_finished: Signal[str] = Signal(self, "run-finished")
        self.selected_run: str | None = None
        if theme:
            self.theme = theme

    def on_mount(self) -> None:
        self.bridge.start()
        if self.demo is not None:
            self.narration = f"{self.demo.story.intro} Launching it now…"
            self.call_after_refresh(self.post_message, LaunchRequested(self.demo.loaded, run_id=self.demo.run_id))
        elif self.open_experiment is not None:
            from tui.library import load_entry
            from tui.screens.detail import DetailScreen

            entry = load_entry(self.open_experiment)
            self.call_after_refresh(self.push_screen, DetailScreen(entry))

    def on_unmount(self) -> None:
        self.bridge.stop()

    # ---------------------------------------------------------------- engine → UI

    def on_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        demo_run = self.demo is not None and event.run_id == self.demo.run_id
        if self.demo is not None and demo_run:
            line = narrate(self.demo.story, event)
            if line:
                self.narration = line
        run = self.store.apply(event)
        self.run_changed.publish(run)
        if isinstance(event, RunFinished):
            if demo_run:
                self.narration += " Writing the report…"
                self.finish_demo(run.run_id)
            elif (screen := self._top_screen()) is not None and not (
                    isinstance(screen, LiveScreen) and screen.run_id in (None, run.run_id)):
                # the live screen showing (or about to show) this run says it in its status line;
                # a toast would cover that line
                self.notify(f"{run.experiment} {run.run_id}: {event.verdict} (exit {event.exit_code})",
                            severity="information" if event.exit_code == 0 else "warning")
            self.run_finished.publish(run.run_id)

    def _top_screen(self) -> object:
        """The screen on top, or None while the app closes (its screens are gone before the engine's
        last events, e.g. the end of runs the closing app stopped, have been handled)."""
        stack = self.screen_stack
        return stack[-1] if stack else None

    @work(group="demo")
    async def finish_demo(self, run_id: str) -> None:
        """The demo's run ended: its report is written, the closing line and the keys shown."""
        assert self.demo is not None
        try:
            journal = await self.bridge.call_sync(self.engine.journal, run_id)
            closing = await self.demo.finish(journal)
        except Exception as exc:
            closing = f"the report could not be written: {exc}"
        self.narration = f"Done: {closing}. {KEYS_DONE}"
        run = self.store.get(run_id)
        if run is not None:
            run.version += 1
            self.run_changed.publish(run)

    # ---------------------------------------------------------------- UI → engine

    @on(LaunchRequested)
    @work(group="launch")
    async def launch(self, message: LaunchRequested) -> None:
        try:
            if message.run_id is not None:
                run_id = await self.bridge.call(self.engine.launch, message.loaded, run_id=message.run_id)
            else:
                run_id = await self.bridge.call(self.engine.launch, message.loaded)
        except Exception as exc:
            self.notify(f"launch refused: {exc}", severity="error", timeout=10)
            return
        self.selected_run = run_id
        await self.switch_mode("live")
        screen = self.screen
        if isinstance(screen, LiveScreen):
            screen.select(run_id)

    @work(group="abort")
    async def abort_run(self, run_id: str) -> None:
        """Abort at once, no question: the engine removes the faults first."""
        self.notify(f"aborting {run_id}: removing faults", severity="warning")
        try:
            await self.bridge.call(self.engine.abort, run_id)
        except Exception as exc:
            self.notify(f"abort of {run_id} FAILED: {exc}", severity="error", timeout=30)

    @work(group="rollback")
    async def rollback_run(self, run_id: str) -> None:
        self.notify(f"rolling back {run_id}")
        try:
            await self.bridge.call(self.engine.rollback_now, run_id)
        except Exception as exc:
            self.notify(f"rollback of {run_id} FAILED: {exc}", severity="error", timeout=30)

    # ---------------------------------------------------------------- actions

    async def action_mode(self, mode: str) -> None:
        await self.switch_mode(mode)

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def action_help(self) -> None:
        sections = [("Everywhere", [b for b in self.BINDINGS if isinstance(b, Binding)])]
        for title, screen in (("Experiments", ExperimentsScreen), ("Detail", DetailScreen),
                              ("Launch confirm", ConfirmLaunch), ("Live runs", LiveScreen),
                              ("History", HistoryScreen), ("Run journal", JournalScreen),
                              ("Schedules", SchedulesScreen)):
            sections.append((title, [b for b in screen.BINDINGS if isinstance(b, Binding)]))
        self.push_screen(HelpScreen(sections))

    async def action_quit(self) -> None:
        alive = self.store.alive()
        if not alive:
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.abort_all_and_exit([run.run_id for run in alive])

        self.push_screen(Confirm(f"{len(alive)} run(s) still live. Abort them (faults removed) and quit?",
                                 yes="Abort & quit"), answered)

    @work(group="quit")
    async def abort_all_and_exit(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            try:
                await self.bridge.call(self.engine.abort, run_id)
            except Exception as exc:
                self.notify(f"abort of {run_id} FAILED: {exc}; not quitting", severity="error", timeout=30)
                return
        self.exit()


def create_app(engine: EngineAPI, experiments_dir: Path, *, state_dir: Path | None = None,
               clock: Callable[[], float] | None = None, theme: str | None = None,
               open_experiment: Path | None = None, demo: DemoScript | None = None,
               where: str = "") -> AftershockApp:
    """The TUI over ``engine``, browsing ``experiments_dir``. ``clock`` drives fault countdowns and
    schedules (default: wall clock; the engine's virtual clock in tests)."""
    return AftershockApp(engine, experiments_dir, state_dir=state_dir, clock=clock or time.time, theme=theme,
                         open_experiment=open_experiment, demo=demo, where=where)
