"""``shrink``: reduce a live fault's blast radius (percent, latency, jitter, mode/value); undone by
removing the fault at the end of the run."""

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

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


KIND = ActionKind(name="shrink", model=ShrinkPolicy, words="shrink", decide=_decide,
                  fault_refs=lambda p: [("with.fault", p.with_.fault)])
