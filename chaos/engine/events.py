"""Typed run events: the one stream every subscriber sees (CLI progress, NDJSON, journal, TUI).

Each event is a frozen, keyword-only dataclass with the run id and the wall-clock time it
happened; :data:`Event` is the closed union of them all (consumers match on it and end with
``assert_never``, so a new event type is a type error until every consumer handles it).
Published by ``chaos.engine.runs.lifecycle`` through ``chaos.engine.driver``; consumed by
``chaos.journal``, ``chaos.engine.fold`` (the CLI's live view and the TUI) and ``tui.bridge``.
Pure values; ``to_dict`` gives the JSON form used by ``--output json``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from chaos.secrets import scrub_data
from chaos.slo.verdicts import Tick, Verdict


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    return value


RunVerdict = Literal["passed", "deviated", "failed", "unsteady", "aborted", "invalid", "error"]
SteadyPhase = Literal["before", "after"]
RemovalReason = Literal["rollback", "end", "abort", "error"]
BreakerState = Literal["closed", "open", "half-open"]
LogLevel = Literal["info", "warning", "error"]


@dataclass(frozen=True, kw_only=True)
class RunEvent:
    """Base of every event a run publishes: which run, and when (wall-clock seconds)."""

    kind: ClassVar[str] = "event"
    run_id: str
    at: float

    def to_dict(self) -> dict[str, Any]:
        out = _jsonable(self)
        assert isinstance(out, dict)
        return scrub_data({"event": self.kind, **out})  # type: ignore[no-any-return]


@dataclass(frozen=True, kw_only=True)
class RunStarted(RunEvent):
    """A run began: the experiment, where it came from, its target, faults and SLOs."""

    kind: ClassVar[str] = "RunStarted"
    experiment: str
    source: str = ""
    target: str = ""
    dry_run: bool = False
    faults: tuple[str, ...] = ()
    slos: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PreflightPassed(RunEvent):
    """The pre-flight checks passed and resolved the concrete targets."""

    kind: ClassVar[str] = "PreflightPassed"
    checks: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    """Resolved concrete targets (pods, proxy listeners, ports)."""


@dataclass(frozen=True, kw_only=True)
class PreflightRefused(RunEvent):
    """The pre-flight refused the run (nothing was injected); ``details`` say why."""

    kind: ClassVar[str] = "PreflightRefused"
    reason: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SteadyStateChecked(RunEvent):
    """The steady-state SLOs were judged, before injection or after recovery."""

    kind: ClassVar[str] = "SteadyStateChecked"
    phase: SteadyPhase
    """``before`` injection, or ``after`` recovery."""
    holds: bool
    verdicts: tuple[Verdict, ...] = ()


@dataclass(frozen=True, kw_only=True)
class FaultRecorded(RunEvent):
    """Write-ahead: the fault is durable in the state dir before it exists anywhere."""

    kind: ClassVar[str] = "FaultRecorded"
    fault: str
    fault_type: str = ""
    description: str = ""
    """What the fault does, in its kind's words (``FaultKind.describe``)."""
    deadline: float = 0.0


@dataclass(frozen=True, kw_only=True)
class FaultInjected(RunEvent):
    """A fault is live at its target (recorded before, see :class:`FaultRecorded`)."""

    kind: ClassVar[str] = "FaultInjected"
    fault: str
    fault_type: str = ""
    description: str = ""
    """What the fault does, in its kind's words (``FaultKind.describe``)."""
    deadline: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    """What the target reported: ``realisation`` (how it exists: ``NetworkChaos shop/x``, the proxy
    fault, the kernel rule), ``kind``, ``comment``, Chaos Mesh's ``status``."""


@dataclass(frozen=True, kw_only=True)
class SloSampled(RunEvent):
    """One monitor tick: every watched SLO's value and verdict."""

    kind: ClassVar[str] = "SloSampled"
    tick: Tick


@dataclass(frozen=True, kw_only=True)
class PolicyFired(RunEvent):
    """A policy decided on an action, with the evidence (SLO values) it decided on."""

    kind: ClassVar[str] = "PolicyFired"
    decision_id: str
    policy: str
    action: str
    target: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ActionApplied(RunEvent):
    """A policy's action took effect."""

    kind: ClassVar[str] = "ActionApplied"
    decision_id: str
    action: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class ActionFailed(RunEvent):
    """A policy's action failed; the decider escalates on the next tick."""

    kind: ClassVar[str] = "ActionFailed"
    decision_id: str
    action: str
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class BreakerChanged(RunEvent):
    """A circuit-break moved a service's breaker (and its backend weight)."""

    kind: ClassVar[str] = "BreakerChanged"
    policy: str = ""
    service: str
    state: BreakerState
    weight: int = 100


@dataclass(frozen=True, kw_only=True)
class FaultShrunk(RunEvent):
    """A shrink policy made a live fault milder (its new parameters)."""

    kind: ClassVar[str] = "FaultShrunk"
    fault: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class FaultRemoved(RunEvent):
    """A fault is gone from its target, and why it was removed."""

    kind: ClassVar[str] = "FaultRemoved"
    fault: str
    reason: RemovalReason


@dataclass(frozen=True, kw_only=True)
class Reverted(RunEvent):
    """A policy's action was undone at the end of the run (or deliberately kept)."""

    kind: ClassVar[str] = "Reverted"
    decision_id: str
    action: str
    detail: str = ""
    kept: bool = False
    """True when the policy said ``keep: true`` and the action was deliberately left in place."""


@dataclass(frozen=True, kw_only=True)
class SteadyStateRestored(RunEvent):
    """The steady state held again after recovery (``seconds``: how long the wait for it took)."""

    kind: ClassVar[str] = "SteadyStateRestored"
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class RunLog(RunEvent):
    """A free-text line of the run's log."""

    kind: ClassVar[str] = "RunLog"
    level: LogLevel = "info"
    message: str


@dataclass(frozen=True, kw_only=True)
class RunFinished(RunEvent):
    """The run ended: verdict, exit code, journal and timings."""

    kind: ClassVar[str] = "RunFinished"
    verdict: RunVerdict
    exit_code: int
    reason: str = ""
    journal: str = ""
    """Path of the journal file."""
    timings: dict[str, float] = field(default_factory=dict)
    """breach → action → fault removed → SLO recovered, in seconds."""


Event = (RunStarted | PreflightPassed | PreflightRefused | SteadyStateChecked | FaultRecorded | FaultInjected
         | SloSampled | PolicyFired | ActionApplied | ActionFailed | BreakerChanged | FaultShrunk | FaultRemoved
         | Reverted | SteadyStateRestored | RunLog | RunFinished)
"""Every event a run publishes (closed: match on it with ``assert_never`` in the default case)."""
