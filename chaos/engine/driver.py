"""The asyncio driver: performs the steps of :func:`chaos.engine.runs.lifecycle` with real I/O.

It owns, per run, a target (:class:`chaos.targets.base.RunTarget`), the SLO monitor, the policy
bridge and the state store records; it fans every event out to subscribers (CLI, NDJSON, TUI
bridge), writes the journal, and guarantees cleanup: whatever ends a run — verdict, abort,
Ctrl-C/SIGTERM (cancellation), a bug — every fault it injected is removed before the run is
reported finished. It decides nothing (the lifecycle judges verdicts, gates and emergencies) and
never branches on the target type. Its collaborators — state store, monitor, target, HTTP
actuators, clock — are injected as factories whose defaults are the real ones. Several runs can go
in one process; no global state. Implements :class:`chaos.engine.api.EngineAPI`; used by
``aftershock run``/``demo`` and the TUI.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, assert_never

from chaos.clients.registry import RunLock
from chaos.clients.state import StateStore
from chaos.compiling import naming
from chaos.engine import events as ev
from chaos.engine import runs as rm
from chaos.engine.api import Plan, PlannedFault, RunSummary
from chaos.engine.clock import Clock, LoopClock
from chaos.engine.policy_bridge import PolicyBridge, action_name
from chaos.engine.settings import EngineSettings
from chaos.errors import ChaosError, InvalidExperiment, InvalidInput, PreflightRefused, Problem
from chaos.loading import Loaded
from chaos.model.experiment import Experiment
from chaos.policy import executor
from chaos.policy.actions import CircuitBreak, Decision, ShrinkFault
from chaos.policy.actions import Revert as UndoStep
from chaos.policy.actuators import Actuators
from chaos.slo.monitoring import Monitor, read_bad_ratios
from chaos.slo.verdicts import Tick
from chaos.targets import lifecycle, silences
from chaos.targets.base import RunTarget, TargetContext
from chaos.targets.plugin_actions import PluginActions
from chaos.targets.recovery import recover_faults
from chaos.targets.undo import PluginUndo, UndoItem

if TYPE_CHECKING:  # imported by the runs that alert (spec.alerting)
    from chaos.engine.alerts import RunAlerts

log = logging.getLogger("aftershock.engine")
PRESENCE_EVERY_S = 2.0
"""How often a run checks that its faults are still where it put them."""
Listener = Callable[[ev.Event], None]
ALERT_POST_TIMEOUT_S = 10.0
"""How long the end of a run waits for its last alerts to reach Alertmanager."""

TargetFactory = Callable[[TargetContext], RunTarget]
"""Builds the target of one run (default: host or Kubernetes by ``spec.target.type``)."""
MonitorFactory = Callable[[Experiment], Monitor]
"""Builds the monitor of one run (default: Prometheus at ``spec.monitor.prometheus`` or ``--prometheus``)."""
HttpFactory = Callable[[], Sequence[object]]
"""Builds the HTTP actuators (degrade, notify) of one run; closed with it (default: one ``HttpActuator``)."""

__all__ = ["Engine", "EngineSettings", "HttpFactory", "MonitorFactory", "TargetFactory", "default_target"]


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


@dataclass
class _Run:
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


class Engine:
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
        self._runs: dict[str, _Run] = {}

    # ------------------------------------------------------------------ EngineAPI

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def plan(self, loaded: Loaded) -> Plan:
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

    def _new_run(self, loaded: Loaded, run_id: str | None, dry_run: bool) -> _Run:
        run_id = run_id or self.run_ids()
        if run_id in self._runs:
            raise InvalidInput(Problem(f"run id {run_id!r} is already used by a run of this engine",
                                       hint="leave the run id out to get a fresh one"))
        run = _Run(run_id=run_id, loaded=loaded, dry_run=dry_run, bridge=PolicyBridge(loaded.experiment))
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

    async def _drive(self, run: _Run) -> ev.RunFinished:
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

    async def _close(self, run: _Run) -> None:
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

    async def _emergency(self, run: _Run, reason: str) -> ev.RunFinished:
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

    async def _revert_plugins(self, run: _Run) -> list[str]:
        """Revert the applied plugin actions that declared an undo (the run is ending) → what is left."""
        from chaos.targets.undo import describe, execute

        left: list[str] = []
        kept: list[UndoItem] = []
        for item in run.plugin_undos:
            assert isinstance(item, PluginUndo)
            try:
                detail = await execute(item, self.environ, run.run_id, state_dir=self.store.dir)
            except ChaosError as exc:
                kept.append(item)
                left.append(f"{describe(item)}: {exc}")
                self._publish(run, ev.RunLog(run_id=run.run_id, at=self.clock.wall(), level="error",
                                             message=f"revert of {describe(item)} failed: {exc}; "
                                                     "`aftershock recover` tries again"))
                continue
            self._publish(run, ev.Reverted(run_id=run.run_id, at=self.clock.wall(), decision_id=item.decision_id,
                                           action=item.action, detail=detail))
        if run.plugin_undos:
            run.plugin_undos = kept
            self._save_undo(run)
        return left

    def _save_undo(self, run: _Run, ahead: Sequence[UndoItem] = ()) -> None:
        """Keep the store's record of open mitigations current (``recover`` reverts a dead run's);
        ``ahead``: items of a mitigation about to be applied (written before it, like a fault)."""
        from chaos.targets import undo_watchdog
        from chaos.targets.undo import credential_hosts, describe_open, undo_to_record, undo_window

        if run.dry_run or run.target is None:
            return
        context = run.target.undo_context()
        items = describe_open(run.bridge.ledger, default_proxy=context.default_proxy,
                              namespace=self.settings.namespace or run.experiment.spec.target.namespace,
                              kube=context.kube)
        items = [*items, *run.plugin_undos]
        if (items or ahead) and run.undo_deadline is None:
            # the run's bound, fixed with its first mitigation (all of them come after the first injection);
            # real time, not the run's clock: a detached process enforces it
            run.undo_deadline = time.time() + undo_window(run.experiment)
        self.store.record_undo(run.run_id, [undo_to_record(i, run.undo_deadline) for i in [*items, *ahead]])
        if (items or ahead) and run.undo_watchdog is None:
            # armed after the write-ahead record and before the mitigation is applied: enforced after a kill -9
            run.undo_watchdog = undo_watchdog.arm(self.store.dir, run.run_id, credential_hosts(run.experiment))

    def _publish(self, run: _Run, event: ev.Event) -> ev.Event:
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

    async def _perform(self, run: _Run, step: rm.Step) -> rm.AnyOutcome | None:
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
                out = await executor.revert(item, run.actuators, run.bridge.ledger, at=self.clock.wall())
                self._save_undo(run)
                return rm.RevertOutcome(at=self.clock.wall(), ok=out.ok, detail=out.note or item.summary(),
                                        error=out.error, restored=self._restored(run, item))
            case rm.AwaitSteady(slos=slos, timeout_s=timeout_s):
                return await self._await_steady(run, slos, timeout_s)
            case _:
                assert_never(step)

    # ------------------------------------------------------------------ steps

    async def _preflight(self, run: _Run) -> rm.PreflightOutcome:
        # while the target's checks wait on their round trips, ask Prometheus the steady-state SLOs
        # once (discarded): it connects, and it teaches the monitor each selector's newest sample, so
        # the steady-state check proper confirms the scrape interval (two consecutive samples) and
        # the first tick after injection lands right after the first scrape that can show the fault
        warm = asyncio.create_task(self._warm_monitor(run)) if run.experiment.spec.steady_state else None
        try:
            outcome = await self._preflight_checks(run)
        except BaseException:  # cancelled (Ctrl-C) or a bug: the query is not worth waiting for
            if warm is not None:
                warm.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await warm
            raise
        if warm is not None:
            await warm  # before the steady-state check: one evaluation at a time per monitor
        return outcome

    async def _warm_monitor(self, run: _Run) -> None:
        if run.monitor is None or run.dry_run:
            return
        slos = [run.experiment.spec.slo(n) for n in run.experiment.spec.steady_state]
        with contextlib.suppress(ChaosError):
            await run.monitor.evaluate_now(slos, eval_time=self.clock.wall())

    async def _preflight_checks(self, run: _Run) -> rm.PreflightOutcome:
        try:
            target = run.target = self.targets(TargetContext(run_id=run.run_id, loaded=run.loaded, store=self.store,
                                                             settings=self.settings, environ=self.environ))
            recovered = await recover_faults(self.store, kinds=target.recover_kinds, environ=self.environ)
            checks, targets = await target.preflight()
            if recovered.removed:
                checks.insert(0, f"recovered {len(recovered.removed)} fault(s) left by dead runs")
            for bad in recovered.damaged:  # skipped, said; the run and every other recovery go on
                log.warning("pre-flight recovery: %s", bad.describe())
            run.http = self.http()
            plugins = PluginActions(run.run_id, run.experiment.name, self.environ, self.store.dir)
            run.actuators = target.actuators([*run.http, plugins])
        except (PreflightRefused, InvalidExperiment) as exc:
            details = tuple(getattr(exc, "details", ()))
            return rm.PreflightOutcome(at=self.clock.wall(), ok=False, refused=True,
                                       error=str(exc).split("\n")[0], details=details)
        except ChaosError as exc:
            return rm.PreflightOutcome(at=self.clock.wall(), ok=False, error=str(exc),
                                       details=tuple(getattr(exc, "details", ())))
        return rm.PreflightOutcome(at=self.clock.wall(), checks=tuple(checks), targets=tuple(targets))

    async def _measure_gate(self, run: _Run, queries: Mapping[str, str]) -> rm.GateOutcome:
        assert run.monitor is not None
        try:
            bad = await read_bad_ratios(run.monitor.client, queries, self.clock.wall())
        except ChaosError as exc:
            return rm.GateOutcome(at=self.clock.wall(), ok=False, error=str(exc))
        return rm.GateOutcome(at=self.clock.wall(), bad=bad)

    async def _check_steady(self, run: _Run, slos: Sequence[str], *, sample_all: bool = False) -> rm.SteadyOutcome:
        assert run.monitor is not None
        objs = list(run.experiment.spec.slos) if sample_all else [run.experiment.spec.slo(n) for n in slos]
        try:
            tick = await run.monitor.evaluate_now(objs, eval_time=self.clock.wall())
        except ChaosError as exc:
            return rm.SteadyOutcome(at=self.clock.wall(), holds=False, error=str(exc))
        if sample_all and not run.dry_run:
            self._publish(run, ev.SloSampled(run_id=run.run_id, at=tick.eval_time, tick=tick))
        verdicts = tuple(v for v in tick.verdicts if v.slo in slos)
        holds = bool(verdicts) and all(v.holds for v in verdicts)
        return rm.SteadyOutcome(at=self.clock.wall(), holds=holds, verdicts=verdicts)

    async def _silence(self, run: _Run) -> None:
        """Silence the experiment's expected alerts for the fault window: recorded write-ahead (a
        fault row of its own), then created. A failure is said and the run goes on (the drill's
        own alerts may page)."""
        alerting = run.experiment.spec.alerting
        assert alerting is not None
        now = self.clock.wall()
        planned = silences.planned(run.experiment, run.run_id, now)
        run.silence = planned
        self.store.record_fault(run.run_id, silences.FAULT_NAME, silences.FAULT_TYPE, planned, planned["ends"])
        try:
            created = await silences.create(planned, self.environ)
        except ChaosError as exc:
            self._publish(run, ev.RunLog(run_id=run.run_id, at=self.clock.wall(), level="warning",
                                         message=f"could not silence the expected alerts: {exc}"))
            return
        run.silence = created
        self.store.update_fault(run.run_id, silences.FAULT_NAME, "injected", created)
        self._publish(run, ev.RunLog(run_id=run.run_id, at=self.clock.wall(),
                                     message=f"silenced the expected alerts ({', '.join(alerting.silence)}) until the "
                                             f"run ends: silence {created['silence_id']} at {alerting.alertmanager}"))

    async def _post_alerts(self, run: _Run, alerts: list[dict[str, Any]]) -> None:
        alerting = run.experiment.spec.alerting
        assert alerting is not None
        from chaos.clients.alertmanager import AlertmanagerClient

        try:
            async with AlertmanagerClient(alerting.alertmanager, headers=alerting.headers) as am:
                await am.post_alerts(alerts)
        except ChaosError as exc:
            log.warning("run %s: sending %d alert(s) failed: %s", run.run_id, len(alerts), exc)

    async def _expire_silence(self, run: _Run) -> None:
        """Expire the run's silence once its faults are gone, before the run is reported finished (so a
        finished run has no live record); idempotent. A failure is said; ``aftershock recover`` expires
        it later, and Alertmanager ends it at its ``endsAt`` anyway."""
        if run.silence is None:
            return
        silence, run.silence = run.silence, None
        try:
            detail = await silences.expire(silence, self.environ, trusted=True)
            self.store.update_fault(run.run_id, silences.FAULT_NAME, "removed")
            log.info("%s", detail)
        except ChaosError as exc:
            log.warning("run %s: expiring the silence failed: %s", run.run_id, exc)

    async def _end_alerting(self, run: _Run) -> None:
        """The silence expired if the run ended without reporting (it normally is before RunFinished),
        and the last alerts let out (bounded)."""
        await self._expire_silence(run)
        if run.posting:
            await asyncio.wait(set(run.posting), timeout=ALERT_POST_TIMEOUT_S)

    def _record(self, run: _Run, name: str) -> rm.RecordOutcome:
        assert run.target is not None
        fault = next(f for f in run.experiment.spec.faults if f.name == name)
        now = self.clock.wall()
        deadline = now + fault.duration_s
        run.deadlines[name] = deadline
        realisation = lifecycle.record_fault(self.store, run.target, run.run_id, name, fault.type, deadline)
        return rm.RecordOutcome(at=now, detail=str(realisation.get("description", "")))

    async def _inject(self, run: _Run, name: str) -> rm.InjectOutcome:
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

    async def _next_tick(self, run: _Run, window_end: float) -> rm.TickOutcome:
        """Wait for the next monitor interval (monotonic) or the end of the fault window (an epoch
        deadline), whichever is first — or a user command.

        Scrape-aligned (:meth:`Monitor.next_due`): right after the next scrape can be queried, never
        later than the interval after the last tick. The first tick after injection waits for the
        first scrape after the injection when the steady-state check already taught the monitor the
        scrape cadence (no sample before it can show the fault, and the check just evaluated every
        SLO); with the cadence unknown it evaluates at once, which teaches it.
        """
        interval = run.experiment.spec.monitor.interval_s
        now = self.clock.wall()
        wait = 0.0
        last = self._last_evaluation(run)
        if last is not None and run.monitor is not None:
            last_mono, last_wall = last
            # after the injection: a scrape taken after it, not one merely ingested after it
            due = run.monitor.next_due(run.run_id, last_wall, interval, taken_after=run.last_tick is None)
            wait = min(last_mono + interval - self.clock.monotonic(), due - now)
        wait = min(wait, window_end - now)
        timer = self.clock.monotonic() + wait
        if run.command is None and wait > 0:
            await self.clock.wait(run.wake, wait)
        run.wake.clear()
        # woken early by a probe result (not by the timer or a command): judge the probes only
        probes_only = (run.command is None and run.monitor is not None and run.monitor.has_probes(run.run_id)
                       and self.clock.monotonic() < timer - 1e-3 and run.last_tick is not None)
        if run.command is not None:
            command, run.command = run.command, (run.command if run.command == "abort" else None)
            return rm.TickOutcome(at=self.clock.wall(), command="abort" if command == "abort" else "rollback")
        now = self.clock.wall()
        if now >= window_end:
            return rm.TickOutcome(at=now, tick=None)
        if not probes_only:
            run.last_tick, run.last_eval = self.clock.monotonic(), now
        tick = await self._tick(run, now, probes_only=probes_only)
        return rm.TickOutcome(at=self.clock.wall(), tick=tick)

    def _last_evaluation(self, run: _Run) -> tuple[float, float] | None:
        """(monotonic, wall) of the evaluation the next tick is paced from; None: tick at once."""
        if run.last_tick is not None:
            return run.last_tick, run.last_eval
        if run.monitor is None or run.injected is None:
            return None
        self._subscribe(run, run.monitor)
        _, injected_wall = run.injected
        if run.monitor.next_due(run.run_id, injected_wall, math.inf, taken_after=True) == math.inf:
            return None  # no scrape cadence known yet: evaluate now, which learns it
        return run.injected

    @staticmethod
    def _subscribe(run: _Run, monitor: Monitor) -> None:
        if run.run_id not in monitor.subscribers:
            monitor.add(run.run_id, run.experiment.spec.slos, error_tolerance=run.experiment.spec.monitor.error_tolerance,
                        on_result=run.wake.set)

    async def _tick(self, run: _Run, now: float, *, probes_only: bool = False) -> Tick:
        assert run.monitor is not None
        self._subscribe(run, run.monitor)
        ticks = await run.monitor.tick(eval_time=now, probes_only=probes_only)
        await self._notice_missing(run)
        return ticks.get(run.run_id, Tick(eval_time=now))

    async def _notice_missing(self, run: _Run) -> None:
        """Every few seconds, ask the injector whether each live fault is still there; say so when not."""
        target = run.target
        if target is None or self.clock.monotonic() - run.last_presence < PRESENCE_EVERY_S:
            return
        run.last_presence = self.clock.monotonic()
        for row in self.store.faults(run.run_id, live_only=True):
            if row.kind == silences.KIND:
                continue
            left = run.deadlines.get(row.fault, row.deadline) - self.clock.wall()
            if row.state != "injected" or row.fault in run.missing or left < PRESENCE_EVERY_S:
                continue
            if await target.present(row.realisation) is False:
                run.missing.add(row.fault)
                self._publish(run, ev.RunLog(
                    run_id=run.run_id, at=self.clock.wall(), level="warning",
                    message=f"fault {row.fault} was already gone {left:.0f}s before its deadline: "
                            "something else removed it (an operator, `aftershock recover --all`, a restarted "
                            "injector); SLO samples from now on are taken without it"))

    async def _apply(self, run: _Run, decision: Decision) -> rm.ApplyOutcome:
        from chaos.targets.undo import write_ahead

        try:
            ahead = write_ahead(decision, run.experiment.name)
        except ChaosError as exc:  # a plugin's undo that cannot be recorded: the action is not applied
            self.store.record_action(run.run_id, decision.id, action_name(decision),
                                     {"summary": decision.action.summary(), "ok": False, "error": str(exc)}, "failed")
            return rm.ApplyOutcome(at=self.clock.wall(), ok=False, detail=decision.action.summary(), error=str(exc))
        plugin = [i for i in ahead if isinstance(i, PluginUndo)]
        ahead = [i for i in ahead if not isinstance(i, PluginUndo)]
        run.plugin_undos += plugin  # kept in every plan from now on, until the run reverts them
        if ahead or plugin:  # a kill -9 between the call and the record below must not leave it unrecorded
            self._save_undo(run, ahead)
        out = await executor.apply(decision, run.actuators, run.bridge.ledger, at=self.clock.wall())
        action = decision.action
        self.store.record_action(run.run_id, decision.id, action_name(decision),
                                 {"summary": action.summary(), "ok": out.ok, "error": out.error},
                                 "applied" if out.ok else "failed")
        self._save_undo(run)
        at, detail = self.clock.wall(), out.note or action.summary()
        if isinstance(action, CircuitBreak):
            return rm.ApplyOutcome(at=at, ok=out.ok, detail=detail, error=out.error, breaker=action.phase,
                                   weight=action.weight if action.weight is not None else 100)
        if isinstance(action, ShrinkFault):
            return rm.ApplyOutcome(at=at, ok=out.ok, detail=detail, error=out.error, shrunk=action.as_params)
        return rm.ApplyOutcome(at=at, ok=out.ok, detail=detail, error=out.error)

    async def _remove(self, run: _Run, names: Sequence[str]) -> rm.RemoveOutcome:
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

    @staticmethod
    def _restored(run: _Run, item: UndoStep) -> rm.RestoredWeight | None:
        """For a restored weight: the service, the weight and the policy (for ``BreakerChanged``)."""
        if item.kind != "restore-weight" or item.weight_target is None:
            return None
        issued = run.bridge.decider.issued(item.id.removeprefix("revert:"))
        return rm.RestoredWeight(policy=issued.policy if issued is not None else "",
                                 service=item.weight_target.service,
                                 weight=item.weight if item.weight is not None else 100)

    async def _remove_one(self, run: _Run, name: str, realisation: Mapping[str, Any]) -> lifecycle.Removal:
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

    async def _await_steady(self, run: _Run, slos: Sequence[str], timeout_s: float) -> rm.SteadyOutcome:
        """Judge the steady state until it holds (bounded). Every SLO keeps being sampled meanwhile
        (``SloSampled``), so the charts go on from the breach to the judgement with measured points."""
        start = self.clock.monotonic()
        interval = max(run.experiment.spec.monitor.interval_s, 0.25)
        while True:
            last = await self._check_steady(run, slos, sample_all=True)
            if last.holds or run.command == "abort":
                break
            remaining = start + timeout_s - self.clock.monotonic()
            if remaining <= 0:
                break
            await self.clock.wait(run.wake, min(interval, remaining))
            run.wake.clear()
        waited = round(self.clock.monotonic() - start, 3)
        return dataclasses.replace(last, at=self.clock.wall(), seconds=waited,
                                   aborted=run.command == "abort" and not last.holds)
