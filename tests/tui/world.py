"""A scripted world for the real engine: the TUI tests' (and the TUI benchmark's) engine.

:func:`world_engine` builds :class:`chaos.engine.driver.Engine` — the real driver, lifecycle,
policy bridge and decider, the real :class:`~chaos.slo.monitoring.Monitor` and SLO evaluation, a
real state store and journal — over three scripted collaborators:

* :class:`VirtualClock`: epoch ``origin + t``; a wait advances ``t`` by its timeout at once (after
  yielding to the loop, or ``step_delay`` real seconds) unless its event is set first. Waits that
  would pass ``pause_at`` virtual seconds block until :meth:`VirtualClock.release` or a user
  command, so a screen can be captured at a fixed point of a run.
* :class:`WorldTarget`: a :class:`~chaos.targets.base.RunTarget` in memory (inject, remove,
  shrink, weights; degrades and notifications through ``RecordingActuators``).
* :class:`WorldPrometheus`: the monitor's client. Each SLO's value drifts with the fault
  pressure of its experiment's latest run: the first policy's SLO (the victim) breaches a few
  ticks after injection, the others move a third as much; pressure falls once the faults are gone.

Deterministic: the same launches give the same events at the same virtual times.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.clients.state import StateStore
from chaos.engine.driver import Engine
from chaos.engine.settings import EngineSettings
from chaos.loading import Loaded
from chaos.model.experiment import Experiment
from chaos.model.faults import FaultBase
from chaos.model.slos import Slo
from chaos.policy.actions import WeightTarget
from chaos.policy.actuators import Actuators, RecordingActuators
from chaos.slo.evaluation import Point
from chaos.slo.monitoring import Monitor
from chaos.targets.base import Realisation, TargetContext, UndoContext
from chaos.targets.lifecycle import Removal, Removed

DEFAULT_START = 1_767_261_600.0
"""2026-01-01T10:00:00Z: the virtual clock's origin (fixed, so screens are reproducible)."""
STEP = 0.25
"""Pressure change per monitor interval."""


class VirtualClock:
    def __init__(self, origin: float = DEFAULT_START, *, pause_at: float | None = None,
                 step_delay: float = 0.0) -> None:
        self.origin = origin
        self.t = 0.0
        self.pause_at = pause_at
        self.step_delay = step_delay
        self._loop: asyncio.AbstractEventLoop | None = None
        self._released: asyncio.Event | None = None
        self.blocked = 0
        """Waits held at ``pause_at`` right now."""

    def wall(self) -> float:
        return round(self.origin + self.t, 6)

    def monotonic(self) -> float:
        return self.t

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        self._loop = asyncio.get_running_loop()
        if self._released is None:
            self._released = asyncio.Event()
        if self.step_delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), self.step_delay)
        else:
            await asyncio.sleep(0)
        if event.is_set():
            return True
        deadline = self.t + max(timeout, 0.0)
        while self.pause_at is not None and deadline >= self.pause_at:
            released = self._released
            waiters = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(released.wait())}
            self.blocked += 1
            try:
                _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self.blocked -= 1
            for task in pending:
                task.cancel()
            released.clear()
            if event.is_set():
                return True
        self.t = max(self.t, deadline)
        return False

    def release(self, pause_at: float | None = None) -> None:
        """Let paused waits go on (until ``pause_at`` if given). Safe from any thread."""

        def go() -> None:
            self.pause_at = pause_at
            if self._released is not None:
                self._released.set()

        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(go)
        else:
            go()


@dataclass
class _Injection:
    fault: str
    at: float
    removed: float | None = None


@dataclass
class World:
    """What is injected where, on the virtual clock; read by the scripted Prometheus."""

    clock: VirtualClock
    lead_ticks: int = 2
    injections: dict[str, list[_Injection]] = field(default_factory=dict)
    """Run id → its injections."""
    experiments: dict[str, str] = field(default_factory=dict)
    """Run id → experiment name."""
    weights: dict[str, int] = field(default_factory=dict)
    write_ahead: list[str | None] = field(default_factory=list)
    """The store's state of each fault when its injection began (``recorded``: written ahead)."""

    def live(self, run_id: str) -> list[str]:
        return [i.fault for i in self.injections.get(run_id, []) if i.removed is None]

    def pressure(self, experiment: Experiment, t: float) -> float:
        runs = [r for r, name in self.experiments.items() if name == experiment.name and self.injections.get(r)]
        if not runs:
            return 0.0
        injections = self.injections[runs[-1]]
        interval = experiment.spec.monitor.interval_s
        on = min(i.at for i in injections) + self.lead_ticks * interval
        cap = 1.0 if experiment.spec.policies else 0.4

        def rising(at: float) -> float:
            return 0.0 if at < on else min(cap, STEP * (math.floor((at - on) / interval + 1e-9) + 1))

        if any(i.removed is None for i in injections):
            return rising(t)
        off = max(i.removed for i in injections if i.removed is not None)
        if t < off:
            return rising(t)
        return max(0.0, rising(off) - STEP * (math.floor((t - off) / interval + 1e-9) + 1))


