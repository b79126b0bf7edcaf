"""Builders for policy-engine tests: policies from dicts (the file format), verdicts and ticks."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from chaos.model.policies import Policy
from chaos.model.slos import Slo
from chaos.policy.decisions import Decider, DeciderConfig, OnError
from chaos.slo.verdicts import MONITOR, SeriesValue, Status, Tick, Verdict

_POLICY = TypeAdapter(Policy)

OBJECTIVE = "< 0.8"


def policy(doc: dict[str, Any]) -> Policy:
    return _POLICY.validate_python(doc)


def slo(name: str, consecutive: int = 1, for_: str = "0s") -> Slo:
    return Slo.model_validate({"name": name, "query": f"q_{name}", "objective": {"op": "<", "value": 0.8},
                               "consecutive": consecutive, "for": for_})


def config(*docs: dict[str, Any], slos: tuple[Slo, ...] = (), faults: tuple[str, ...] = ("f1", "f2"),
           on_error: OnError = "continue", experiment: str = "exp") -> DeciderConfig:
    names = {d["when"]["slo"] for d in docs} - {MONITOR}
    known = {s.name for s in slos}
    all_slos = (*slos, *(slo(n) for n in sorted(names - known)))
    return DeciderConfig.build([policy(d) for d in docs], slos=all_slos, faults=faults, on_error=on_error,
                               experiment=experiment)


def decider(*docs: dict[str, Any], **kwargs: Any) -> Decider:
    return Decider(config(*docs, **kwargs))


def verdict(name: str, status: Status, t: float, value: float | None = None) -> Verdict:
    if value is None:
        value = {"ok": 0.5, "pending": 0.9, "breached": 0.9}.get(status)
    holds = status == "ok"
    series = () if value is None else (SeriesValue({"service": "order"}, value, holds),)
    return Verdict(slo=name, status=status, value=value, objective=OBJECTIVE, query=f"q_{name}", eval_time=t,
                   series=series)


def tick(t: float, **statuses: Status) -> Tick:
    """``tick(3.0, p95="breached")``; ``monitor="unavailable"`` gives the monitor verdict."""
    verdicts = []
    for name, status in statuses.items():
        if name == MONITOR:
            verdicts.append(Verdict(slo=MONITOR, status=status, value=None, objective="", query="",
                                    eval_time=t, error="connection refused"))
        else:
            verdicts.append(verdict(name.replace("_", "-"), status, t))
    return Tick(eval_time=t, verdicts=tuple(verdicts))
