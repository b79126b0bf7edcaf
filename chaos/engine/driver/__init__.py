"""The asyncio driver: performs the steps of :func:`chaos.engine.runs.lifecycle` with real I/O.

It owns, per run, a target (:class:`chaos.targets.base.RunTarget`), the SLO monitor, the policy
bridge and the state store records; it fans every event out to subscribers (CLI, NDJSON, TUI
bridge), writes the journal, and guarantees cleanup: whatever ends a run — verdict, abort,
Ctrl-C/SIGTERM (cancellation), a bug — every fault it injected is removed before the run is
reported finished. It decides nothing (the lifecycle judges verdicts, gates and emergencies) and
never branches on the target type. Its collaborators — state store, monitor, target, HTTP
actuators, clock — are injected as factories whose defaults are the real ones. Several runs can go
in one process; no global state. Implements :class:`chaos.engine.api.EngineAPI`; used by
``aftershock run``/``demo``, ``gameday`` and the TUI.

This module holds the engine's API, the loop that drives a run, its faults' record → inject →
remove, the emergency path and the events; the steps around them are parts of the same
:class:`Engine`, one module each: :mod:`.preflight` (target checks, recovery, gate, steady state),
:mod:`.watch` (the monitoring loop while faults are live), :mod:`.mitigations` (decisions applied
with their undo written ahead) and :mod:`.alerting` (silences and alerts); :mod:`.state` holds a
run's state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, assert_never

from chaos.clients.registry import RunLock
from chaos.clients.state import StateStore
from chaos.compiling import naming
from chaos.engine import events as ev
from chaos.engine import runs as rm
from chaos.engine.clock import Clock, LoopClock
from chaos.engine.driver.alerting import ALERT_POST_TIMEOUT_S, Alerting
from chaos.engine.driver.mitigations import Mitigations
from chaos.engine.driver.preflight import Preflight
from chaos.engine.driver.state import HttpFactory, Listener, MonitorFactory, RunState, TargetFactory
from chaos.engine.driver.watch import PRESENCE_EVERY_S, Watch
from chaos.engine.policy_bridge import PolicyBridge
from chaos.engine.settings import EngineSettings
from chaos.errors import ChaosError, InvalidInput, Problem
from chaos.loading import Loaded
from chaos.model.experiment import Experiment
from chaos.slo.monitoring import Monitor
from chaos.targets import lifecycle, silences
from chaos.targets.base import RunTarget, TargetContext

if TYPE_CHECKING:  # a dry run's plan and the run history (imported by those)
    from chaos.engine.api import Plan, RunSummary

log = logging.getLogger("aftershock.engine")

__all__ = ["ALERT_POST_TIMEOUT_S", "PRESENCE_EVERY_S", "Engine", "EngineSettings", "HttpFactory",
           "MonitorFactory", "TargetFactory", "default_target"]


def default_target(ctx: TargetContext) -> RunTarget:
    """The real targets: the host (fault proxy, iptables, tc) or Kubernetes (Chaos Mesh)."""
    if ctx.loaded.experiment.spec.target.type == "host":
        from chaos.targets.host import HostRunTarget

        return HostRunTarget(ctx)
    from chaos.targets.kubernetes import KubernetesRunTarget

    return KubernetesRunTarget(ctx)


def _default_http() -> Sequence[object]:
    from chaos.clients.http import HttpActuator

    return [HttpActuator()]


class _Aborted(Exception):
    pass


class Engine(Preflight, Watch, Mitigations, Alerting):
    """The real engine. ``await engine.run(loaded)`` in the foreground, or ``launch`` in the background."""

    def __init__(self, settings: EngineSettings | None = None, *, store: StateStore | None = None,
                 targets: TargetFactory = default_target, monitors: MonitorFactory | None = None,
                 http: HttpFactory = _default_http, clock: Clock | None = None,
                 run_ids: Callable[[], str] = naming.new_run_id) -> None:
        self.settings = settings or EngineSettings()
        self.store = store if store is not None else StateStore(self.settings.state_dir)
        self.environ: Mapping[str, str] = self.settings.environ if self.settings.environ is not None else os.environ
        self.targets = targets
        self.monitors = monitors or self._monitor
        self.http = http
        self.clock: Clock = clock or LoopClock()
        self.run_ids = run_ids
        self._listeners: list[Listener] = []
        self._runs: dict[str, RunState] = {}

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def plan(self, loaded: Loaded) -> Plan:
        from chaos.engine.api import Plan, PlannedFault  # dry runs only

        run_id = self.run_ids()
        exp = loaded.experiment
        faults: list[PlannedFault] = []
        warnings: list[str] = []
        if exp.spec.target.type == "host":
            import yaml

            from chaos.compiling.host import plan_host

            for p in plan_host(exp, run_id, source=loaded.source):
                if p.proxy_fault:
                    body = p.proxy_fault.to_dict()
                elif p.via == "custom":  # its parameters are the kind's (a command line may hold secrets)
                    body = {"realiser": f"the {p.fault_type} kind, its own I/O", "comment": p.comment}
                else:
                    body = {"kernel": p.kernel, "comment": p.comment}
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
            monitor = self.monitors(exp)
            try:
                tick = await monitor.evaluate_now(exp.spec.slos, eval_time=self.clock.wall())
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
        from chaos.engine.api import RunSummary

        out = []
        for row in self.store.runs(limit):
            ended = row.ended if row.ended is not None else self.clock.wall()
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

    def _new_run(self, loaded: Loaded, run_id: str | None, dry_run: bool) -> RunState:
        run_id = run_id or self.run_ids()
        if run_id in self._runs:
            raise InvalidInput(Problem(f"run id {run_id!r} is already used by a run of this engine",
                                       hint="leave the run id out to get a fresh one"))
        run = RunState(run_id=run_id, loaded=loaded, dry_run=dry_run, bridge=PolicyBridge(loaded.experiment))
        if loaded.experiment.spec.alerting is not None and not dry_run:
            from chaos.engine.alerts import RunAlerts

            run.alerts = RunAlerts(loaded.experiment, run_id, journal=str(self.store.journal_path(run_id)))
        self._runs[run_id] = run
        return run

    def _monitor(self, exp: Experiment) -> Monitor:
        spec = exp.spec.monitor
        if self.settings.prometheus:
            spec = spec.model_copy(update={"prometheus": self.settings.prometheus})
        if self.settings.prometheus_token_file:  # the token the deployment gives (a mounted Secret)
            spec = spec.model_copy(update={"bearer_token_file": self.settings.prometheus_token_file,
                                           "bearer_token_env": None})
        return Monitor(spec, environ=self.environ)

    async def _drive(self, run: RunState) -> ev.RunFinished:
        exp = run.experiment
        start = self.clock.wall()
        run.monitor = self.monitors(exp)
        gen = rm.lifecycle(exp, run.run_id, run.bridge, source=run.loaded.source, start_at=start,
                           dry_run=run.dry_run)
        lock = None
        if not run.dry_run:
            # host-wide liveness, whatever the state dir: `recover` elsewhere leaves this run's faults alone
            lock = RunLock(run.run_id, self.store.dir)
            self.store.start_run(run.run_id, exp.name, run.loaded.source, exp.spec.target.type, start)
        outcome: rm.AnyOutcome | None = None
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
            await self._end_alerting(run)
            await self._close(run)
            if lock is not None:
                lock.release()
        assert final is not None
        run.finished = run.finished or final
        return run.finished

    async def _close(self, run: RunState) -> None:
        if run.undo_watchdog is not None and not any(p.run_id == run.run_id for p in self.store.undo_plans()):
            from chaos.targets import undo_watchdog

            undo_watchdog.disarm_run(self.store.dir, run.run_id)  # nothing left to undo (else: at the deadline)
        for actuator in run.http:
            closer = getattr(actuator, "aclose", None)
            if closer is not None:
                await closer()
        if run.monitor is not None:
            await run.monitor.aclose()
        if run.target is not None:
            await run.target.close()

    async def _emergency(self, run: RunState, reason: str) -> ev.RunFinished:
        """Remove every live fault of the run and revert what was applied; then report it finished.

        Every fault and revert is tried even when one fails; what is left behind is named and
        judged by :func:`chaos.engine.runs.emergency_verdict` (``aftershock recover`` removes it later)."""
        aborted = reason == "aborted"
        left: list[str] = []
        for row in self.store.faults(run.run_id, live_only=True):
            if row.kind == silences.KIND:
                continue  # expired when the run ends (_end_alerting), after the faults
            try:
                detail = await self._remove_one(run, row.fault, row.realisation)
            except Exception as exc:  # cleanup goes on, whatever one removal raised
                left.append(f"fault {row.fault}: {exc}")
                continue
            self._publish(run, ev.FaultRemoved(run_id=run.run_id, at=self.clock.wall(), fault=row.fault,
                                               reason="abort" if aborted else "error"))
            log.info("%s", detail)
        for item in run.bridge.final_reverts():
            try:
                from chaos.policy import executor  # imported by the first revert: not on the way to injecting

                out = await executor.revert(item, run.actuators, run.bridge.ledger, at=self.clock.wall())
            except Exception as exc:
                left.append(f"{item.summary()}: {exc}")
                continue
            if not out.ok:
                left.append(f"{item.summary()}: {out.error}")
                continue
            self._publish(run, ev.Reverted(run_id=run.run_id, at=self.clock.wall(), decision_id=item.id,
                                           action=item.kind, detail=out.note or item.summary(),
                                           kept=item.keep))
        left += await self._revert_plugins(run)
        self._save_undo(run)
        await self._expire_silence(run)
        verdict, reason = rm.emergency_verdict(aborted, reason, left)
        if left:
            self._publish(run, ev.RunLog(run_id=run.run_id, at=self.clock.wall(), level="error", message=reason))
        final = ev.RunFinished(run_id=run.run_id, at=self.clock.wall(), verdict=verdict,
                               exit_code=rm.EXIT_CODES[verdict], reason=reason)
        self._publish(run, final)
        return run.finished or final

    def _publish(self, run: RunState, event: ev.Event) -> ev.Event:
        if isinstance(event, ev.RunFinished):
            if run.finished is not None:
                return run.finished
            journal_path = "" if run.dry_run else str(self.store.journal_path(run.run_id))
            event = dataclasses.replace(event, journal=journal_path)
            run.events.append(event)
            run.finished = event
            if not run.dry_run:
                from chaos.journal import build_journal  # with the Chaos Toolkit export: at the end only

                published: list[ev.RunEvent] = list(run.events)
                journal = build_journal(run.experiment, published, written=run.loaded.written,
                                        parameters=run.loaded.parameters)
                self.store.write_journal(run.run_id, journal)
                self.store.finish_run(run.run_id, event.verdict, event.exit_code, journal_path, ended=event.at)
        else:
            run.events.append(event)
        if run.alerts is not None:
            alerts = run.alerts.on_event(event)
            if alerts:
                task = asyncio.create_task(self._post_alerts(run, alerts))
                run.posting.add(task)
                task.add_done_callback(run.posting.discard)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken subscriber never breaks a run
                log.exception("event listener failed")
        return event

    async def _perform(self, run: RunState, step: rm.Step) -> rm.AnyOutcome | None:
        match step:
            case rm.Publish(event=event):
                if isinstance(event, ev.RunFinished):
                    await self._revert_plugins(run)
                    await self._expire_silence(run)  # the faults are gone: the expected alerts may fire again
                self._publish(run, event)
                return None
            case rm.Preflight():
                return await self._preflight(run)
            case rm.MeasureGate(queries=queries):
                return await self._measure_gate(run, queries)
            case rm.CheckSteady(slos=slos):
                return await self._check_steady(run, slos)
            case rm.Record(fault=name):
                if run.command == "abort":
                    raise _Aborted()
                if run.silence is None and run.experiment.spec.alerting is not None \
                        and run.experiment.spec.alerting.silence:
                    await self._silence(run)
                return self._record(run, name)
            case rm.Inject(fault=name):
                if run.command == "abort":
                    raise _Aborted()
                return await self._inject(run, name)
            case rm.NextTick(window_end=window_end):
                return await self._next_tick(run, window_end)
            case rm.Apply(decision=decision):
                return await self._apply(run, decision)
            case rm.Remove(faults=names):
                return await self._remove(run, names)
            case rm.ApplyRevert(item=item):
                from chaos.policy import executor  # imported by the first revert: not on the way to injecting

                out = await executor.revert(item, run.actuators, run.bridge.ledger, at=self.clock.wall())
                self._save_undo(run)
                return rm.RevertOutcome(at=self.clock.wall(), ok=out.ok, detail=out.note or item.summary(),
                                        error=out.error, restored=self._restored(run, item))
            case rm.AwaitSteady(slos=slos, timeout_s=timeout_s):
                return await self._await_steady(run, slos, timeout_s)
            case _:
                assert_never(step)

    def _record(self, run: RunState, name: str) -> rm.RecordOutcome:
        assert run.target is not None
        fault = next(f for f in run.experiment.spec.faults if f.name == name)
        now = self.clock.wall()
        deadline = now + fault.duration_s
        run.deadlines[name] = deadline
        realisation = lifecycle.record_fault(self.store, run.target, run.run_id, name, fault.type, deadline)
        return rm.RecordOutcome(at=now, detail=str(realisation.get("description", "")))

    async def _inject(self, run: RunState, name: str) -> rm.InjectOutcome:
        assert run.target is not None
        fault = next(f for f in run.experiment.spec.faults if f.name == name)
        deadline = run.deadlines[name]
        try:
            realisation = await lifecycle.inject_recorded(self.store, run.target, run.run_id, name, deadline)
        except ChaosError as exc:
            return rm.InjectOutcome(at=self.clock.wall(), ok=False, error=str(exc))
        run.injected = (self.clock.monotonic(), self.clock.wall())
        details = {k: v for k, v in realisation.items() if k in ("kind", "comment", "status")}
        return rm.InjectOutcome(at=self.clock.wall(), deadline=deadline, fault_type=fault.type,
                                description=str(realisation.get("description", "")), details=details)

    async def _remove(self, run: RunState, names: Sequence[str]) -> rm.RemoveOutcome:
        """Remove each fault (every one is tried); ``failed`` names those still live."""
        errors: list[str] = []
        failed: list[str] = []
        for name in names:
            row = self.store.fault(run.run_id, name)
            if row is None:
                continue
            try:
                await self._remove_one(run, name, row.realisation)
            except ChaosError as exc:
                errors.append(f"{name}: {exc}")
                failed.append(name)
        return rm.RemoveOutcome(at=self.clock.wall(), ok=not errors, error="; ".join(errors), failed=tuple(failed))

    async def _remove_one(self, run: RunState, name: str, realisation: Mapping[str, Any]) -> lifecycle.Removal:
        """Remove one fault (through the run's target, else from its record alone) with the one retry
        policy; mark it removed in the store."""
        target = run.target

        async def remove() -> lifecycle.Removal:
            if target is not None:
                return await target.remove(realisation)
            return await lifecycle.remove_recorded(realisation, self.store.dir, self.environ)

        result = await lifecycle.remove_fault(self.store, run.run_id, name, remove)
        left = run.deadlines[name] - self.clock.wall() if name in run.deadlines else None
        if isinstance(result, lifecycle.AlreadyGone) and name not in run.missing and left is not None and left > 1.0:
            # the fault disappeared under the run (an operator, `recover --all`, a restarted proxy): say so
            self._publish(run, ev.RunLog(
                run_id=run.run_id, at=self.clock.wall(), level="warning",
                message=f"fault {name} was already gone {left:.0f}s before its deadline "
                        f"({result}): something else removed it; SLO samples since then were taken without it"))
        return result
