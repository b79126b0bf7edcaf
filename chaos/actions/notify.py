"""``notify``: post the evidence to a webhook (Slack-compatible body). Touches nothing."""

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from chaos.model.kinds import ActionKind
from chaos.model.policies import NotifyWith, PolicyBase

if TYPE_CHECKING:  # the policy engine is imported when a policy is decided, not to validate a file
    from chaos.policy.actions import Notify


class NotifyPolicy(PolicyBase):
    action: Literal["notify"]
    with_: NotifyWith = Field(alias="with")


def _decide(policy: NotifyPolicy, config: Any) -> "Notify":
    from chaos.policy.actions import Notify

    n = policy.with_
    return Notify(url=n.url, headers=tuple(sorted(n.headers.items())), timeout=n.timeout,
                  experiment=config.experiment)


KIND = ActionKind(name="notify", model=NotifyPolicy, words="notify", decide=_decide)
