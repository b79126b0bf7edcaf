"""What the TUI knows about runs: engine events folded into plain per-run views.

:class:`RunStore` is fed by the app (one :meth:`RunStore.apply` per ``EngineEvent`` message
from :mod:`tui.bridge`) and read by the live screen and its widgets. Pure Python: no Textual,
no I/O, bounded memory (SLO series are ring buffers).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from chaos.engine.events import (
    ActionApplied,
    ActionFailed,
    BreakerChanged,
    FaultInjected,
    FaultRecorded,
    FaultRemoved,
    FaultShrunk,
    PolicyFired,
    PreflightPassed,
    PreflightRefused,
    Reverted,
    RunEvent,
    RunFinished,
    RunLog,
    RunStarted,
    SloSampled,
    SteadyStateChecked,
    SteadyStateRestored,
)
from chaos.slo.verdicts import MONITOR

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
class Decision:
    at: float
    kind: str
    """PolicyFired, ActionApplied, ActionFailed, Reverted, FaultRemoved, BreakerChanged, RunLog …"""
    title: str
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
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
    decisions: deque[Decision] = field(default_factory=lambda: deque(maxlen=MAX_DECISIONS))
    targets: tuple[str, ...] = ()
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


class RunStore:
    """Every run the TUI has seen events of, in launch order."""

    def __init__(self) -> None:
        self.runs: dict[str, RunView] = {}

    def get(self, run_id: str) -> RunView | None:
        return self.runs.get(run_id)

    def alive(self) -> list[RunView]:
        return [r for r in self.runs.values() if not r.finished]

    def apply(self, event: RunEvent) -> RunView:
        """Fold one event into its run (creating the run view on first sight)."""
        run = self.runs.get(event.run_id)
        if run is None:
            run = self.runs[event.run_id] = RunView(run_id=event.run_id, started=event.at)
        run.last = max(run.last, event.at)
        run.version += 1
        _apply(run, event)
        return run


def _apply(run: RunView, event: RunEvent) -> None:
    if isinstance(event, RunStarted):
        run.experiment, run.source, run.target = event.experiment, event.source, event.target
        run.started = event.at
        run.phase = "preflight"
        for name in event.slos:
            run.slos.setdefault(name, SloView(name))
        for name in event.faults:
            run.faults.setdefault(name, FaultView(name))
    elif isinstance(event, PreflightPassed):
        run.targets = event.targets
        run.phase = "steady-state"
    elif isinstance(event, PreflightRefused):
        run.phase = "refused"
        _decide(run, event.at, event.kind, f"preflight refused: {event.reason}", "; ".join(event.details),
                severity="error")
    elif isinstance(event, SteadyStateChecked):
        for verdict in event.verdicts:
            _sample(run, verdict, event.at)
        state = "holds" if event.holds else "does NOT hold"
        _decide(run, event.at, event.kind, f"steady state {event.phase}: {state}",
                severity="success" if event.holds else "error")
        if event.phase == "after":
            run.phase = "verifying"
    elif isinstance(event, FaultRecorded):
        view = run.faults.setdefault(event.fault, FaultView(event.fault))
        view.fault_type, view.description, view.deadline = event.fault_type, event.description, event.deadline
    elif isinstance(event, FaultInjected):
        view = run.faults.setdefault(event.fault, FaultView(event.fault))
        view.fault_type, view.description, view.deadline = event.fault_type, event.description, event.deadline
        view.injected_at, view.removed_at, view.reason = event.at, None, ""
        run.phase = "injecting"
        _decide(run, event.at, event.kind, f"injected {event.fault}", event.description)
    elif isinstance(event, SloSampled):
        for verdict in event.tick.verdicts:
            _sample(run, verdict, event.at)
    elif isinstance(event, PolicyFired):
        _decide(run, event.at, event.kind, f"policy {event.policy} → {event.action}",
                f"target {event.target}" if event.target else "", evidence=dict(event.evidence),
                severity="warning")
    elif isinstance(event, ActionApplied):
        _decide(run, event.at, event.kind, f"{event.action} applied", event.detail, severity="success")
    elif isinstance(event, ActionFailed):
        _decide(run, event.at, event.kind, f"{event.action} FAILED", event.error, severity="error")
    elif isinstance(event, BreakerChanged):
        run.breakers[(event.policy, event.service)] = BreakerView(event.policy, event.service, event.state,
                                                                  event.weight, event.at)
        _decide(run, event.at, event.kind, f"breaker {event.service}: {event.state}",
                f"weight {event.weight}", severity="warning" if event.state != "closed" else "info")
    elif isinstance(event, FaultShrunk):
        view = run.faults.setdefault(event.fault, FaultView(event.fault))
        view.shrunk = dict(event.params)
        _decide(run, event.at, event.kind, f"shrunk {event.fault}",
                ", ".join(f"{k}={v}" for k, v in event.params.items()))
    elif isinstance(event, FaultRemoved):
        view = run.faults.setdefault(event.fault, FaultView(event.fault))
        view.removed_at, view.reason = event.at, event.reason
        if not run.live_faults() and not run.finished:
            run.phase = "recovering"
        _decide(run, event.at, event.kind, f"removed {event.fault}", f"reason: {event.reason}",
                severity="warning" if event.reason in ("abort", "error") else "info")
    elif isinstance(event, Reverted):
        _decide(run, event.at, event.kind, f"{event.action} {'kept' if event.kept else 'reverted'}",
                event.detail, severity="warning" if event.kept else "info")
    elif isinstance(event, SteadyStateRestored):
        _decide(run, event.at, event.kind, f"steady state restored after {event.seconds:g}s",
                severity="success")
    elif isinstance(event, RunLog):
        if event.level in ("warning", "error"):
            _decide(run, event.at, event.kind, event.message, severity=event.level)
    elif isinstance(event, RunFinished):
        run.verdict, run.exit_code, run.reason = event.verdict, event.exit_code, event.reason
        run.timings, run.journal = dict(event.timings), event.journal
        run.phase = "finished"
        _decide(run, event.at, event.kind, f"run finished: {event.verdict} (exit {event.exit_code})",
                event.reason, severity="success" if event.exit_code == 0 else "error")


def _sample(run: RunView, verdict: Any, at: float) -> None:
    if verdict.slo == MONITOR:
        return  # the monitor's own health verdict is not an SLO of the run
    view = run.slos.setdefault(verdict.slo, SloView(verdict.slo))
    if verdict.objective and verdict.objective != view.objective:
        view.objective = verdict.objective
        view.threshold = parse_objective(verdict.objective)[1]
    view.status, view.value, view.consecutive = verdict.status, verdict.value, verdict.consecutive
    view.points.append(Point(verdict.eval_time or at, verdict.value, verdict.status))


def _decide(run: RunView, at: float, kind: str, title: str, detail: str = "", *,
            evidence: dict[str, Any] | None = None, severity: str = "info") -> None:
    run.decisions.append(Decision(at, kind, title, detail, evidence or {}, severity))
    run.decision_total += 1
