"""``abort``: stop the whole run now (every live fault removed; verdict ``aborted``)."""

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from chaos.model.kinds import ActionKind
from chaos.model.policies import EmptyWith, PolicyBase

if TYPE_CHECKING:  # the policy engine is imported when a policy is decided, not to validate a file
    from chaos.policy.actions import Abort


class AbortPolicy(PolicyBase):
    action: Literal["abort"]
    with_: EmptyWith = Field(default_factory=EmptyWith, alias="with")


def _decide(policy: AbortPolicy, config: Any) -> "Abort":
    from chaos.policy.actions import Abort

    return Abort(())


KIND = ActionKind(name="abort", model=AbortPolicy, words="abort", decide=_decide)
