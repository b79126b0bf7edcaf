"""A Chaos Toolkit control: Aftershock's SLO monitor and policy decisions in the background of a
``chaos run`` (``controls: [{name: aftershock-slo-guard, provider: {type: python, module:
chaos.interop.ctk_guard}}]``).

From the start of the method until its end, every ``spec.monitor.interval`` the guard polls the
experiment's SLOs (:class:`chaos.slo.monitoring.Monitor`, the engine's), feeds the tick to the
policy decider (:class:`chaos.engine.policy_bridge.PolicyBridge`, the engine's) and applies what it
decides through :mod:`chaos.policy.executor`:

* ``rollback`` (and ``monitor.onError: rollback``) — the guard removes the run's faults itself;
  ``hold_faults`` in the method then returns early, the method goes on to await the steady state,
  and ``slos_held_during_run`` in the steady-state hypothesis makes the journal ``deviated``.
* ``abort`` — the guard removes the faults, then asks Chaos Toolkit to stop
  (``chaoslib.exit.exit_gracefully``: the run is ``interrupted``; Chaos Toolkit then skips its
  rollbacks unless ``--rollback-strategy always``, which is why the guard removes the faults first).
* ``degrade`` / ``notify`` over HTTP — applied, and degrades reverted when the method ends; a degrade's
  revert is in the state store's undo plan before the degrade is sent, with its deadline, and the
  run's undo watchdog (:mod:`chaos.targets.undo_watchdog`) reverts it then if ``chaos run`` was killed
  (``aftershock recover`` at once), as for ``aftershock run``.
* the guard itself failing (e.g. Prometheus settings it cannot use) — fail closed: the faults are
  removed and the run deviates, like ``monitor.onError: rollback``.
* ``circuit-break`` and ``shrink`` need the engine's target adapters: here they fail, and the
  decider escalates them as it does for any failed action (document: docs/interop.md).

Each decision is recorded in the state store under the run id before the experiment goes on;
at the end the run's verdict (from the journal) is written to the store and the journal gets an
``aftershock`` section (run id, verdict, decisions). Chaos Toolkit has one process per run and
calls controls as module functions, so the guard of the current run is module state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from chaos.engine.events import RunVerdict
from chaos.engine.policy_bridge import action_name, decision_evidence, decision_target
from chaos.interop.ctk import HELD_PROBE, SECRETS_SCOPE
from chaos.interop.ctk_runtime import Runtime, load_experiment, open_monitor, runtime
from chaos.loading import Loaded

log = logging.getLogger("chaostoolkit.aftershock")
STOP_TIMEOUT_S = 30.0

__all__ = ["after_experiment_control", "after_method_control", "before_method_control", "cleanup_control",
           "configure_control"]


class _Remover:
    """The guard's fault remover: the run's live faults, through the runtime."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    async def remove_faults(self, action_id: str, faults: Sequence[str]) -> None:
        from chaos.errors import ActuatorError

        result = await self.guard.rt.remove(self.guard.run_id, self.guard.state_dir, list(faults))
        if result["failed"]:
            raise ActuatorError("; ".join(f"{k}: {v}" for k, v in result["failed"].items()))


