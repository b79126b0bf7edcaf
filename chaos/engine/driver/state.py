"""One run's state in the driver, and what the driver's step modules share.

:class:`RunState` is the mutable state of one run (its target, monitor, policy bridge, deadlines,
silence, undo plan...); :class:`EngineParts` declares the collaborators the step modules use —
:mod:`.preflight`, :mod:`.watch`, :mod:`.mitigations`, :mod:`.alerting` — which
:class:`chaos.engine.driver.Engine` provides. Callers: the ``chaos.engine.driver`` package only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaos.clients.state import StateStore
from chaos.engine import events as ev
from chaos.engine.clock import Clock
from chaos.engine.policy_bridge import PolicyBridge
from chaos.engine.settings import EngineSettings
from chaos.loading import Loaded
from chaos.model.experiment import Experiment
from chaos.policy.actuators import Actuators
from chaos.slo.monitoring import Monitor
from chaos.targets.base import RunTarget, TargetContext

if TYPE_CHECKING:  # imported by the runs that alert (spec.alerting), and that mitigate
    from chaos.engine.alerts import RunAlerts
    from chaos.targets.undo import UndoItem

Listener = Callable[[ev.Event], None]
TargetFactory = Callable[[TargetContext], RunTarget]
"""Builds the target of one run (default: host or Kubernetes by ``spec.target.type``)."""
MonitorFactory = Callable[[Experiment], Monitor]
"""Builds the monitor of one run (default: Prometheus at ``spec.monitor.prometheus`` or ``--prometheus``)."""
HttpFactory = Callable[[], Sequence[object]]
"""Builds the HTTP actuators (degrade, notify) of one run; closed with it (default: one ``HttpActuator``)."""


@dataclass
class RunState:
    """One run as the driver performs it."""

    run_id: str
    loaded: Loaded
    dry_run: bool
    bridge: PolicyBridge
    events: list[ev.Event] = field(default_factory=list)
    deadlines: dict[str, float] = field(default_factory=dict)
    command: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[ev.RunFinished] | None = None
    finished: ev.RunFinished | None = None
    target: RunTarget | None = None
    monitor: Monitor | None = None
    http: Sequence[object] = ()
    actuators: Actuators = field(default_factory=Actuators)
    last_tick: float | None = None
    """Monotonic time of the last monitor tick."""
    last_eval: float = 0.0
    """Evaluation (wall) time of the last monitor tick: the monitor's scrape cadence is in sample time."""
    injected: tuple[float, float] | None = None
    """Monotonic and wall time the last fault went live: the first tick waits for a scrape after it."""
    last_presence: float = 0.0
    """Monotonic time of the last check that the run's faults are still there."""
    missing: set[str] = field(default_factory=set)
    """Faults found gone before their deadline (removed under the run); said once each."""
    alerts: RunAlerts | None = None
    """What this run sends to Alertmanager (``spec.alerting``), None without alerting."""
    posting: set[asyncio.Task[None]] = field(default_factory=set)
    silence: dict[str, Any] | None = None
    """The recorded silence of the expected alerts (until it is expired)."""
    undo_deadline: float | None = None
    """When the run's mitigations are undone at the latest (set when the first one is recorded)."""
    undo_watchdog: int | None = None
    """Pid of the detached watchdog of the run's undo plan (armed with the first mitigation)."""
    plugin_undos: list[UndoItem] = field(default_factory=list)
    """Undo items of applied plugin actions (``ActionKind.undo``), reverted when the run ends."""

    @property
    def experiment(self) -> Experiment:
        return self.loaded.experiment


class EngineParts:
    """The engine's collaborators, as the step modules see them (set by ``Engine.__init__``)."""

    settings: EngineSettings
    store: StateStore
    environ: Mapping[str, str]
    clock: Clock
    targets: TargetFactory
    http: HttpFactory

    def _publish(self, run: RunState, event: ev.Event) -> ev.Event:
        raise NotImplementedError
