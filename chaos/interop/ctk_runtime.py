"""The I/O behind the Chaos Toolkit extension and guard: faults injected and removed through the
same targets, state-store records and bounds as ``aftershock run``.

Chaos Toolkit calls extension functions synchronously, one after the other, in one process. A
fault proxy spawned for a run, a Kubernetes run target (its reaper) and the guard's monitor must
outlive the single call that created them, so one :class:`Runtime` per process keeps them on a
background asyncio loop; the sync probes/actions (``chaos.interop.ctk_probes``,
``chaos.interop.ctk_actions``) and the control (``chaos.interop.ctk_guard``) submit coroutines to
it. At interpreter exit every fault this process injected and still holds is removed (a
``chaos run`` that ends, however it ends short of SIGKILL, leaves no fault behind; after SIGKILL the
faults end at their own deadline and ``aftershock recover`` removes their records).

Per fault, in this order (as the engine does, through the same run targets —
:class:`chaos.targets.host.HostRunTarget`, :class:`chaos.targets.kubernetes.KubernetesRunTarget` —
and the same fault lifecycle, :mod:`chaos.targets.lifecycle`): pre-flight → the run is registered
in the state store with this process's pid and takes its host-wide run lock
(:class:`chaos.clients.registry.RunLock`: ``aftershock recover`` from any state dir sees it alive
and leaves its faults alone) → the fault is **recorded with its deadline** → injected with that
deadline → marked injected with its realisation. Removal uses the lifecycle's retry policy.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from chaos.clients.registry import RunLock
from chaos.clients.state import StateStore
from chaos.errors import ChaosError, InvalidInput, PreflightRefused, Problem
from chaos.interop.ctk import REDACTED, header_env, header_secret
from chaos.loading import Loaded, load_text
from chaos.model.slos import MonitorSpec

if TYPE_CHECKING:
    from chaos.slo.monitoring import Monitor
    from chaos.targets.base import RunTarget

log = logging.getLogger("chaostoolkit.aftershock")
T = TypeVar("T")
SOURCE = "<chaostoolkit>"


def load_experiment(document: Mapping[str, Any] | str) -> Loaded:
    """An Aftershock experiment carried in a CTK document (a dict, or YAML/JSON text), fully validated."""
    text = document if isinstance(document, str) else json.dumps(document)
    return load_text(text, SOURCE)


def monitor_spec(settings: Mapping[str, Any] | None, prometheus: str | None = None,
                 environ: Mapping[str, str] | None = None,
                 secrets: Mapping[str, str] | None = None) -> MonitorSpec:
    """The monitor's connection settings (auth, TLS, headers) as the engine reads them.

    Credentials are never written into exported documents. ``secrets`` are the values Chaos
    Toolkit loaded for the :data:`~chaos.interop.ctk.SECRETS_SCOPE` scope: ``userinfo`` goes back
    into the URL (and is split off again as basic auth), ``header:<Name>`` fills a redacted header.
    Without them (a document exported before secrets were used) a redacted header is read from
    ``AFTERSHOCK_PROMETHEUS_HEADER_<NAME>``."""
    from chaos.secrets import reveal

    environ = os.environ if environ is None else environ
    secrets = secrets or {}
    data = dict(settings or {})
    if prometheus:
        data["prometheus"] = prometheus
    userinfo = secrets.get("userinfo")
    if userinfo:
        parts = urlsplit(str(data.get("prometheus") or MonitorSpec().prometheus))
        if "@" not in parts.netloc:
            data["prometheus"] = urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))
    headers = dict(data.get("headers") or {})
    for name, value in headers.items():
        if reveal(value) == REDACTED:  # a header value may already be typed as a Secret
            env = header_env(name)
            if header_secret(name) in secrets:
                headers[name] = secrets[header_secret(name)]
            elif env in environ:
                headers[name] = environ[env]
            else:
                raise PreflightRefused(f"Prometheus header {name}: set {env} (its value is not stored in the "
                                       "exported experiment)")
    data["headers"] = headers
    return MonitorSpec.model_validate(data)


def monitor_environ(spec: MonitorSpec, secrets: Mapping[str, str] | None = None,
                    environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the monitor's client reads its bearer token / basic-auth password from:
    ``environ`` with the values Chaos Toolkit loaded (``bearer_token``, ``basic_password``) under
    the names the experiment gives."""
    out = dict(os.environ if environ is None else environ)
    secrets = secrets or {}
    if spec.bearer_token_env and "bearer_token" in secrets:
        out[spec.bearer_token_env] = secrets["bearer_token"]
    if spec.basic_auth is not None and spec.basic_auth.password_env and "basic_password" in secrets:
        out[spec.basic_auth.password_env] = secrets["basic_password"]
    return out


