"""``shrink``: reduce a live fault's blast radius (percent, latency, jitter, mode/value); undone by
removing the fault at the end of the run."""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from chaos.errors import Problem
from chaos.model.kinds import ActionKind
from chaos.model.policies import PolicyBase, ShrinkWith

if TYPE_CHECKING:  # the policy engine is imported when a policy is decided, not to validate a file
    from chaos.policy.actions import ShrinkFault


class ShrinkPolicy(PolicyBase):
    action: Literal["shrink"]
    with_: ShrinkWith = Field(alias="with")


def _decide(policy: ShrinkPolicy, config: Any) -> "ShrinkFault":
    from chaos.policy.actions import ShrinkFault

    s = policy.with_
    params: list[tuple[str, str | float]] = [
        (k, val) for k, val in (("percent", s.percent), ("latency", s.latency), ("jitter", s.jitter),
                                ("mode", s.mode), ("value", s.value)) if val is not None]
    return ShrinkFault(s.fault, tuple(params))


def _check(policy: ShrinkPolicy, path: str, faults: Mapping[str, Any]) -> list[Problem]:
    """Only what the fault's kind can change (its ``shrinkable``): a shrink that could not apply would
    fail only when the SLO breaches."""
    from chaos import registry

    fault = faults.get(policy.with_.fault)
    kind = registry.faults.get(fault.type) if fault is not None else None
    if kind is None:
        return []  # an unknown fault is reported by its reference
    asked = [k for k in _PARAMS if getattr(policy.with_, k) is not None]
    refused = [k for k in asked if k not in kind.shrinkable]
    if not refused:
        return []
    can = ", ".join(k for k in _PARAMS if k in kind.shrinkable) or "nothing"
    return [Problem(f"a {kind.name} fault cannot be shrunk by {', '.join(refused)}", path=f"{path}.with",
                    hint=f"{kind.name} can be shrunk by: {can}")]


_PARAMS = ("percent", "latency", "jitter", "mode", "value")

KIND = ActionKind(name="shrink", model=ShrinkPolicy, words="shrink", decide=_decide, check=_check,
                  fault_refs=lambda p: [("with.fault", p.with_.fault)])
