"""Chaos Toolkit probes of the Aftershock extension (``provider.module: chaos.interop.ctk_probes``).

* ``slo_holds`` / ``slo_value``: one PromQL objective evaluated now through the monitor the engine
  uses, with the same connection settings (bearer token from env/file, basic auth, headers, CA
  bundle / insecure) — ``monitor`` is an experiment's ``spec.monitor``; the credential values come
  as Chaos Toolkit ``secrets`` (scope ``aftershock-prometheus``, see ``chaos.interop.ctk``).
* ``probe_holds``: an SLO probe (``slos[].probe``: ``http``, ``kubernetes``) run once now, as the
  engine runs it (no Prometheus involved).
* ``slos_held_during_run``: whether the guard (``chaos.interop.ctk_guard``) saw the run's SLOs hold
  while its faults were live (no policy fired), from the state store — the probe that lets a
  Chaos Toolkit journal say ``deviated`` when Aftershock would.
* ``new_run_id``: a fresh run id (for a document that wants one per run from a dynamic
  configuration probe; exported experiments leave ``aftershock_run_id`` empty instead: see
  ``chaos.interop.ctk_runtime.Runtime.run_id``).

Chaos Toolkit finds these by module name; ``chaos discover aftershock`` lists them.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["new_run_id", "probe_holds", "slo_holds", "slo_value", "slos_held_during_run"]


def _evaluate(query: str, op: str, value: float, prometheus: str, monitor: dict[str, Any] | None,
              timeout: str | None, secrets: dict[str, str] | None) -> Any:
    from chaos.errors import ChaosError
    from chaos.interop.ctk_runtime import open_monitor, to_activity_error
    from chaos.model.slos import Objective, Slo

    settings = dict(monitor or {})
    if timeout:
        settings["timeout"] = timeout
    try:
        slo = Slo.model_validate({"name": "ctk-probe", "query": query,
                                  "objective": Objective.model_validate({"op": op, "value": value})})
        opened = open_monitor(settings, prometheus, secrets)
    except (ChaosError, ValueError) as exc:
        raise to_activity_error(exc) from exc

    async def _eval() -> Any:
        async with opened as mon:
            tick = await mon.evaluate_now([slo])
        return tick.get("ctk-probe")

    try:
        return asyncio.run(_eval())
    except ChaosError as exc:
        raise to_activity_error(exc) from exc


def slo_holds(query: str, op: str, value: float, prometheus: str = "http://127.0.0.1:9090",
              monitor: dict[str, Any] | None = None, timeout: str | None = None,
              secrets: dict[str, str] | None = None) -> bool:
    """True when ``query <op> value`` holds now in Prometheus (no data and errors are False)."""
    verdict = _evaluate(query, op, value, prometheus, monitor, timeout, secrets)
    return verdict is not None and bool(verdict.holds)


def probe_holds(probe: dict[str, Any], name: str = "ctk-probe") -> bool:
    """True when the SLO probe (an experiment's ``slos[].probe`` block) holds now."""
    from chaos.errors import ChaosError
    from chaos.interop.ctk_runtime import to_activity_error
    from chaos.model.kinds import ProbeContext
    from chaos.model.slos import Slo
    from chaos.slo.probing import judge_now

    try:
        slo = Slo.model_validate({"name": name, "probe": probe})
    except ValueError as exc:
        raise to_activity_error(exc) from exc
    import os

    ctx = ProbeContext(environ=dict(os.environ), timeout_s=10.0)
    try:
        verdict = asyncio.run(judge_now([slo], ctx, __import__("time").time()))[name]
    except ChaosError as exc:
        raise to_activity_error(exc) from exc
    return bool(verdict.holds)


def slo_value(query: str, prometheus: str = "http://127.0.0.1:9090", monitor: dict[str, Any] | None = None,
              timeout: str | None = None, secrets: dict[str, str] | None = None) -> float | None:
    """The query's worst value now (one series: its value), or None without data."""
    verdict = _evaluate(query, ">=", float("-inf"), prometheus, monitor, timeout, secrets)
    if verdict is None or verdict.value is None:
        return None
    return float(verdict.value)


def slos_held_during_run(run_id: str, state_dir: str = "") -> bool:
    """True unless the guard recorded a policy decision (an SLO breach) for this run."""
    from chaos.interop.ctk_runtime import runtime

    store = runtime().store(state_dir or None)
    return not store.actions(runtime().run_id(run_id))  # undo plans have their own table


def new_run_id() -> str:
    """A fresh Aftershock run id (8 hex characters)."""
    from chaos.compiling import naming

    return naming.new_run_id()