class Guard:
    """The monitor + decider loop of one run, on the runtime's loop."""

    def __init__(self, loaded: Loaded, run_id: str, state_dir: str | None, prometheus: str | None,
                 rt: Runtime | None = None, secrets: Mapping[str, str] | None = None) -> None:
        from chaos.engine.policy_bridge import PolicyBridge

        self.loaded = loaded
        self.run_id = run_id
        self.state_dir = state_dir
        self.prometheus = prometheus or None
        self.secrets = dict(secrets or {})
        """The Prometheus credentials Chaos Toolkit loaded (scope ``aftershock-prometheus``)."""
        self.rt = rt or runtime()
        self.bridge = PolicyBridge(loaded.experiment)
        self.decisions: list[dict[str, Any]] = []
        self.aborted = False
        self._stop: asyncio.Event | None = None
        self._task: Any = None
        self.undo_deadline: float | None = None
        self.undo_watchdog: int | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = self.rt.submit(self._loop())

    def stop(self) -> None:
        """Stop polling and revert what the guard applied (degrades); faults are the method's."""
        task, self._task = self._task, None
        if task is None:
            return
        if self._stop is not None:
            self.rt.loop.call_soon_threadsafe(self._stop.set)
        try:
            task.result(STOP_TIMEOUT_S)
        except Exception as exc:  # the run goes on; the reason is in the log and the journal section
            log.error("aftershock guard of run %s: %s", self.run_id, exc)
            self.decisions.append({"at": time.time(), "error": str(exc)})

    async def _loop(self) -> None:
        from chaos.clients.http import HttpActuator
        from chaos.policy import executor
        from chaos.policy.actuators import Actuators
        from chaos.slo.verdicts import Tick
        from chaos.targets.undo import write_ahead

        exp = self.loaded.experiment
        self._stop = asyncio.Event()
        store = self.rt.store(self.state_dir)
        http = HttpActuator()
        actuators = Actuators.of(_Remover(self), http)
        interval = exp.spec.monitor.interval_s
        seen: set[str] = set()
        try:
            async with open_monitor(exp.spec.monitor.model_dump(), self.prometheus, self.secrets) as monitor:
                monitor.add(self.run_id, exp.spec.slos, error_tolerance=exp.spec.monitor.error_tolerance)
                while not self._stop.is_set():
                    now = time.time()
                    for row in store.faults(self.run_id):
                        if row.fault not in seen and row.state in ("injected", "removed"):
                            seen.add(row.fault)
                            self.bridge.injected(row.fault, row.recorded)
                    ticks = await monitor.tick(eval_time=now)
                    tick = ticks.get(self.run_id, Tick(eval_time=now))
                    for decision in self.bridge.observe(tick, time.time()):
                        self._save_undo(store, write_ahead(decision, exp.name))  # before it is applied
                        out = await executor.apply(decision, actuators, self.bridge.ledger, at=time.time())
                        self._save_undo(store)
                        action = action_name(decision)
                        record = {"at": time.time(), "decision_id": decision.id, "policy": decision.policy,
                                  "action": action, "target": decision_target(decision),
                                  "evidence": decision_evidence(decision), "ok": out.ok, "error": out.error}
                        self.decisions.append(record)
                        store.record_action(self.run_id, decision.id, action,
                                            {"summary": decision.action.summary(), "ok": out.ok,
                                             "error": out.error}, "applied" if out.ok else "failed")
                        if out.ok:
                            self.bridge.applied(decision.id, time.time())
                        else:
                            self.bridge.failed(decision.id, time.time())
                        log.warning("aftershock guard: %s (%s) → %s%s", decision.policy, action,
                                    "applied" if out.ok else "failed", f": {out.error}" if out.error else "")
                    if self.bridge.decider.finished:
                        await self._abort()
                        return
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(max(0.05, interval - (time.time() - now))):
                            await self._stop.wait()
        except Exception as exc:  # fail closed: an unguarded fault is not left running
            log.error("aftershock guard of run %s stopped (%s): removing the run's faults", self.run_id, exc)
            self.decisions.append({"at": time.time(), "decision_id": "guard-error", "action": "rollback",
                                   "error": str(exc), "ok": True})
            store.record_action(self.run_id, "guard-error", "rollback", {"summary": f"guard stopped: {exc}"},
                                "applied")
            while not self._stop.is_set():  # until the method ends: no fault of the run stays live
                await self.rt.remove(self.run_id, self.state_dir)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval):
                        await self._stop.wait()
        finally:
            for item in self.bridge.final_reverts():
                out = await executor.revert(item, actuators, self.bridge.ledger, at=time.time())
                self.decisions.append({"at": time.time(), "revert": item.summary(), "ok": out.ok,
                                       "error": out.error, "kept": item.keep})
            self._save_undo(store)  # what is left open (a failed revert) stays for the watchdog and `recover`
            await http.aclose()

    def _save_undo(self, store: Any, ahead: Sequence[Any] = ()) -> None:
        """The run's undo plan in the store, as the engine keeps it (``Engine._save_undo``): the open
        degrades of the ledger plus ``ahead`` (a mitigation about to be applied), each with the run's
        undo deadline; the detached watchdog armed with the first one, disarmed when none is left."""
        from chaos.targets import undo_watchdog
        from chaos.targets.undo import credential_hosts, describe_open, undo_to_record, undo_window

        exp = self.loaded.experiment
        items = [*describe_open(self.bridge.ledger, default_proxy=None, namespace=exp.spec.target.namespace or ""),
                 *ahead]
        if not items and self.undo_deadline is None:
            return
        if self.undo_deadline is None:
            self.undo_deadline = time.time() + undo_window(exp)
        store.record_undo(self.run_id, [undo_to_record(i, self.undo_deadline) for i in items])
        if items and self.undo_watchdog is None:
            self.undo_watchdog = undo_watchdog.arm(store.dir, self.run_id, credential_hosts(exp))
        elif not items and self.undo_watchdog is not None:
            undo_watchdog.disarm_run(store.dir, self.run_id)
            self.undo_watchdog = None

    async def _abort(self) -> None:
        from chaoslib.exit import exit_gracefully

        await self.rt.remove(self.run_id, self.state_dir)
        self.aborted = True
        log.warning("aftershock guard: abort decided; faults removed, stopping the Chaos Toolkit run")
        exit_gracefully()

    def finish(self, journal: Mapping[str, Any] | None) -> str:
        """The run's verdict from the journal, written to the state store (and the journal section)."""
        from chaos.engine.runs import EXIT_CODES

        verdict = verdict_of(journal or {}, aborted=self.aborted)
        store = self.rt.store(self.state_dir)
        if isinstance(journal, dict):
            status = journal.get("status")
            journal["aftershock"] = {"run_id": self.run_id, "experiment": self.loaded.experiment.name,
                                     "source": "chaostoolkit", "verdict": verdict,
                                     "exit_code": EXIT_CODES[verdict],
                                     "reason": f"Chaos Toolkit run {status}"
                                               + (", deviated" if journal.get("deviated") else ""),
                                     "decisions": self.decisions,
                                     "faults": [{"fault": r.fault, "type": r.fault_type, "state": r.state,
                                                 "recorded": r.recorded, "deadline": r.deadline,
                                                 "removed": r.removed} for r in store.faults(self.run_id)]}
        row = store.run(self.run_id)
        if row is not None and row.id == self.run_id and row.ended is None:
            path = str(store.write_journal(self.run_id, dict(journal))) if isinstance(journal, dict) else ""
            store.finish_run(self.run_id, verdict, EXIT_CODES[verdict], path)
        return verdict


