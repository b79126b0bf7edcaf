"""The asyncio driver: performs the steps of :func:`chaos.engine.runs.lifecycle` with real I/O.

It owns, per run, the target (host or Kubernetes), the SLO monitor, the policy bridge and the
state store records; it fans every event out to subscribers (CLI, NDJSON, TUI bridge), writes
the journal, and guarantees cleanup: whatever ends a run — verdict, abort, Ctrl-C/SIGTERM
(cancellation), a bug — every fault it injected is removed before the run is reported
finished. Several runs can go in one process; no global state. Implements
:class:`chaos.engine.api.EngineAPI`; used by ``aftershock run``/``demo`` and the TUI.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.clients.state import StateStore
from chaos.compiling import naming
from chaos.compiling.host import HostFaultPlan, plan_host
from chaos.engine import events as ev
from chaos.engine import runs as rm
from chaos.engine.api import Plan, PlannedFault, RunSummary
from chaos.engine.policy_bridge import PolicyBridge, RunDecision, RunRevert
from chaos.errors import ChaosError, InvalidExperiment, InvalidInput, PreflightRefused, Problem
from chaos.journal import build_journal
from chaos.loading import Loaded
from chaos.model.experiment import Experiment
from chaos.policy import executor
from chaos.policy.actions import SetWeight, WeightTarget
from chaos.policy.actuators import Actuators
from chaos.slo.monitoring import Monitor
from chaos.slo.verdicts import Tick
from chaos.targets.host import HostTarget, proxy_token

log = logging.getLogger("aftershock.engine")
Listener = Callable[[ev.RunEvent], None]
REMOVE_ATTEMPTS = 4


@dataclass
class EngineSettings:
    """How the engine reaches its state, Prometheus and targets."""

    state_dir: Path | None = None
    """State directory (SQLite, journals, watchdog pid files); default: the user's state dir."""
    prometheus: str | None = None
    """Overrides ``spec.monitor.prometheus`` of every experiment."""
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    reaper: bool = True
    """Kubernetes: create the dead-man's-switch reaper Job with each run."""
    force: bool = False
    """Kubernetes: warn instead of refusing when other chaos objects target the same pods."""
    environ: Mapping[str, str] | None = None


class _Aborted(Exception):
    pass


@dataclass
class _Run:
    run_id: str
    loaded: Loaded
    dry_run: bool
    events: list[ev.RunEvent] = field(default_factory=list)
    plans: dict[str, HostFaultPlan] = field(default_factory=dict)
    deadlines: dict[str, float] = field(default_factory=dict)
    realisations: dict[str, dict[str, Any]] = field(default_factory=dict)
    command: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[ev.RunFinished] | None = None
    finished: ev.RunFinished | None = None
    target: Any = None
    monitor: Monitor | None = None
    bridge: PolicyBridge | None = None
    actuators: Actuators = field(default_factory=Actuators)
    last_tick: float = 0.0

    @property
    def experiment(self) -> Experiment:
        return self.loaded.experiment


