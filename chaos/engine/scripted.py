"""A scripted, deterministic :class:`~chaos.engine.api.EngineAPI`: breach, policy, recovery.

``ScriptedEngine`` plays a run of any experiment without touching a cluster, a host or
Prometheus: the SLO of the first policy (the "victim") drifts over its objective after a few
ticks, goes pending, breaches, the policy fires (rollback, degrade, circuit-break, shrink,
notify or abort, each with its real events), the SLO recovers and the run finishes
``deviated``. An experiment without policies just holds and finishes ``passed``. It emits the
real event types of :mod:`chaos.engine.events` with a virtual clock (``start_time`` plus one
monitor interval per tick), so what subscribers see is deterministic; ``tick_delay`` is the
real time between ticks (0 plays as fast as the loop allows).

Every front-end call is recorded in :attr:`ScriptedEngine.calls` and live faults in
:meth:`ScriptedEngine.active_faults`, so tests assert on the engine, not on a screen.
``pause_at`` holds every run before a given tick until :meth:`ScriptedEngine.release`.

Used by ``aftershock tui --scripted``, the TUI tests (``tests/tui``) and ``bench/bench_tui.py``.
Pure asyncio: no Textual, no I/O.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from chaos.compiling.kubernetes import compile_experiment
from chaos.engine.api import Listener, Plan, PlannedFault, RunSummary
from chaos.engine.events import (
    ActionApplied,
    BreakerChanged,
    FaultInjected,
    FaultRecorded,
    FaultRemoved,
    FaultShrunk,
    PolicyFired,
    PreflightPassed,
    Reverted,
    RunEvent,
    RunFinished,
    RunLog,
    RunStarted,
    SloSampled,
    SteadyStateChecked,
    SteadyStateRestored,
)
from chaos.errors import InvalidExperiment
from chaos.loading import Loaded
from chaos.model.durations import parse_duration
from chaos.model.experiment import Experiment
from chaos.model.faults import FaultBase, HttpAbort, HttpDelay, NetworkDelay, NetworkLoss
from chaos.model.slos import Slo
from chaos.slo.verdicts import Status, Tick, Verdict

DEFAULT_START = 1_767_261_600.0
"""2026-01-01T10:00:00Z: the virtual clock's default origin (fixed, so screens are reproducible)."""

_PRESSURE_STEP = 0.25


@dataclass
class _SloTrack:
    slo: Slo
    weight: float
    """How strongly the fault's pressure moves this SLO (1 for the victim)."""
    needed: int = 1
    """Consecutive breaching ticks before it fires (the policy's ``when`` overrides the SLO's)."""
    for_s: float = 0.0
    consecutive: int = 0
    pending_since: float | None = None


@dataclass
class _Run:
    run_id: str
    loaded: Loaded
    started: float
    now: float
    interval: float
    active: dict[str, FaultInjected] = field(default_factory=dict)
    finished: RunFinished | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    rollback_requested: bool = False
    events: list[RunEvent] = field(default_factory=list)
    decisions: int = 0
    breach_at: float | None = None
    action_at: float | None = None
    removed_at: float | None = None

    @property
    def experiment(self) -> Experiment:
        return self.loaded.experiment


@dataclass(frozen=True)
class _Past:
    summary: RunSummary
    journal: dict[str, Any]


