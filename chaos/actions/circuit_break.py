"""``circuit-break``: take a backend out of traffic (weight), half-open it after ``openFor`` and close
it once its SLO holds; decided by its breaker (``chaos.policy.breaker``), not per tick."""

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from chaos.errors import Problem
from chaos.model.kinds import ActionKind
from chaos.model.policies import CircuitBreakWith, PolicyBase


class CircuitBreakPolicy(PolicyBase):
    action: Literal["circuit-break"]
    with_: CircuitBreakWith = Field(alias="with")


def _check(policy: CircuitBreakPolicy, path: str, faults: Mapping[str, Any]) -> list[Problem]:
    if policy.keep and policy.escalate:
        return [Problem("keep: true and escalate cannot be combined", path=path)]
    return []


def _acts_in(policy: CircuitBreakPolicy) -> tuple[str, str | None]:
    return "with.namespace", policy.with_.namespace


KIND = ActionKind(name="circuit-break", model=CircuitBreakPolicy, words="circuit break", check=_check,
                  acts_in=_acts_in)