class Engine:
    """The real engine. ``await engine.run(loaded)`` in the foreground, or ``launch`` in the background."""

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self.store = StateStore(self.settings.state_dir)
        self.environ: Mapping[str, str] = self.settings.environ if self.settings.environ is not None else os.environ
        self._listeners: list[Listener] = []
        self._runs: dict[str, _Run] = {}

    # ------------------------------------------------------------------ EngineAPI

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def plan(self, loaded: Loaded) -> Plan:
        run_id = naming.new_run_id()
        exp = loaded.experiment
        faults: list[PlannedFault] = []
        warnings: list[str] = []
        if exp.spec.target.type == "host":
            import yaml

            for p in plan_host(exp, run_id, source=loaded.source):
                body = p.proxy_fault.to_dict() if p.proxy_fault else {"kernel": p.kernel, "comment": p.comment}
                faults.append(PlannedFault(fault=p.fault, fault_type=p.fault_type, description=p.description,
                                           manifest=yaml.safe_dump(body, sort_keys=False),
                                           targets=(p.description,)))
        else:
            from chaos.compiling.kubernetes import compile_experiment, to_yaml_stream

            for obj in compile_experiment(exp, run_id, source=loaded.source):
                faults.append(PlannedFault(fault=obj.fault, fault_type=obj.kind,
                                           description=f"{obj.kind} {obj.namespace}/{obj.name}",
                                           manifest=to_yaml_stream([obj])))
        values: dict[str, float | None] = {}
        if exp.spec.slos:
            monitor = self._monitor(exp)
            try:
                tick = await monitor.evaluate_now(exp.spec.slos)
                values = {v.slo: v.value for v in tick.verdicts if v.slo != "monitor"}
                if any(v.status == "unavailable" or v.error for v in tick.verdicts):
                    warnings.append("Prometheus could not be queried for every SLO")
            except ChaosError as exc:
                warnings.append(f"Prometheus: {exc}")
            finally:
                await monitor.aclose()
        return Plan(run_id=run_id, experiment=exp.name, target=exp.spec.target.type, faults=tuple(faults),
                    slo_values=values, warnings=tuple(warnings))

    async def launch(self, loaded: Loaded, *, run_id: str | None = None) -> str:
        run = self._new_run(loaded, run_id, dry_run=False)
        run.task = asyncio.create_task(self._drive(run), name=f"aftershock-run-{run.run_id}")
        return run.run_id

    async def wait(self, run_id: str) -> ev.RunFinished:
        run = self._runs[run_id]
        if run.finished is not None:
            return run.finished
        assert run.task is not None
        return await asyncio.shield(run.task)

    async def abort(self, run_id: str) -> None:
        self.request(run_id, "abort")

    async def rollback_now(self, run_id: str) -> None:
        self.request(run_id, "rollback")

    def request(self, run_id: str, command: str) -> None:
        """Abort/rollback from any callback (signal handler, key binding) of the engine's loop."""
        run = self._runs.get(run_id)
        if run is None or run.finished is not None:
            return
        if run.command != "abort":
            run.command = command
        run.wake.set()

    def active(self) -> list[str]:
        return [r.run_id for r in self._runs.values() if r.finished is None]

    def history(self, limit: int = 100) -> list[RunSummary]:
        out = []
        for row in self.store.runs(limit):
            ended = row.ended if row.ended is not None else time.time()
            out.append(RunSummary(run_id=row.id, experiment=row.experiment, verdict=row.verdict or "running",
                                  started=row.started, duration=round(ended - row.started, 1), source=row.source,
                                  alive=row.alive))
        return out

    def journal(self, run_id: str) -> dict[str, Any]:
        row = self.store.run(run_id)
        return self.store.read_journal(row.id if row else run_id)

    async def run(self, loaded: Loaded, *, run_id: str | None = None, dry_run: bool = False) -> ev.RunFinished:
        run = self._new_run(loaded, run_id, dry_run)
        return await self._drive(run)

    # ------------------------------------------------------------------ driving

    def _new_run(self, loaded: Loaded, run_id: str | None, dry_run: bool) -> _Run:
        run_id = run_id or naming.new_run_id()
        if run_id in self._runs:
            raise InvalidInput(Problem(f"run id {run_id!r} is already used by a run of this engine",
                                       hint="leave the run id out to get a fresh one"))
        run = _Run(run_id=run_id, loaded=loaded, dry_run=dry_run)
        self._runs[run_id] = run
        return run

    def _monitor(self, exp: Experiment) -> Monitor:
        spec = exp.spec.monitor
        if self.settings.prometheus:
            spec = spec.model_copy(update={"prometheus": self.settings.prometheus})
        return Monitor(spec, environ=self.environ)

    async def _drive(self, run: _Run) -> ev.RunFinished:
        exp = run.experiment
        start = time.time()
        run.bridge = PolicyBridge(exp)
        run.monitor = self._monitor(exp)
        gen = rm.lifecycle(exp, run.run_id, run.bridge, source=run.loaded.source, start_at=start,
                           dry_run=run.dry_run)
        if not run.dry_run:
            self.store.start_run(run.run_id, exp.name, run.loaded.source, exp.spec.target.type, start)
        outcome: rm.Outcome | None = None
        final: ev.RunFinished | None = None
        try:
            while True:
                try:
                    step = gen.send(outcome)
                except StopIteration as stop:
                    final = stop.value
                    break
                outcome = await self._perform(run, step)
        except (_Aborted, asyncio.CancelledError, Exception) as exc:
            reason = "aborted" if isinstance(exc, _Aborted | asyncio.CancelledError) else f"internal error: {exc!r}"
            if not isinstance(exc, _Aborted | asyncio.CancelledError | ChaosError):
                log.exception("run %s failed", run.run_id)
            final = await asyncio.shield(self._emergency(run, reason))
            if isinstance(exc, asyncio.CancelledError):
                run.finished = final
                raise
        finally:
            gen.close()
            await self._close(run)
        assert final is not None
        run.finished = run.finished or final
        return run.finished

    async def _close(self, run: _Run) -> None:
        for actuator in {id(a): a for a in (run.actuators.notifier, run.actuators.degrader) if a}.values():
            closer = getattr(actuator, "aclose", None)
            if closer is not None:
                await closer()
        if run.monitor is not None:
            await run.monitor.aclose()
        if run.target is not None:
            await run.target.close()

    async def _emergency(self, run: _Run, reason: str) -> ev.RunFinished:
        """Remove every live fault of the run and revert what was applied; then report it finished.

        Every fault and revert is tried even when one fails; what is left behind makes the verdict
        ``failed`` and is named (``aftershock recover`` removes it later)."""
        aborted = reason == "aborted"
        left: list[str] = []
        for row in self.store.faults(run.run_id, live_only=True):
            try:
                detail = await self._remove_one(run, row.fault, row.realisation, "abort")
            except Exception as exc:  # cleanup goes on, whatever one removal raised
                left.append(f"fault {row.fault}: {exc}")
                continue
            self._publish(run, ev.FaultRemoved(run_id=run.run_id, at=time.time(), fault=row.fault,
                                               reason="abort" if aborted else "error"))
            log.info("%s", detail)
        if run.bridge is not None:
            for item in run.bridge.final_reverts():
                try:
                    out = await executor.revert(item.raw, run.actuators, run.bridge.ledger, at=time.time())
                except Exception as exc:
                    left.append(f"{item.description}: {exc}")
                    continue
                if not out.ok:
                    left.append(f"{item.description}: {out.error}")
                    continue
                self._publish(run, ev.Reverted(run_id=run.run_id, at=time.time(), decision_id=item.decision_id,
                                               action=item.action, detail=out.note or item.description,
                                               kept=item.keep))
            self._save_undo(run)
        verdict = "aborted" if aborted else "error"
        if left:
            verdict = "failed"
            reason = f"{reason}; left behind: {'; '.join(left)} (run `aftershock recover`)"
            self._publish(run, ev.RunLog(run_id=run.run_id, at=time.time(), level="error", message=reason))
        final = ev.RunFinished(run_id=run.run_id, at=time.time(), verdict=verdict,
                               exit_code=rm.EXIT_CODES[verdict], reason=reason)
        self._publish(run, final)
        return run.finished or final

    def _save_undo(self, run: _Run) -> None:
        """Keep the store's record of open mitigations current (``recover`` reverts a dead run's)."""
        from chaos.targets.undo import UNDO_PLAN, describe_open

        if run.bridge is None or run.dry_run:
            return
        exp = run.experiment
        default_proxy = next((p.proxy for p in run.plans.values() if p.proxy.get("admin")), None)
        kube = None
        if exp.spec.target.type == "kubernetes" and run.target is not None:
            kube = {"kubeconfig": getattr(run.target, "kubeconfig", None), "context": run.target.kube.context,
                    "namespace": run.target.kube.namespace, "weights": getattr(run.target, "weight_undo", {})}
        items = describe_open(run.bridge.ledger, default_proxy=default_proxy,
                              namespace=self.settings.namespace or exp.spec.target.namespace, kube=kube)
        self.store.record_action(run.run_id, UNDO_PLAN, UNDO_PLAN, {"items": items}, "pending" if items else "done")

    def _publish(self, run: _Run, event: ev.RunEvent) -> ev.RunEvent:
        if isinstance(event, ev.RunFinished):
            if run.finished is not None:
                return run.finished
            journal_path = "" if run.dry_run else str(self.store.journal_path(run.run_id))
            event = dataclasses.replace(event, journal=journal_path)
            run.events.append(event)
            run.finished = event
            if not run.dry_run:
                journal = build_journal(run.experiment, run.events)
                self.store.write_journal(run.run_id, journal)
                self.store.finish_run(run.run_id, event.verdict, event.exit_code, journal_path)
        else:
            run.events.append(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken subscriber never breaks a run
                log.exception("event listener failed")
        return event

    async def _perform(self, run: _Run, step: rm.Step) -> rm.Outcome | None:
        match step:
            case rm.Publish(event=event):
                self._publish(run, event)
                return None
            case rm.Preflight():
                return await self._preflight(run)
            case rm.CheckSteady(slos=slos):
                return await self._check_steady(run, slos)
            case rm.Record(fault=name):
                if run.command == "abort":
                    raise _Aborted()
                return self._record(run, name)
            case rm.Inject(fault=name):
                if run.command == "abort":
                    raise _Aborted()
                return await self._inject(run, name)
            case rm.NextTick(window_end=window_end):
                return await self._next_tick(run, window_end)
            case rm.Apply(decision=decision):
                return await self._apply(run, decision)
            case rm.Remove(faults=names, reason=reason):
                return await self._remove(run, names, reason)
            case rm.Revert(item=item):
                assert isinstance(item, RunRevert) and run.bridge is not None
                out = await executor.revert(item.raw, run.actuators, run.bridge.ledger, at=time.time())
                self._save_undo(run)
                return rm.Outcome(at=time.time(), ok=out.ok, detail=out.note or item.description, error=out.error,
                                  data=self._revert_data(run, item))
            case rm.AwaitSteady(slos=slos, timeout_s=timeout_s):
                return await self._await_steady(run, slos, timeout_s)
        raise AssertionError(step)  # pragma: no cover

    # ------------------------------------------------------------------ steps

    async def _preflight(self, run: _Run) -> rm.PreflightOutcome:
        exp = run.experiment
        try:
            if exp.spec.target.type == "host":
                plans = plan_host(exp, run.run_id, source=run.loaded.source)
                run.plans = {p.fault: p for p in plans}
                run.target = HostTarget(self.store.dir, self.environ)
                recovered = await self._recover_dead(("proxy", "iptables", "tc"))
                checks, targets = await run.target.preflight(plans)
                if recovered:
                    checks.insert(0, f"recovered {recovered} fault(s) left by dead runs")
                run.actuators = self._host_actuators(run)
            else:
                from chaos.targets.kubernetes import KubernetesRunTarget

                run.target = KubernetesRunTarget(self.settings, self.store, run.run_id, run.loaded)
                recovered = await self._recover_dead(("kubernetes",))
                checks, targets = await run.target.preflight()
                if recovered:
                    checks.insert(0, f"recovered {recovered} fault(s) left by dead runs")
                run.actuators = run.target.actuators(self._http_actuators())
            if exp.spec.gate is not None:
                checks.append(await self._check_gate(run))
        except (PreflightRefused, InvalidExperiment) as exc:
            details = tuple(getattr(exc, "details", ()))
            return rm.PreflightOutcome(at=time.time(), ok=False, refused=True, error=str(exc).split("\n")[0],
                                       details=details)
        except ChaosError as exc:
            return rm.PreflightOutcome(at=time.time(), ok=False, error=str(exc),
                                       details=tuple(getattr(exc, "details", ())))
        return rm.PreflightOutcome(at=time.time(), checks=tuple(checks), targets=tuple(targets))

    async def _check_gate(self, run: _Run) -> str:
        """The error-budget gate: refuse to start while the service is already burning its budget."""
        gate = run.experiment.spec.gate
        assert gate is not None and run.monitor is not None
        slo = run.experiment.spec.slo(gate.slo)
        tick = await run.monitor.evaluate_now([slo])
        verdict = tick.get(slo.name)
        if verdict is None or verdict.value is None:
            reason = verdict.error if verdict is not None and verdict.error else "no data"
            raise PreflightRefused(f"error-budget gate: cannot read the remaining budget from SLO {slo.name} "
                                   f"({reason}); not starting without it", [f"query: {slo.query}"])
        if verdict.value < gate.min_budget:
            raise PreflightRefused(f"error-budget gate: {verdict.value:.4g}% of the error budget left, below "
                                   f"minBudget {gate.min_budget:g}%: the service is already burning its budget",
                                   [f"query: {slo.query}", "run it when the budget has recovered, or lower "
                                    "spec.gate.minBudget"])
        return f"error-budget gate: {verdict.value:.4g}% left (minBudget {gate.min_budget:g}%)"

    async def _recover_dead(self, kinds: tuple[str, ...]) -> int:
        """Before a run: remove what dead runs left on the same kind of target (like ``recover``)."""
        from chaos.targets.host import remove_realisation

        count = 0
        for row in self.store.faults(live_only=True):
            owner = self.store.run(row.run_id)
            if owner is not None and owner.alive:
                continue
            kind = row.realisation.get("kind")
            if kind not in kinds:
                continue
            try:
                if kind == "kubernetes":
                    from chaos.targets.kubernetes import remove_kube_realisation

                    await remove_kube_realisation(row.realisation)
                else:
                    await remove_realisation(row.realisation, self.store.dir, self.environ)
            except ChaosError as exc:
                log.warning("could not recover %s/%s: %s", row.run_id, row.fault, exc)
                continue
            self.store.update_fault(row.run_id, row.fault, "removed")
            count += 1
        return count

    async def _check_steady(self, run: _Run, slos: Sequence[str]) -> rm.SteadyOutcome:
        assert run.monitor is not None
        objs = [run.experiment.spec.slo(n) for n in slos]
        try:
            tick = await run.monitor.evaluate_now(objs)
        except ChaosError as exc:
            return rm.SteadyOutcome(at=time.time(), holds=False, error=str(exc))
        verdicts = tuple(v for v in tick.verdicts if v.slo in slos)
        holds = bool(verdicts) and all(v.holds for v in verdicts)
        return rm.SteadyOutcome(at=time.time(), holds=holds, verdicts=verdicts)

    def _record(self, run: _Run, name: str) -> rm.Outcome:
        fault = next(f for f in run.experiment.spec.faults if f.name == name)
        now = time.time()
        deadline = now + fault.duration_s
        run.deadlines[name] = deadline
        realisation = self._planned_realisation(run, name)
        self.store.record_fault(run.run_id, name, fault.type, realisation, deadline)
        return rm.Outcome(at=now, detail=str(realisation.get("description", "")))

    def _planned_realisation(self, run: _Run, name: str) -> dict[str, Any]:
        if name in run.plans:
            plan = run.plans[name]
            pf = plan.proxy_fault.replace(deadline=run.deadlines[name]) if plan.proxy_fault else None
            return dataclasses.replace(plan, proxy_fault=pf).realisation()
        return dict(run.target.planned_realisation(name))

    async def _inject(self, run: _Run, name: str) -> rm.InjectOutcome:
        fault = next(f for f in run.experiment.spec.faults if f.name == name)
        deadline = run.deadlines[name]
        try:
            if name in run.plans:
                realisation = await run.target.inject(run.plans[name], deadline)
            else:
                realisation = await run.target.inject(name, deadline)
        except ChaosError as exc:
            self.store.update_fault(run.run_id, name, "failed")
            return rm.InjectOutcome(at=time.time(), ok=False, error=str(exc))
        run.realisations[name] = realisation
        self.store.update_fault(run.run_id, name, "injected", realisation)
        details = {k: v for k, v in realisation.items() if k in ("kind", "comment", "status")}
        return rm.InjectOutcome(at=time.time(), deadline=deadline, fault_type=fault.type,
                                description=str(realisation.get("description", "")), data=details)

    async def _next_tick(self, run: _Run, window_end: float) -> rm.TickOutcome:
        assert run.monitor is not None
        interval = run.experiment.spec.monitor.interval_s
        now = time.time()
        due = max(now, run.last_tick + interval) if run.last_tick else now
        wake_at = min(due, window_end)
        if run.command is None and wake_at > now:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.wake.wait(), wake_at - now)
        run.wake.clear()
        if run.command is not None:
            command, run.command = run.command, (run.command if run.command == "abort" else None)
            return rm.TickOutcome(at=time.time(), command="abort" if command == "abort" else "rollback")
        now = time.time()
        if now >= window_end:
            return rm.TickOutcome(at=now, tick=None)
        run.last_tick = now
        tick = await self._tick(run, now)
        return rm.TickOutcome(at=time.time(), tick=tick)

    async def _tick(self, run: _Run, now: float) -> Tick:
        assert run.monitor is not None
        if run.run_id not in run.monitor.subscribers:
            run.monitor.add(run.run_id, run.experiment.spec.slos,
                            error_tolerance=run.experiment.spec.monitor.error_tolerance)
        ticks = await run.monitor.tick(eval_time=now)
        return ticks.get(run.run_id, Tick(eval_time=now))

    async def _apply(self, run: _Run, decision: Any) -> rm.Outcome:
        assert isinstance(decision, RunDecision) and run.bridge is not None
        out = await executor.apply(decision.raw, run.actuators, run.bridge.ledger, at=time.time())
        data: dict[str, Any] = {}
        action = decision.raw.action
        if isinstance(action, SetWeight):
            data = {"breaker_state": action.phase,
                    "weight": action.weight if action.weight is not None else 100}
        self.store.record_action(run.run_id, decision.id, decision.action,
                                 {"summary": decision.raw.action.summary(), "ok": out.ok, "error": out.error},
                                 "applied" if out.ok else "failed")
        self._save_undo(run)
        return rm.Outcome(at=time.time(), ok=out.ok, detail=out.note or decision.raw.action.summary(),
                          error=out.error, data=data)

    async def _remove(self, run: _Run, names: Sequence[str], reason: str) -> rm.Outcome:
        """Remove each fault (every one is tried); ``data["failed"]`` names those still live."""
        errors: list[str] = []
        failed: list[str] = []
        for name in names:
            realisation = run.realisations.get(name)
            if realisation is None:
                rows = [r for r in self.store.faults(run.run_id) if r.fault == name]
                realisation = rows[0].realisation if rows else None
            if realisation is None:
                continue
            try:
                await self._remove_one(run, name, realisation, reason)
            except ChaosError as exc:
                errors.append(f"{name}: {exc}")
                failed.append(name)
        return rm.Outcome(at=time.time(), ok=not errors, error="; ".join(errors), data={"failed": failed})

    @staticmethod
    def _revert_data(run: _Run, item: RunRevert) -> dict[str, Any]:
        """For a restored weight: the service, the weight and the policy (for ``BreakerChanged``)."""
        raw = item.raw
        if raw.kind != "restore-weight" or raw.weight_target is None:
            return {}
        issued = run.bridge.decider.issued(raw.id.removeprefix("revert:")) if run.bridge else None
        return {"service": raw.weight_target.service, "weight": raw.weight if raw.weight is not None else 100,
                "policy": issued.policy if issued is not None else ""}

    async def _remove_one(self, run: _Run, name: str, realisation: Mapping[str, Any], reason: str) -> str:
        """Remove one fault, retrying with backoff; mark it removed in the store."""
        from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        detail = ""
        target = run.target or HostTarget(self.store.dir, self.environ)
        async for attempt in AsyncRetrying(stop=stop_after_attempt(REMOVE_ATTEMPTS),
                                           wait=wait_exponential(multiplier=0.2, max=2),
                                           retry=retry_if_exception_type(ChaosError), reraise=True):
            with attempt:
                detail = await target.remove(realisation)
        self.store.update_fault(run.run_id, name, "removed")
        return detail

    async def _await_steady(self, run: _Run, slos: Sequence[str], timeout_s: float) -> rm.SteadyOutcome:
        start = time.time()
        interval = max(run.experiment.spec.monitor.interval_s, 0.25)
        last = rm.SteadyOutcome(at=start)
        while True:
            last = await self._check_steady(run, slos)
            if last.holds or run.command == "abort":
                break
            remaining = start + timeout_s - time.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.wake.wait(), min(interval, remaining))
            run.wake.clear()
        return dataclasses.replace(last, at=time.time(), seconds=round(time.time() - start, 3),
                                   aborted=run.command == "abort" and not last.holds)

    # ------------------------------------------------------------------ actuators

    def _http_actuators(self) -> list[object]:
        """HTTP degrade and notify (one client per run; closed with the run's target)."""
        from chaos.clients.http import HttpActuator

        return [HttpActuator()]

    def _host_actuators(self, run: _Run) -> Actuators:
        return Actuators.of(_HostShrinker(self, run), _HostWeights(self, run), *self._http_actuators())


