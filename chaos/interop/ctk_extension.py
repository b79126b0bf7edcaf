"""A Chaos Toolkit extension: lets ``chaos run`` (Chaos Toolkit's CLI) probe Aftershock SLOs.

``slo_holds`` is a CTK probe (``provider.type: python``) that evaluates one PromQL objective
now, through the same monitor code the Aftershock engine uses. Chaos Toolkit finds it by module
name (``provider.module: chaos.interop.ctk_extension``; installing Aftershock puts it on the
path). Fault actions stay with Aftershock's engine
(``aftershock run``): ``inject``/``remove`` refuse with a pointer to it, so a CTK run never
leaves a fault without Aftershock's guarantees.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["inject", "remove", "slo_holds"]


def slo_holds(prometheus: str, query: str, op: str, value: float, timeout: str = "5s") -> bool:
    """True when ``query <op> value`` holds now in Prometheus (no data is False)."""
    from chaos.model.slos import MonitorSpec, Objective, Slo
    from chaos.slo.monitoring import Monitor

    slo = Slo.model_validate({"name": "ctk-probe", "query": query,
                              "objective": Objective.model_validate({"op": op, "value": value})})

    async def _eval() -> bool:
        monitor = Monitor(MonitorSpec.model_validate({"prometheus": prometheus, "timeout": timeout}))
        try:
            tick = await monitor.evaluate_now([slo])
        finally:
            await monitor.aclose()
        verdict = tick.get("ctk-probe")
        return verdict is not None and verdict.holds

    return asyncio.run(_eval())


def inject(fault: dict[str, Any]) -> None:
    raise RuntimeError("Aftershock faults are injected by `aftershock run` (bounded, recorded, recoverable); "
                       "run the experiment with Aftershock, or use this extension's probes only")


def remove(fault: str) -> None:
    raise RuntimeError(f"use `aftershock recover` to remove fault {fault!r}")
