"""Typed run events: the one stream every subscriber sees (CLI progress, NDJSON, journal, TUI).

Each event is a frozen dataclass with the run id and the wall-clock time it happened.
Emitted by ``chaos.engine.driver``; consumed by ``chaos.journal``, the CLI and ``tui.bridge``.
Pure values; ``to_dict`` gives the JSON form used by ``--output json``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

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


@dataclass(frozen=True)
class RunEvent:
    kind: ClassVar[str] = "event"
    run_id: str
    at: float

    def to_dict(self) -> dict[str, Any]:
        out = _jsonable(self)
        assert isinstance(out, dict)
        return scrub_data({"event": self.kind, **out})  # type: ignore[no-any-return]


@dataclass(frozen=True)
class RunStarted(RunEvent):
    kind: ClassVar[str] = "RunStarted"
    experiment: str = ""
    source: str = ""
    target: str = ""
    dry_run: bool = False
    faults: tuple[str, ...] = ()
    slos: tuple[str, ...] = ()


@dataclass(frozen=True)
class PreflightPassed(RunEvent):
    kind: ClassVar[str] = "PreflightPassed"
    checks: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    """Resolved concrete targets (pods, proxy listeners, ports)."""


@dataclass(frozen=True)
class PreflightRefused(RunEvent):
    kind: ClassVar[str] = "PreflightRefused"
    reason: str = ""
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class SteadyStateChecked(RunEvent):
    kind: ClassVar[str] = "SteadyStateChecked"
    phase: str = "before"
    """``before`` injection, or ``after`` recovery."""
    holds: bool = False
    verdicts: tuple[Verdict, ...] = ()


@dataclass(frozen=True)
class FaultRecorded(RunEvent):
    """Write-ahead: the fault is durable in the state dir before it exists anywhere."""

    kind: ClassVar[str] = "FaultRecorded"
    fault: str = ""
    fault_type: str = ""
    description: str = ""
    deadline: float = 0.0


@dataclass(frozen=True)
class FaultInjected(RunEvent):
    kind: ClassVar[str] = "FaultInjected"
    fault: str = ""
    fault_type: str = ""
    description: str = ""
    deadline: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SloSampled(RunEvent):
    kind: ClassVar[str] = "SloSampled"
    tick: Tick = field(default_factory=lambda: Tick(eval_time=0.0))


@dataclass(frozen=True)
class PolicyFired(RunEvent):
    kind: ClassVar[str] = "PolicyFired"
    decision_id: str = ""
    policy: str = ""
    action: str = ""
    target: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionApplied(RunEvent):
    kind: ClassVar[str] = "ActionApplied"
    decision_id: str = ""
    action: str = ""
    detail: str = ""


@dataclass(frozen=True)
class ActionFailed(RunEvent):
    kind: ClassVar[str] = "ActionFailed"
    decision_id: str = ""
    action: str = ""
    error: str = ""


@dataclass(frozen=True)
class BreakerChanged(RunEvent):
    kind: ClassVar[str] = "BreakerChanged"
    policy: str = ""
    service: str = ""
    state: str = ""
    """closed, open or half-open."""
    weight: int = 100


@dataclass(frozen=True)
class FaultShrunk(RunEvent):
    kind: ClassVar[str] = "FaultShrunk"
    fault: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FaultRemoved(RunEvent):
    kind: ClassVar[str] = "FaultRemoved"
    fault: str = ""
    reason: str = ""
    """rollback, policy, end, abort, error."""


@dataclass(frozen=True)
class Reverted(RunEvent):
    kind: ClassVar[str] = "Reverted"
    decision_id: str = ""
    action: str = ""
    detail: str = ""
    kept: bool = False
    """True when the policy said ``keep: true`` and the action was deliberately left in place."""


@dataclass(frozen=True)
class SteadyStateRestored(RunEvent):
    kind: ClassVar[str] = "SteadyStateRestored"
    seconds: float = 0.0


@dataclass(frozen=True)
class RunLog(RunEvent):
    kind: ClassVar[str] = "RunLog"
    level: str = "info"
    message: str = ""


@dataclass(frozen=True)
class RunFinished(RunEvent):
    kind: ClassVar[str] = "RunFinished"
    verdict: str = ""
    exit_code: int = 0
    reason: str = ""
    journal: str = ""
    """Path of the journal file."""
    timings: dict[str, float] = field(default_factory=dict)
    """breach → action → fault removed → SLO recovered, in seconds."""


EVENT_TYPES: tuple[type[RunEvent], ...] = (
    RunStarted, PreflightPassed, PreflightRefused, SteadyStateChecked, FaultRecorded, FaultInjected,
    SloSampled, PolicyFired, ActionApplied, ActionFailed, BreakerChanged, FaultShrunk, FaultRemoved,
    Reverted, SteadyStateRestored, RunLog, RunFinished,
)