class _HostShrinker:
    def __init__(self, engine: Engine, run: _Run) -> None:
        self.engine, self.run = engine, run

    async def shrink_fault(self, action_id: str, fault: str, params: Mapping[str, str | float]) -> None:
        realisation = self.run.realisations.get(fault)
        if realisation is None:
            raise PreflightRefused(f"fault {fault} is not live")
        updated = await self.run.target.shrink(realisation, params)
        self.run.realisations[fault] = updated
        self.engine.store.update_fault(self.run.run_id, fault, "injected", updated)


class _HostWeights:
    def __init__(self, engine: Engine, run: _Run) -> None:
        self.engine, self.run = engine, run

    async def set_weight(self, action_id: str, target: WeightTarget, weight: int) -> int:
        admin, token = target.admin, ""
        proxy_sel: dict[str, Any] = {"admin": target.admin, "token_env": target.token_env,
                                     "token_file": target.token_file}
        if admin is None:
            proxies = [p.proxy for p in self.run.plans.values() if p.proxy.get("admin")]
            if not proxies:
                raise PreflightRefused(f"circuit-break of {target.service}: no fault proxy with an admin endpoint "
                                       "in this experiment; set with.admin")
            proxy_sel = dict(proxies[0])
            admin = str(proxy_sel["admin"])
        token = proxy_token(proxy_sel, self.engine.environ)
        return int(await self.run.target.set_weight(admin, token, target.service, weight))
