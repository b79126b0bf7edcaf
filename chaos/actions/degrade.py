"""``degrade``: switch to a fallback (an HTTP call, or a Kubernetes ConfigMap/Deployment patch) and
remember how to revert it at the end of the run."""

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from chaos.model.kinds import ActionKind
from chaos.model.policies import DegradeWith, PolicyBase

if TYPE_CHECKING:  # the policy engine is imported when a policy is decided, not to validate a file
    from chaos.policy.actions import Degrade


class DegradePolicy(PolicyBase):
    action: Literal["degrade"]
    with_: DegradeWith = Field(alias="with")


def _decide(policy: DegradePolicy, config: Any) -> "Degrade":
    from chaos.policy.actions import Degrade

    w = policy.with_
    return Degrade(http=w.http, kubernetes=w.kubernetes.patch if w.kubernetes else None, revert=w.revert)


KIND = ActionKind(name="degrade", model=DegradePolicy, words="degrade", decide=_decide)
