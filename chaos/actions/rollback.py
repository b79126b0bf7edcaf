"""``rollback``: remove faults of the run (every fault, or ``with.faults``); never re-injected.
Dominates every other decision of its tick (``chaos.policy.decisions``)."""

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from chaos.model.kinds import ActionKind
from chaos.model.policies import PolicyBase, RollbackWith

if TYPE_CHECKING:  # the policy engine is imported when a policy is decided, not to validate a file
    from chaos.policy.actions import RemoveFaults


class RollbackPolicy(PolicyBase):
    action: Literal["rollback"]
    with_: RollbackWith = Field(default_factory=RollbackWith, alias="with")


def _decide(policy: RollbackPolicy, config: Any) -> "RemoveFaults":
    from chaos.policy.actions import RemoveFaults

    return RemoveFaults(tuple(policy.with_.faults) if policy.with_.faults else config.faults)


KIND = ActionKind(
    name="rollback", model=RollbackPolicy, words="rollback", decide=_decide,
    fault_refs=lambda p: [(f"with.faults[{j}]", f) for j, f in enumerate(p.with_.faults or ())],
)