def verdict_of(journal: Mapping[str, Any], aborted: bool = False) -> RunVerdict:
    """Aftershock's verdict for a Chaos Toolkit journal (status, deviated, the steady states)."""
    status = journal.get("status")
    before = (journal.get("steady_states") or {}).get("before") or {}
    if aborted or status in ("interrupted", "aborted"):
        return "aborted"
    if before and before.get("steady_state_met") is False:
        return "unsteady"
    after = (journal.get("steady_states") or {}).get("after") or {}
    slos_back = all(p.get("tolerance_met") for p in after.get("probes") or []
                    if (p.get("activity") or {}).get("name") != HELD_PROBE)
    if status == "failed" or not slos_back:
        return "failed"  # the steady state did not return (Aftershock's "failed")
    return "deviated" if journal.get("deviated") else "passed"


_guard: Guard | None = None


def configure_control(experiment: dict[str, Any] | None = None, configuration: dict[str, Any] | None = None,
                      secrets: dict[str, Any] | None = None, **_: Any) -> None:
    """Build the guard from the experiment's Aftershock document and run id (configuration)."""
    global _guard
    config = configuration or {}
    document = config.get("aftershock_experiment")
    if document is None:
        for ext in (experiment or {}).get("extensions") or []:
            if ext.get("name") == "aftershock":
                document = ext.get("experiment")
    run_id = config.get("aftershock_run_id")
    if not isinstance(document, dict) or not isinstance(run_id, str):
        log.error("aftershock guard: no aftershock_experiment / aftershock_run_id in the configuration; "
                  "the run is NOT guarded")
        raise ValueError("aftershock guard: the experiment has no aftershock_experiment / aftershock_run_id "
                         "configuration (export it with `aftershock export --format chaostoolkit`)")
    _guard = Guard(load_experiment(document), runtime().run_id(run_id), config.get("aftershock_state_dir") or None,
                   config.get("aftershock_prometheus_url") or None,
                   secrets=(secrets or {}).get(SECRETS_SCOPE) or {})


def before_method_control(context: Any = None, **_: Any) -> None:
    if _guard is not None:
        _guard.start()


def after_method_control(context: Any = None, **_: Any) -> None:
    if _guard is not None:
        _guard.stop()


def after_experiment_control(context: Any = None, state: Any = None, **_: Any) -> None:
    if _guard is not None:
        _guard.stop()
        _guard.finish(state if isinstance(state, dict) else None)


def cleanup_control() -> None:
    global _guard
    guard, _guard = _guard, None
    if guard is not None:
        guard.stop()