def slo_value(slo: Slo, pressure: float) -> float:
    """A deterministic SLO value: healthy at pressure 0, over the objective past 0.5 for the victim."""
    target = slo.objective.value
    op = slo.objective.op
    span = abs(target) if target else 1.0
    if op in ("<", "<="):
        value = target - span * 0.5 + span * pressure
    elif op in (">", ">="):
        value = target + span * 0.5 - span * pressure
    elif op == "==":
        value = target + (math.floor(pressure * 4) if pressure > 0.5 else 0.0)
    else:
        value = target + 1.0 if pressure <= 0.5 else target
    return round(value, 6)


class WorldPrometheus:
    """The monitor's client: answers each SLO query of one experiment from the world."""

    batching = False
    """Plain SLO queries only (no batched PromQL, no freshness probes): see ``Monitor.batching``."""

    def __init__(self, world: World, experiment: Experiment) -> None:
        self.world = world
        self.experiment = experiment
        victim = experiment.spec.policies[0].when.slo if experiment.spec.policies else None
        self.slos = {s.query.strip(): (s, 1.0 if s.name == victim else 0.35) for s in experiment.spec.slos}

    async def query(self, query: str, eval_time: float, timeout_s: float | None = None
                    ) -> tuple[tuple[Point, ...], float]:
        slo, weight = self.slos[query.strip()]
        pressure = self.world.pressure(self.experiment, eval_time - self.world.clock.origin) * weight
        return (Point({}, slo_value(slo, pressure)),), 0.004

    async def aclose(self) -> None:
        return None


class WorldTarget:
    """A :class:`~chaos.targets.base.RunTarget` in memory: faults live in the world."""

    recover_kinds = ("world",)

    def __init__(self, world: World, ctx: TargetContext, http: RecordingActuators) -> None:
        self.world = world
        self.ctx = ctx
        self.experiment = ctx.loaded.experiment
        self.http = http
        world.experiments[ctx.run_id] = self.experiment.name

    async def preflight(self) -> tuple[list[str], list[str]]:
        targets = [t for f in self.experiment.spec.faults for t in resolved_targets(self.experiment, f)]
        return ["in-memory target: nothing is injected anywhere"], targets

    def planned_realisation(self, fault: str, deadline: float) -> Realisation:
        spec = next(f for f in self.experiment.spec.faults if f.name == fault)
        return {"kind": "world", "fault": fault, "description": describe(self.experiment, spec)}

    async def inject(self, fault: str, deadline: float) -> Realisation:
        row = self.ctx.store.fault(self.ctx.run_id, fault)
        self.world.write_ahead.append(row.state if row is not None else None)
        self.world.injections.setdefault(self.ctx.run_id, []).append(_Injection(fault, self.world.clock.t))
        return self.planned_realisation(fault, deadline)

    async def remove(self, realisation: Mapping[str, Any]) -> Removal:
        for injection in self.world.injections.get(self.ctx.run_id, []):
            if injection.fault == realisation["fault"] and injection.removed is None:
                injection.removed = self.world.clock.t
        return Removed(f"{realisation['fault']} removed")

    async def present(self, realisation: Mapping[str, Any]) -> bool | None:
        return None  # the world does not take faults away under a run

    def actuators(self, http: Sequence[object]) -> Actuators:
        return Actuators.of(self, *http)

    def undo_context(self) -> UndoContext:
        return UndoContext()

    async def close(self) -> None:
        return None

    async def shrink_fault(self, action_id: str, fault: str, params: Mapping[str, str | float]) -> None:
        return None

    async def set_weight(self, action_id: str, target: WeightTarget, weight: int) -> int:
        previous = self.world.weights.get(target.key, 100)
        self.world.weights[target.key] = weight
        return previous


