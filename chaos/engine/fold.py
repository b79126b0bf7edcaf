"""The one fold of a run's event stream into its state: :class:`RunView` and :func:`fold`.

Pure (no I/O, no clock, no Textual): every event of the closed :data:`chaos.engine.events.Event`
union is folded by one ``match`` that ends in ``assert_never``, so a new event type cannot be
forgotten. Used by the TUI (``tui.state.RunStore``, one view per run) and by the CLI's live
progress view (``chaos.commands.live``). Bounded memory: SLO series are ring buffers.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any, assert_never

from chaos.engine import events as ev
from chaos.engine.wording import words
from chaos.slo.verdicts import MONITOR, Verdict

MAX_POINTS = 3600
"""Samples kept per SLO (an hour at 1 s ticks)."""
MAX_DECISIONS = 500

_OBJECTIVE_RE = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$")


def parse_objective(text: str) -> tuple[str, float | None]:
    """``"< 0.8"`` → ``("<", 0.8)``; unknown forms give ``(text, None)``."""
    match = _OBJECTIVE_RE.match(text)
    if not match:
        return text, None
    try:
        return match.group(1), float(match.group(2))
    except ValueError:
        return match.group(1), None


@dataclass
class Point:
    at: float
    value: float | None
    status: str


@dataclass
class SloView:
    name: str
    objective: str = ""
    threshold: float | None = None
    status: str = "no-data"
    value: float | None = None
    consecutive: int = 0
    points: deque[Point] = field(default_factory=lambda: deque(maxlen=MAX_POINTS))


@dataclass
class FaultView:
    name: str
    fault_type: str = ""
    description: str = ""
    deadline: float = 0.0
    injected_at: float | None = None
    removed_at: float | None = None
    reason: str = ""
    shrunk: dict[str, Any] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.injected_at is not None and self.removed_at is None


@dataclass
class BreakerView:
    policy: str
    service: str
    state: str
    weight: int
    at: float


@dataclass
class LogEntry:
    at: float
    kind: str
    """PolicyFired, ActionApplied, ActionFailed, Reverted, FaultRemoved, BreakerChanged, RunLog …"""
    title: str
    """The event's words (:mod:`chaos.engine.wording`), as ``show`` and the report say it."""
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    """A fired policy's evidence (its words are the detail)."""
    severity: str = "info"
    """info, warning, error, success."""


@dataclass
class RunView:
    run_id: str
    experiment: str = ""
    source: str = ""
    target: str = ""
    started: float = 0.0
    last: float = 0.0
    phase: str = "starting"
    slos: dict[str, SloView] = field(default_factory=dict)
    faults: dict[str, FaultView] = field(default_factory=dict)
    breakers: dict[tuple[str, str], BreakerView] = field(default_factory=dict)
    decisions: deque[LogEntry] = field(default_factory=lambda: deque(maxlen=MAX_DECISIONS))
    targets: tuple[str, ...] = ()
    monitor: SloView | None = None
    """The monitor's own health (failed polls of the tick): a status of the run, not one of its SLOs."""
    verdict: str = ""
    exit_code: int | None = None
    reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    journal: str = ""
    decision_total: int = 0
    """Decisions ever appended (the deque keeps the last MAX_DECISIONS)."""
    version: int = 0
    """Bumped on every applied event (widgets redraw when it changed)."""

    @property
    def finished(self) -> bool:
        return bool(self.verdict)

    @property
    def fault_window(self) -> tuple[float, float | None] | None:
        """First injection → last removal (None end while a fault is live)."""
        starts = [f.injected_at for f in self.faults.values() if f.injected_at is not None]
        if not starts:
            return None
        if any(f.live for f in self.faults.values()):
            return min(starts), None
        ends = [f.removed_at for f in self.faults.values() if f.removed_at is not None]
        return min(starts), (max(ends) if ends else None)

    def live_faults(self) -> list[FaultView]:
        return [f for f in self.faults.values() if f.live]