class ScriptedEngine:
    """Deterministic stand-in for ``chaos.engine.driver.Engine`` (see the module docstring)."""

    def __init__(self, *, tick_delay: float = 0.0, start_time: float = DEFAULT_START,
                 lead_ticks: int = 2, tail_ticks: int = 3, quiet_ticks: int = 8,
                 pause_at: int | None = None, seed_history: bool = False) -> None:
        self.tick_delay = tick_delay
        self.lead_ticks = lead_ticks
        """Ticks at baseline after injection before the SLO starts to drift."""
        self.tail_ticks = tail_ticks
        """Healthy ticks after recovery before the steady state is declared back."""
        self.quiet_ticks = quiet_ticks
        """Length of a run whose SLOs never breach (no policy)."""
        self.pause_at = pause_at
        self.calls: list[tuple[str, str]] = []
        """Every front-end call: ``("launch", run_id)``, ``("abort", run_id)``, ``("rollback_now", run_id)``, ``("plan", name)``."""
        self._now = start_time
        self._listeners: list[Listener] = []
        self._runs: dict[str, _Run] = {}
        self._past: list[_Past] = []
        self._counter = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        if seed_history:
            self._seed_history(start_time)

    # ------------------------------------------------------------------ EngineAPI

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    async def plan(self, loaded: Loaded) -> Plan:
        exp = loaded.experiment
        self.calls.append(("plan", exp.name))
        faults: list[PlannedFault] = []
        warnings: list[str] = []
        manifests: dict[str, str] = {}
        if exp.spec.target.type == "kubernetes":
            try:
                for obj in compile_experiment(exp, "plan0001", source=loaded.source):
                    manifests[obj.fault] = yaml.safe_dump(obj.body, sort_keys=False)
            except InvalidExperiment as exc:
                warnings.extend(p.render() for p in exc.problems)
        for fault in exp.spec.faults:
            manifest = manifests.get(fault.name) or yaml.safe_dump(
                fault.model_dump(mode="json", by_alias=True, exclude_defaults=True), sort_keys=False)
            faults.append(PlannedFault(fault=fault.name, fault_type=_fault_type(fault),
                                       description=_describe(exp, fault), manifest=manifest,
                                       targets=_targets(exp, fault)))
        limit = exp.spec.blast_radius.max_targets
        for planned in faults:
            if limit is not None and len(planned.targets) > limit:
                warnings.append(f"{planned.fault}: {len(planned.targets)} targets exceed maxTargets {limit}")
        values = {slo.name: _value(slo, 0.0, 1.0) for slo in exp.spec.slos}
        return Plan(run_id="plan0001", experiment=exp.name, target=_target_text(exp),
                    faults=tuple(faults), slo_values=dict(values), warnings=tuple(warnings))

    async def launch(self, loaded: Loaded, *, run_id: str | None = None) -> str:
        self._loop = asyncio.get_running_loop()
        self._counter += 1
        rid = run_id or f"s{self._counter:07d}"
        run = _Run(run_id=rid, loaded=loaded, started=self._now, now=self._now,
                   interval=loaded.experiment.spec.monitor.interval_s)
        self._runs[rid] = run
        self.calls.append(("launch", rid))
        run.task = asyncio.create_task(self._play(run), name=f"scripted-run-{rid}")
        return rid

    async def wait(self, run_id: str) -> RunFinished:
        run = self._runs[run_id]
        await run.done.wait()
        assert run.finished is not None
        return run.finished

    async def abort(self, run_id: str) -> None:
        self.calls.append(("abort", run_id))
        run = self._runs.get(run_id)
        if run is None or run.finished is not None:
            return
        if run.task is not None and run.task is not asyncio.current_task():
            run.task.cancel()
        for name in list(run.active):
            self._remove(run, name, "abort")
        self._finish(run, "aborted", 130, "aborted by the user")

    async def rollback_now(self, run_id: str) -> None:
        self.calls.append(("rollback_now", run_id))
        run = self._runs.get(run_id)
        if run is None or run.finished is not None:
            return
        run.rollback_requested = True
        if run.active:
            run.action_at = run.action_at or run.now
            for name in list(run.active):
                self._remove(run, name, "rollback")

    def history(self, limit: int = 100) -> list[RunSummary]:
        rows = [self._summary(run) for run in self._runs.values()] + [p.summary for p in self._past]
        rows.sort(key=lambda r: (r.started, r.run_id), reverse=True)
        return rows[:limit]

    def journal(self, run_id: str) -> dict[str, Any]:
        run = self._runs.get(run_id)
        if run is not None:
            return self._journal(run)
        for past in self._past:
            if past.summary.run_id == run_id:
                return past.journal
        raise KeyError(run_id)

    # ------------------------------------------------------------------ test helpers

    def now(self) -> float:
        """The virtual clock: time of the latest event of any run."""
        return self._now

    def active_faults(self, run_id: str) -> list[str]:
        """Faults of the run that are injected right now."""
        return list(self._runs[run_id].active)

    def alive(self, run_id: str) -> bool:
        return self._runs[run_id].finished is None

    def release(self, pause_at: int | None = None) -> None:
        """Let paused runs go on (until ``pause_at`` if given). Safe from any thread."""

        def _go() -> None:
            self.pause_at = pause_at
            for run in self._runs.values():
                run.gate.set()

        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(_go)
        else:
            _go()

    # ------------------------------------------------------------------ the script

    async def _play(self, run: _Run) -> None:
        try:
            await self._script(run)
        except asyncio.CancelledError:
            if run.finished is None:
                for name in list(run.active):
                    self._remove(run, name, "abort")
                self._finish(run, "aborted", 130, "cancelled")
            raise

    async def _script(self, run: _Run) -> None:
        exp = run.experiment
        spec = exp.spec
        self._emit(run, RunStarted(run.run_id, run.now, experiment=exp.name, source=run.loaded.source,
                                   target=_target_text(exp), faults=tuple(f.name for f in spec.faults),
                                   slos=tuple(s.name for s in spec.slos)))
        targets = tuple(t for f in spec.faults for t in _targets(exp, f))
        self._emit(run, PreflightPassed(run.run_id, run.now, checks=("blast-radius", "steady-state-slos"),
                                        targets=targets))
        victim_policy = spec.policies[0] if spec.policies else None
        victim = victim_policy.when.slo if victim_policy is not None else None
        tracks = []
        for slo in spec.slos:
            when = victim_policy.when if victim_policy is not None and slo.name == victim else None
            needed = when.consecutive if when is not None and when.consecutive else slo.consecutive
            for_s = parse_duration(when.for_) if when is not None and when.for_ else slo.for_s
            tracks.append(_SloTrack(slo, 1.0 if slo.name == victim else 0.35, needed=needed, for_s=for_s))
        tick = self._tick(run, tracks, 0.0)
        steady = tuple(v for v in tick.verdicts if v.slo in spec.steady_state)
        self._emit(run, SteadyStateChecked(run.run_id, run.now, phase="before", holds=True, verdicts=steady))
        for fault in spec.faults:
            deadline = run.now + fault.duration_s
            self._emit(run, FaultRecorded(run.run_id, run.now, fault=fault.name, fault_type=_fault_type(fault),
                                          description=_describe(exp, fault), deadline=deadline))
            injected = FaultInjected(run.run_id, run.now, fault=fault.name, fault_type=_fault_type(fault),
                                     description=_describe(exp, fault), deadline=deadline,
                                     details={"targets": list(_targets(exp, fault))})
            run.active[fault.name] = injected
            self._emit(run, injected)

        pressure = 0.0
        recovering = False
        healthy = 0
        index = 0
        cap = 1.0 if victim is not None else 0.4
        while True:
            index += 1
            await self._pace(run, index)
            run.now += run.interval
            if run.rollback_requested and not recovering:
                recovering = True
            if recovering:
                pressure = max(0.0, pressure - _PRESSURE_STEP)
            elif index > self.lead_ticks:
                pressure = min(cap, pressure + _PRESSURE_STEP)
            tick = self._tick(run, tracks, pressure)
            self._emit(run, SloSampled(run.run_id, run.now, tick=tick))
            for fault_name, injected in list(run.active.items()):
                if run.now >= injected.deadline:
                    self._remove(run, fault_name, "end")
            fired = next((v for v in tick.verdicts if v.slo == victim and v.status == "breached"), None)
            if fired is not None and not recovering and victim_policy is not None:
                run.breach_at = run.now
                recovering = True
                if await self._act(run, victim_policy.name, victim_policy.action,
                                   victim_policy.model_dump(mode="json", by_alias=True), fired):
                    return
            if recovering and all(v.status == "ok" for v in tick.verdicts):
                healthy += 1
            if (recovering and healthy >= self.tail_ticks) or (victim is None and index >= self.quiet_ticks) \
                    or (not run.active and not recovering and index >= self.quiet_ticks):
                break
        await self._wind_down(run, tracks)

    async def _act(self, run: _Run, policy: str, action: str, spec: dict[str, Any], verdict: Verdict) -> bool:
        """Apply the victim's policy with its real events; True when the run ended (abort)."""
        run.decisions += 1
        decision = f"{run.run_id}-d{run.decisions}"
        target = ", ".join(run.active) if action in ("rollback", "shrink", "abort") else str(
            (spec.get("with") or {}).get("service", "") or action)
        evidence = {"slo": verdict.slo, "value": verdict.value, "objective": verdict.objective,
                    "status": verdict.status, "consecutive": verdict.consecutive,
                    "query": verdict.query, "eval_time": verdict.eval_time}
        self._emit(run, PolicyFired(run.run_id, run.now, decision_id=decision, policy=policy, action=action,
                                    target=target, evidence=evidence))
        run.action_at = run.now
        if action == "abort":
            self._emit(run, ActionApplied(run.run_id, run.now, decision_id=decision, action=action,
                                          detail="aborting the run"))
            for name in list(run.active):
                self._remove(run, name, "policy")
            self._finish(run, "aborted", 130, f"policy {policy} aborted the run")
            return True
        if action == "rollback":
            names = list(run.active)
            for name in names:
                self._remove(run, name, "policy")
            detail = f"removed {', '.join(names) or 'nothing'}"
        elif action == "shrink":
            with_ = spec.get("with") or {}
            params = {k: v for k, v in with_.items() if k != "fault" and v is not None}
            self._emit(run, FaultShrunk(run.run_id, run.now, fault=str(with_.get("fault", "")), params=params))
            detail = f"shrunk {with_.get('fault', '')} to {params}"
        elif action == "circuit-break":
            with_ = spec.get("with") or {}
            service = str(with_.get("service", ""))
            weight = int(with_.get("weight", 0))
            self._emit(run, BreakerChanged(run.run_id, run.now, policy=policy, service=service, state="open",
                                           weight=weight))
            detail = f"{service} weight 100 → {weight}"
        elif action == "degrade":
            with_ = spec.get("with") or {}
            http = with_.get("http") or {}
            detail = f"{http.get('method', 'PATCH')} {http.get('url', '')}".strip() if http else "kubernetes patch"
        else:
            detail = f"{action} sent"
        self._emit(run, ActionApplied(run.run_id, run.now, decision_id=decision, action=action, detail=detail))
        return False

    async def _wind_down(self, run: _Run, tracks: list[_SloTrack]) -> None:
        for name in list(run.active):
            self._remove(run, name, "end")
        for event in list(run.events):
            if isinstance(event, BreakerChanged) and event.state == "open":
                self._emit(run, BreakerChanged(run.run_id, run.now, policy=event.policy, service=event.service,
                                               state="half-open", weight=10))
                self._emit(run, BreakerChanged(run.run_id, run.now, policy=event.policy, service=event.service,
                                               state="closed", weight=100))
                self._emit(run, Reverted(run.run_id, run.now, decision_id=f"{run.run_id}-d1",
                                         action="circuit-break", detail=f"{event.service} weight back to 100"))
            elif isinstance(event, ActionApplied) and event.action == "degrade":
                self._emit(run, Reverted(run.run_id, run.now, decision_id=event.decision_id, action="degrade",
                                         detail="degrade reverted"))
        tick = self._tick(run, tracks, 0.0)
        steady = tuple(v for v in tick.verdicts if v.slo in run.experiment.spec.steady_state)
        self._emit(run, SteadyStateChecked(run.run_id, run.now, phase="after", holds=True, verdicts=steady))
        if run.breach_at is None:
            self._finish(run, "passed", 0, "SLOs held during the fault")
            return
        recovered = run.now - (run.removed_at or run.now)
        self._emit(run, SteadyStateRestored(run.run_id, run.now, seconds=recovered))
        self._finish(run, "deviated", 1, "an SLO breached; the policy recovered it")

    async def _pace(self, run: _Run, index: int) -> None:
        if self.pause_at is not None and index >= self.pause_at:
            run.gate.clear()
            while self.pause_at is not None and index >= self.pause_at:
                await run.gate.wait()
                run.gate.clear()
        if self.tick_delay > 0:
            await asyncio.sleep(self.tick_delay)
        else:
            await asyncio.sleep(0)

    def _tick(self, run: _Run, tracks: list[_SloTrack], pressure: float) -> Tick:
        verdicts: list[Verdict] = []
        for track in tracks:
            slo = track.slo
            value = _value(slo, pressure * track.weight, 1.0)
            holds = slo.objective.holds(value)
            status: Status
            if holds:
                track.consecutive = 0
                track.pending_since = None
                status = "ok"
            else:
                track.consecutive += 1
                if track.pending_since is None:
                    track.pending_since = run.now
                waited = run.now - track.pending_since
                fires = track.consecutive >= track.needed and waited >= track.for_s
                status = "breached" if fires else "pending"
            verdicts.append(Verdict(slo=slo.name, status=status, value=value, objective=str(slo.objective),
                                    query=slo.query, eval_time=run.now, pending_since=track.pending_since,
                                    consecutive=track.consecutive, query_seconds=0.004))
        return Tick(eval_time=run.now, verdicts=tuple(verdicts))

    # ------------------------------------------------------------------ plumbing

    def _emit(self, run: _Run, event: RunEvent) -> None:
        self._now = max(self._now, event.at)
        run.events.append(event)
        for listener in list(self._listeners):
            listener(event)

    def _remove(self, run: _Run, name: str, reason: str) -> None:
        if run.active.pop(name, None) is None:
            return
        run.removed_at = run.now
        self._emit(run, FaultRemoved(run.run_id, run.now, fault=name, reason=reason))

    def _finish(self, run: _Run, verdict: str, exit_code: int, reason: str) -> None:
        if run.finished is not None:
            return
        timings: dict[str, float] = {}
        if run.breach_at is not None and run.action_at is not None:
            timings["breach_to_action"] = round(run.action_at - run.breach_at, 3)
        if run.action_at is not None and run.removed_at is not None:
            timings["action_to_removed"] = round(max(0.0, run.removed_at - run.action_at), 3)
        if run.removed_at is not None:
            timings["removed_to_recovered"] = round(run.now - run.removed_at, 3)
        if verdict == "aborted":
            self._emit(run, RunLog(run.run_id, run.now, level="warning", message=reason))
        finished = RunFinished(run.run_id, run.now, verdict=verdict, exit_code=exit_code, reason=reason,
                               journal=f"scripted://{run.run_id}", timings=timings)
        run.finished = finished
        self._emit(run, finished)
        run.done.set()

    def _summary(self, run: _Run) -> RunSummary:
        end = run.finished.at if run.finished is not None else run.now
        return RunSummary(run_id=run.run_id, experiment=run.experiment.name,
                          verdict=run.finished.verdict if run.finished is not None else "running",
                          started=run.started, duration=end - run.started, source=run.loaded.source,
                          alive=run.finished is None)

    def _journal(self, run: _Run) -> dict[str, Any]:
        timeline = [e.to_dict() for e in run.events if not isinstance(e, SloSampled)]
        decisions = [e.to_dict() for e in run.events
                     if isinstance(e, PolicyFired | ActionApplied | Reverted | BreakerChanged)]
        rollbacks = [e.to_dict() for e in run.events if isinstance(e, FaultRemoved)]
        return {
            "status": "completed" if run.finished is not None else "running",
            "run": {"id": run.run_id, "experiment": run.experiment.name, "source": run.loaded.source,
                    "verdict": run.finished.verdict if run.finished is not None else "running",
                    "started": run.started},
            "rollbacks": rollbacks,
            "aftershock": {"timeline": timeline, "decisions": decisions},
        }

    def _seed_history(self, start: float) -> None:
        rows = [("h0000002", "payment-latency", "deviated", start - 86_400.0, 96.0),
                ("h0000001", "pod-kill", "passed", start - 2 * 86_400.0, 45.0)]
        for rid, name, verdict, started, duration in rows:
            summary = RunSummary(run_id=rid, experiment=name, verdict=verdict, started=started,
                                 duration=duration, source=f"experiments/{name}.yaml")
            timeline = [{"event": "RunStarted", "run_id": rid, "at": started, "experiment": name},
                        {"event": "RunFinished", "run_id": rid, "at": started + duration, "verdict": verdict}]
            journal: dict[str, Any] = {"status": "completed",
                                       "run": {"id": rid, "experiment": name, "verdict": verdict},
                                       "aftershock": {"timeline": timeline}}
            self._past.append(_Past(summary, journal))