class WorldEngine(Engine):
    """The real engine over the world, recording every front-end call for the tests."""

    def __init__(self, state_dir: Path, *, pause_at: float | None = None, step_delay: float = 0.0,
                 lead_ticks: int = 2, seed_history: bool = False) -> None:
        self.world = World(VirtualClock(pause_at=pause_at, step_delay=step_delay), lead_ticks=lead_ticks)
        self.recording = RecordingActuators()
        super().__init__(EngineSettings(state_dir=state_dir, environ={}),
                         targets=lambda ctx: WorldTarget(self.world, ctx, self.recording),
                         monitors=lambda exp: Monitor(exp.spec.monitor, client=WorldPrometheus(self.world, exp),
                                                      clock=self.world.clock.wall),
                         http=lambda: [self.recording], clock=self.world.clock, run_ids=self._next_id)
        self._ids = 0
        self.calls: list[tuple[str, str]] = []
        """Every front-end call: ``("launch", run_id)``, ``("abort", run_id)``, ``("plan", name)`` …"""
        if seed_history:
            seed(self.store, DEFAULT_START)

    def _next_id(self) -> str:
        self._ids += 1
        return f"w{self._ids:07d}"

    @property
    def pause_at(self) -> float | None:
        return self.world.clock.pause_at

    def now(self) -> float:
        return self.world.clock.wall()

    def paused(self) -> bool:
        """Some run is held at ``pause_at``."""
        return self.world.clock.blocked > 0

    def release(self, pause_at: float | None = None) -> None:
        self.world.clock.release(pause_at)

    def active_faults(self, run_id: str) -> list[str]:
        return self.world.live(run_id)

    def alive(self, run_id: str) -> bool:
        return run_id in self.active()

    async def plan(self, loaded: Loaded) -> Any:
        self.calls.append(("plan", loaded.experiment.name))
        return await super().plan(loaded)

    async def launch(self, loaded: Loaded, *, run_id: str | None = None) -> str:
        run_id = await super().launch(loaded, run_id=run_id)
        self.calls.append(("launch", run_id))
        return run_id

    async def abort(self, run_id: str) -> None:
        self.calls.append(("abort", run_id))
        await super().abort(run_id)

    async def rollback_now(self, run_id: str) -> None:
        self.calls.append(("rollback_now", run_id))
        await super().rollback_now(run_id)


def seed(store: StateStore, start: float) -> None:
    """Two finished runs of the day before (for the history screen)."""
    rows = [("h0000001", "pod-kill", "passed", start - 2 * 86_400.0, 45.0),
            ("h0000002", "payment-latency", "deviated", start - 86_400.0, 96.0)]
    for rid, name, verdict, started, duration in rows:
        store.start_run(rid, name, f"experiments/{name}.yaml", "kubernetes", started)
        timeline = [{"event": "RunStarted", "run_id": rid, "at": started, "experiment": name},
                    {"event": "RunFinished", "run_id": rid, "at": started + duration, "verdict": verdict}]
        journal = store.write_journal(rid, {"status": "completed",
                                            "run": {"id": rid, "experiment": name, "verdict": verdict},
                                            "aftershock": {"timeline": timeline}})
        store.finish_run(rid, verdict, 0 if verdict == "passed" else 1, str(journal), ended=started + duration)


# ---------------------------------------------------------------------- what the in-memory target resolves


def resolved_targets(exp: Experiment, fault: FaultBase) -> tuple[str, ...]:
    sel = fault.selector
    if sel.proxy is not None:
        return (f"proxy {sel.proxy.listen} → {sel.proxy.upstream}",)
    if sel.port is not None:
        return (f"port {sel.port}/{sel.protocol}",)
    if sel.pods:
        return tuple(f"{ns}/{pod}" for ns, pods in sel.pods.items() for pod in pods)
    namespace = (sel.namespaces or [exp.spec.target.namespace])[0]
    app = sel.labels.get("app") or next(iter(sel.labels.values()), "pod")
    count = {"one": 1, "all": 3}.get(fault.mode, 0)
    if fault.mode == "fixed":
        count = int(fault.value)
    elif count == 0:
        count = max(1, math.ceil(3 * int(fault.value or "100") / 100))
    return tuple(f"{namespace}/{app}-{i}" for i in range(count))


def describe(exp: Experiment, fault: FaultBase) -> str:
    return f"{fault.type} {', '.join(resolved_targets(exp, fault))} for {fault.duration}"