def fold(run: RunView, event: ev.Event) -> RunView:
    """Fold one event into ``run`` (the view of ``event.run_id``); returns it."""
    run.last = max(run.last, event.at)
    run.version += 1
    _apply(run, event)
    return run


def _apply(run: RunView, event: ev.Event) -> None:
    match event:
        case ev.RunStarted():
            run.experiment, run.source, run.target = event.experiment, event.source, event.target
            run.started = event.at
            run.phase = "preflight"
            for name in event.slos:
                run.slos.setdefault(name, SloView(name))
            for name in event.faults:
                run.faults.setdefault(name, FaultView(name))
        case ev.PreflightPassed():
            run.targets = event.targets
            run.phase = "steady-state"
        case ev.PreflightRefused():
            run.phase = "refused"
            _decide(run, event)
        case ev.SteadyStateChecked():
            for verdict in event.verdicts:
                _sample(run, verdict, event.at)
            _decide(run, event)
            if event.phase == "after":
                run.phase = "verifying"
        case ev.FaultRecorded():
            view = run.faults.setdefault(event.fault, FaultView(event.fault))
            view.fault_type, view.description, view.deadline = event.fault_type, event.description, event.deadline
        case ev.FaultInjected():
            view = run.faults.setdefault(event.fault, FaultView(event.fault))
            view.fault_type, view.description, view.deadline = event.fault_type, event.description, event.deadline
            view.injected_at, view.removed_at, view.reason = event.at, None, ""
            run.phase = "injecting"
            _decide(run, event)
        case ev.SloSampled():
            for verdict in event.tick.verdicts:
                _sample(run, verdict, event.at)
        case ev.PolicyFired():
            _decide(run, event, evidence=dict(event.evidence))
        case ev.ActionApplied():
            _decide(run, event)
        case ev.ActionFailed():
            _decide(run, event)
        case ev.BreakerChanged():
            run.breakers[(event.policy, event.service)] = BreakerView(event.policy, event.service, event.state,
                                                                      event.weight, event.at)
            _decide(run, event)
        case ev.FaultShrunk():
            view = run.faults.setdefault(event.fault, FaultView(event.fault))
            view.shrunk = dict(event.params)
            _decide(run, event)
        case ev.FaultRemoved():
            view = run.faults.setdefault(event.fault, FaultView(event.fault))
            view.removed_at, view.reason = event.at, event.reason
            if not run.live_faults() and not run.finished:
                run.phase = "recovering"
            _decide(run, event)
        case ev.Reverted():
            _decide(run, event)
        case ev.SteadyStateRestored():
            _decide(run, event)
        case ev.RunLog():
            if event.level in ("warning", "error"):
                _decide(run, event)
        case ev.RunFinished():
            run.verdict, run.exit_code, run.reason = event.verdict, event.exit_code, event.reason
            run.timings, run.journal = dict(event.timings), event.journal
            run.phase = "finished"
            _decide(run, event)
        case _:
            assert_never(event)


def _sample(run: RunView, verdict: Verdict, at: float) -> None:
    if verdict.slo == MONITOR:  # the monitor's own health: a status, not an SLO of the run
        view = run.monitor = run.monitor or SloView(MONITOR)
    else:
        view = run.slos.setdefault(verdict.slo, SloView(verdict.slo))
    if verdict.objective and verdict.objective != view.objective:
        view.objective = verdict.objective
        view.threshold = parse_objective(verdict.objective)[1]
    view.status, view.value, view.consecutive = verdict.status, verdict.value, verdict.consecutive
    view.points.append(Point(verdict.eval_time or at, verdict.value, verdict.status))


def _decide(run: RunView, event: ev.Event, *, evidence: dict[str, Any] | None = None) -> None:
    """The event in the run's decision log, in its own words (:func:`chaos.engine.wording.words`)."""
    said = words(event)
    if said is None:
        return
    run.decisions.append(LogEntry(event.at, event.kind, said.title, said.detail, evidence or {}, said.severity))
    run.decision_total += 1
