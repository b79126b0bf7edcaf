"""Live run screen: per SLO a chart (objective line, fault window and policy actions on a time
axis), current verdicts, the monitor's health in the status line, faults with countdowns,
circuit breakers and the decision log of the selected run; several runs at once, switchable
with ``[``/``]`` or the tabs. ``a`` aborts the selected run at once (no question: faults are
removed first), ``r`` rolls back now; both only while the run is live. In demo mode a
narration bar says what is happening and what to watch.

Fed by the app: it subscribes to ``app.run_changed`` (published per engine event) and redraws
the selected run at most every ``REDRAW_S``; keys redraw at once.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Static, Tab, Tabs

from tui.screens.base import AppScreen
from tui.state import RunView
from tui.widgets.decision_log import DecisionLog
from tui.widgets.panels import BreakersPanel, FaultsPanel, WhereBar, breakers_text, faults_text, status_text
from tui.widgets.slo_chart import SloChart

REDRAW_S = 0.1


def _tab_id(run_id: str) -> str:
    return f"run-{run_id}"


def _tab_label(run: RunView) -> str:
    mark = "●" if not run.finished else {"passed": "✓", "aborted": "■"}.get(run.verdict, "✗")
    return f"{mark} {run.experiment or '?'} {run.run_id}"


class LiveScreen(AppScreen):
    BINDINGS = [
        Binding("a", "abort", "Abort", priority=True),
        Binding("r", "rollback", "Rollback now"),
        Binding("right_square_bracket", "next_run", "Next run"),
        Binding("left_square_bracket", "previous_run", "Prev run"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.run_id: str | None = None
        self.drawn: tuple[str | None, int] = (None, -1)
        self.charts: dict[str, SloChart] = {}
        self.tab_labels: dict[str, str] = {}
        self._dirty = False
        self._ready = False
        """True once mounted: widgets exist (a launch may select a run before that)."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield WhereBar(self.tui.where)
        yield Static(id="narration")
        yield Tabs(id="runs")
        yield Static(id="run-status")
        with Horizontal(id="live-body"):
            yield Vertical(id="charts")
            with Vertical(id="side"):
                yield FaultsPanel(id="faults")
                yield BreakersPanel(id="breakers")
        yield DecisionLog(id="decisions")
        yield Footer()

    def on_mount(self) -> None:
        self._ready = True
        self.sub_title = "Live runs"
        self.query_one("#narration", Static).display = self.tui.demo is not None
        self.tui.run_changed.subscribe(self, self._run_changed)
        for run in self.tui.store.runs.values():
            self._ensure_tab(run)
        target = self.run_id or self.tui.selected_run
        if target not in self.tui.store.runs and self.tui.store.runs:
            target = next(reversed(self.tui.store.runs))
        if target is not None:
            self.select(target)
        self.set_interval(REDRAW_S, self._flush)
        self.set_interval(1.0, self._countdown)
        self.redraw()

    # ---------------------------------------------------------------- runs

    def _ensure_tab(self, run: RunView) -> None:
        label = _tab_label(run)
        known = self.tab_labels.get(run.run_id)
        if known == label:
            return
        tabs = self.query_one(Tabs)
        self.tab_labels[run.run_id] = label
        if known is None:
            tabs.add_tab(Tab(label, id=_tab_id(run.run_id)))
        else:
            tabs.query_one(f"#{_tab_id(run.run_id)}", Tab).label = label

    def _run_changed(self, run: RunView) -> None:
        self._ensure_tab(run)
        if self.run_id is None:
            self.select(run.run_id)
        if run.run_id == self.run_id:
            self._dirty = True

    def select(self, run_id: str) -> None:
        """Show ``run_id`` (called by the app after a launch, and by the tabs)."""
        if run_id not in self.tui.store.runs or not self._ready:
            self.run_id = run_id  # shown once its first event arrives / the screen is mounted
            return
        self.run_id = run_id
        tabs = self.query_one(Tabs)
        self._ensure_tab(self.tui.store.runs[run_id])
        if tabs.active != _tab_id(run_id):
            tabs.active = _tab_id(run_id)
        self.redraw()

    @property
    def run(self) -> RunView | None:
        return self.tui.store.get(self.run_id) if self.run_id else None

    @on(Tabs.TabActivated)
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab is None or event.tab.id is None:
            return
        run_id = event.tab.id.removeprefix("run-")
        if run_id != self.run_id:
            self.run_id = run_id
            self.redraw()

    # ---------------------------------------------------------------- drawing

    def _flush(self) -> None:
        if self._dirty:
            self._dirty = False
            self.redraw()

    def _countdown(self) -> None:
        """Every second: countdowns and the elapsed time move even when no event arrives."""
        run = self.run
        if run is None or run.finished:
            return
        now = self.tui.clock()
        self.query_one("#run-status", Static).update(status_text(run, now))
        if run.live_faults():
            self.query_one(FaultsPanel).update(faults_text(run, now))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Abort and rollback are offered only while the selected run is live."""
        if action in ("abort", "rollback"):
            run = self.run
            return run is not None and not run.finished
        return True

    def redraw(self) -> None:
        run = self.run
        if self.tui.demo is not None:
            self.query_one("#narration", Static).update(self.tui.narration)
        self.refresh_bindings()
        status = self.query_one("#run-status", Static)
        if run is None:
            status.update("No runs yet — open an experiment (e), then launch it with x.")
            self.query_one(FaultsPanel).update("")
            self.query_one(BreakersPanel).update("")
            self.query_one(DecisionLog).show(None)
            self._set_charts(None)
            self.drawn = (None, -1)
            return
        self._ensure_tab(run)
        now = self.tui.clock()
        status.update(status_text(run, now))
        self.query_one(FaultsPanel).update(faults_text(run, now))
        self.query_one(BreakersPanel).update(breakers_text(run))
        self.query_one(DecisionLog).show(run)
        self._set_charts(run)
        self.drawn = (run.run_id, run.version)

    def _set_charts(self, run: RunView | None) -> None:
        box = self.query_one("#charts", Vertical)
        names = list(run.slos) if run is not None else []  # the monitor's health is run.monitor: a status
        if len(self.charts) != len(names):
            # same number of SLOs (switching between similar runs): the chart widgets are reused
            box.remove_children()
            self.charts = {}
            if run is None:
                return
            self.charts = {name: SloChart(run.slos[name]) for name in names}
            box.mount_all(list(self.charts.values()))
        if run is None:
            return
        if list(self.charts) != names:
            self.charts = dict(zip(names, self.charts.values(), strict=True))
        window = run.fault_window
        marks = [d.at for d in run.decisions if d.kind == "PolicyFired"]
        end = run.last if run.finished else None
        for name, chart in self.charts.items():
            chart.update_view(run.slos[name], window, start=run.started, end=end, marks=marks)

    # ---------------------------------------------------------------- actions

    def action_abort(self) -> None:
        run = self.run
        if run is None or run.finished:
            self.notify("no live run selected", severity="warning")
            return
        self.tui.abort_run(run.run_id)

    def action_rollback(self) -> None:
        run = self.run
        if run is None or run.finished:
            self.notify("no live run selected", severity="warning")
            return
        self.tui.rollback_run(run.run_id)

    def _cycle(self, delta: int) -> None:
        ids = list(self.tui.store.runs)
        if not ids:
            return
        index = ids.index(self.run_id) if self.run_id in ids else -1
        self.select(ids[(index + delta) % len(ids)])

    def action_next_run(self) -> None:
        self._cycle(1)

    def action_previous_run(self) -> None:
        self._cycle(-1)