# ---------------------------------------------------------------------- pure helpers


def _value(slo: Slo, pressure: float, scale: float) -> float:
    """A deterministic SLO value: healthy at pressure 0, breaching above 0.5 for the victim."""
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
    return round(value * scale, 6)


def _fault_type(fault: FaultBase) -> str:
    return str(getattr(fault, "type", "fault"))


def _target_text(exp: Experiment) -> str:
    target = exp.spec.target
    if target.type == "host":
        return "host"
    return f"kubernetes {target.context or '(current context)'}/{target.namespace}"


def _targets(exp: Experiment, fault: FaultBase) -> tuple[str, ...]:
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


def _describe(exp: Experiment, fault: FaultBase) -> str:
    if isinstance(fault, NetworkDelay):
        what = f"delay {fault.latency}"
    elif isinstance(fault, NetworkLoss):
        what = f"loss {fault.percent:g}%"
    elif isinstance(fault, HttpAbort):
        what = f"abort {fault.code or 'connection'}"
    elif isinstance(fault, HttpDelay):
        what = f"http delay {fault.delay}"
    else:
        what = _fault_type(fault)
    if exp.spec.target.type == "host" and fault.selector.proxy is not None:
        return f"proxy {fault.selector.proxy.listen} {what} for {fault.duration}"
    return f"{_fault_type(fault)} {', '.join(_targets(exp, fault))}: {what} for {fault.duration}"