def open_monitor(settings: Mapping[str, Any] | None, prometheus: str | None = None,
                 secrets: Mapping[str, str] | None = None) -> Monitor:
    """A :class:`~chaos.slo.monitoring.Monitor` with the credentials of :func:`monitor_spec` and
    :func:`monitor_environ` (use it as ``async with``)."""
    from chaos.slo.monitoring import Monitor

    spec = monitor_spec(settings, prometheus, secrets=secrets)
    return Monitor(spec, environ=monitor_environ(spec, secrets))


@dataclass
class RunState:
    """What this process holds for one run id."""

    run_id: str
    loaded: Loaded
    store: StateStore
    target: RunTarget | None = None
    lock: RunLock | None = None
    """The host-wide run lock, held while this process holds the run (released at exit)."""
    removed: threading.Event = field(default_factory=threading.Event)
    """Set whenever every live fault of the run has been removed (ends ``hold_faults`` early)."""


class Runtime:
    """One background loop per process; see the module docstring."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="aftershock-ctk", daemon=True)
        self._thread.start()
        self.runs: dict[str, RunState] = {}
        self._stores: dict[str, StateStore] = {}
        self._lock = threading.RLock()
        self._own_run_id: str | None = None

    def run_id(self, given: str | None) -> str:
        """``given``, or (empty: the exported experiment's default ``aftershock_run_id``) this
        process's own run id, made on first use: one ``chaos run`` is one process and one run. (A
        dynamic-configuration probe would do it too, but chaoslib copies every loaded secret into
        such a probe's provider, and so into the journal.)"""
        if given:
            return given
        from chaos.compiling import naming

        with self._lock:
            if self._own_run_id is None:
                self._own_run_id = naming.new_run_id()
            return self._own_run_id

    # ------------------------------------------------------------------ plumbing

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the background loop and wait for it (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def store(self, state_dir: str | None) -> StateStore:
        key = str(Path(state_dir).resolve()) if state_dir else ""
        with self._lock:
            if key not in self._stores:
                self._stores[key] = StateStore(Path(state_dir) if state_dir else None)
            return self._stores[key]

    # ------------------------------------------------------------------ faults

    def _run(self, loaded: Loaded, run_id: str, state_dir: str | None) -> RunState:
        from chaos.compiling import naming

        if not naming.valid_run_id(run_id):
            raise InvalidInput(Problem(f"run id {run_id!r}: 4 to 12 lower-case letters or digits",
                                       hint="use the aftershock_run_id configuration of the exported experiment"))
        with self._lock:
            state = self.runs.get(run_id)
            if state is None:
                store = self.store(state_dir)
                row = store.run(run_id)
                if row is not None and row.id == run_id and row.pid != os.getpid():
                    raise InvalidInput(Problem(f"run id {run_id} belongs to another run (pid {row.pid})",
                                               hint="each chaos run needs a fresh run id"))
                lock = RunLock(run_id, store.dir)  # alive for every state dir's `recover` while we hold it
                try:
                    if row is None:
                        exp = loaded.experiment
                        store.start_run(run_id, exp.name, "chaostoolkit", exp.spec.target.type, time.time())
                except BaseException:
                    lock.release()
                    raise
                state = RunState(run_id=run_id, loaded=loaded, store=store, lock=lock)
                self.runs[run_id] = state
            elif state.loaded.experiment.name != loaded.experiment.name:
                raise InvalidInput(Problem(f"run id {run_id} is already used by experiment "
                                           f"{state.loaded.experiment.name}"))
            return state

    async def _target(self, state: RunState, settings: Mapping[str, Any]) -> RunTarget:
        """The run's target, pre-flighted once with every fault of the experiment (as the engine does)."""
        if state.target is not None:
            return state.target
        from chaos.engine.settings import EngineSettings
        from chaos.targets.base import TargetContext

        exp = state.loaded.experiment
        engine_settings = EngineSettings(state_dir=state.store.dir, kubeconfig=settings.get("kubeconfig") or None,
                                         context=settings.get("context") or None,
                                         namespace=settings.get("namespace") or None)
        ctx = TargetContext(run_id=state.run_id, loaded=state.loaded, store=state.store, settings=engine_settings,
                            environ=os.environ)
        target: RunTarget
        if exp.spec.target.type == "host":
            from chaos.targets.host import HostRunTarget

            target = HostRunTarget(ctx)
        else:
            from chaos.targets.kubernetes import KubernetesRunTarget

            target = KubernetesRunTarget(ctx)
        try:
            await target.preflight()
        except BaseException:
            await target.close()
            raise
        state.target = target
        return target

    async def inject(self, loaded: Loaded, fault_name: str, run_id: str, state_dir: str | None,
                     settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        from chaos.targets.lifecycle import inject_fault

        state = self._run(loaded, run_id, state_dir)
        exp = state.loaded.experiment
        fault = next((f for f in exp.spec.faults if f.name == fault_name), None)
        if fault is None:
            raise InvalidInput(Problem(f"experiment {exp.name} has no fault {fault_name!r}",
                                       hint=f"its faults: {', '.join(f.name for f in exp.spec.faults)}"))
        if any(r.fault == fault_name for r in state.store.faults(run_id, live_only=True)):
            raise InvalidInput(Problem(f"fault {fault_name} of run {run_id} is already live"))
        target = await self._target(state, settings or {})
        deadline = time.time() + fault.duration_s
        realisation = await inject_fault(state.store, target, run_id, fault_name, fault.type, deadline,
                                         before_inject=state.removed.clear)
        return {"run_id": run_id, "fault": fault_name, "type": fault.type,
                "description": str(realisation.get("description", "")), "deadline": deadline}

    async def _remove_record(self, state: RunState | None, store: StateStore, run_id: str, fault: str,
                             realisation: Mapping[str, Any]) -> str:
        """Remove one recorded fault through the lifecycle (the run's target, else the record alone)."""
        from chaos.targets.lifecycle import Removal, remove_fault, remove_recorded

        target = state.target if state is not None else None

        async def remove() -> Removal:
            if target is not None:
                return await target.remove(realisation)
            return await remove_recorded(realisation, store.dir)

        return str(await remove_fault(store, run_id, fault, remove))

    async def remove(self, run_id: str, state_dir: str | None, faults: list[str] | None = None) -> dict[str, Any]:
        """Remove the run's live faults (all, or those named); every one is tried. Idempotent."""
        state = self.runs.get(run_id)
        store = state.store if state is not None else self.store(state_dir)
        removed: list[str] = []
        failed: dict[str, str] = {}
        for row in store.faults(run_id, live_only=True):
            if faults is not None and row.fault not in faults:
                continue
            try:
                await self._remove_record(state, store, run_id, row.fault, row.realisation)
            except ChaosError as exc:
                failed[row.fault] = str(exc)
                continue
            removed.append(row.fault)
        live = store.faults(run_id, live_only=True)
        if state is not None and not live:
            state.removed.set()
            if state.target is not None:
                target, state.target = state.target, None
                await target.close()
        return {"run_id": run_id, "removed": removed, "failed": failed}

    async def recover_orphans(self, state_dir: str | None) -> dict[str, Any]:
        """Remove the live faults of runs that are no longer alive (what ``aftershock recover`` does by default)."""
        from chaos.targets.recovery import recover_faults

        store = self.store(state_dir)
        result = await recover_faults(store)
        return {"removed": [f"{row.run_id}/{row.fault}" for row, _ in result.removed],
                "failed": {f"{row.run_id}/{row.fault}": error for row, error in result.failed}
                | {f"{d.run_id}/{d.name}": d.problem for d in result.damaged}}

    def hold(self, run_id: str, seconds: float, state_dir: str | None, poll_s: float = 1.0) -> dict[str, Any]:
        """Wait while the run's faults are live: until ``seconds`` pass, or until they are removed
        (by the guard in this process — an event — or by ``aftershock recover`` elsewhere — the store)."""
        state = self.runs.get(run_id)
        store = state.store if state is not None else self.store(state_dir)
        started = time.monotonic()
        end = started + seconds
        ended_by = "duration"
        while True:
            if not [r for r in store.faults(run_id, live_only=True) if r.state == "injected"]:
                ended_by = "faults removed"  # (or none was injected: nothing to hold)
                break
            remaining = end - time.monotonic()
            if remaining <= 0:
                break
            event = state.removed if state is not None else threading.Event()
            if event.wait(min(remaining, poll_s)):
                ended_by = "faults removed"
                break
        return {"run_id": run_id, "held_s": round(time.monotonic() - started, 3), "ended_by": ended_by}

    async def await_steady(self, loaded: Loaded, prometheus: str | None, timeout_s: float,
                           secrets: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Wait (bounded) until the steady-state SLOs hold again, as the engine does after removing faults."""
        exp = loaded.experiment
        slos = [exp.spec.slo(n) for n in exp.spec.steady_state]
        if not slos:
            return {"holds": True, "seconds": 0.0}
        interval = max(exp.spec.monitor.interval_s, 0.25)
        started = time.monotonic()
        holds = False
        async with open_monitor(exp.spec.monitor.model_dump(), prometheus, secrets) as monitor:
            while True:
                tick = await monitor.evaluate_now(slos)
                holds = all(v.holds for v in tick.verdicts)
                if holds or time.monotonic() - started >= timeout_s:
                    break
                await asyncio.sleep(min(interval, max(0.0, timeout_s - (time.monotonic() - started))))
        return {"holds": holds, "seconds": round(time.monotonic() - started, 3)}

    # ------------------------------------------------------------------ exit

    def shutdown(self) -> None:
        """Remove every fault still live in runs of this process, close targets, stop the loop."""
        for run_id in list(self.runs):
            state = self.runs[run_id]
            try:
                if state.store.faults(run_id, live_only=True) or state.target is not None:
                    result = self.call(self.remove(run_id, None), timeout=60)
                    if result["failed"]:
                        log.error("run %s: faults left behind (run `aftershock recover`): %s", run_id,
                                  result["failed"])
            except (ChaosError, concurrent.futures.TimeoutError) as exc:
                log.error("run %s: cleanup failed (run `aftershock recover`): %s", run_id, exc)
            if state.lock is not None:
                state.lock.release()
        self.runs.clear()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        for store in self._stores.values():
            with contextlib.suppress(Exception):
                store.close()
        self._stores.clear()


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    """This process's runtime (created on first use; shut down at interpreter exit)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime()
            atexit.register(_shutdown)
        return _runtime


def _shutdown() -> None:
    global _runtime
    with _runtime_lock:
        current, _runtime = _runtime, None
    if current is not None:
        current.shutdown()


def to_activity_error(exc: BaseException) -> Exception:
    """A ChaosError as Chaos Toolkit's ``ActivityFailed`` (its message, never a traceback)."""
    from chaoslib.exceptions import ActivityFailed

    error: Exception = ActivityFailed(str(exc))
    return error


__all__ = ["REDACTED", "RunState", "Runtime", "header_env", "load_experiment", "monitor_environ", "monitor_spec",
           "open_monitor", "runtime", "to_activity_error"]
